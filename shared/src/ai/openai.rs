//! The OpenAI provider: chat completions through `async-openai`, answers constrained by a JSON
//! schema in strict mode.
//!
//! Any OpenAI-compatible server works through `OPENAI_BASE_URL` (Azure OpenAI's v1 endpoint,
//! a local vLLM or Ollama, the tests' fake server). The client retries 429 and 5xx answers
//! with exponential backoff, honouring `Retry-After`, and never retries `insufficient_quota`
//! (async-openai's retry layer, three retries); each attempt has its own timeout so a slow
//! model cannot outlive the Lambda.
//!
//! Long handouts are cut into overlapping chunks; the questions asked for are spread over at
//! most [`MAX_REQUESTS`] chunks evenly placed in the document, asked concurrently.

use std::time::Duration;

use async_openai::{
    Client,
    config::OpenAIConfig,
    error::OpenAIError,
    types::chat::{
        ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
        CreateChatCompletionRequestArgs, CreateChatCompletionResponse, FinishReason,
        ResponseFormat, ResponseFormatJsonSchema,
    },
};
use futures::future::{BoxFuture, join_all};
use serde::Deserialize;
use serde_json::json;

use super::AiConfig;
use super::{
    Ask, Language, Proposal, ProviderError, QuestionProvider, Usage, text::chunks,
    validate::Candidate,
};

/// Bumped whenever the prompt or the schema changes; stored in each question's provenance.
pub const PROMPT_VERSION: &str = "mcq-2026-11-21";

/// Characters per chunk (about 3,000 tokens) and the overlap between neighbours.
const CHUNK: usize = 12_000;
const OVERLAP: usize = 800;
/// Requests per round; each asks for a share of the questions from one chunk.
const MAX_REQUESTS: usize = 5;
/// Completion tokens allowed per question asked (a question with its quote is ~200).
const TOKENS_PER_QUESTION: u32 = 400;

pub struct OpenAi {
    client: Client<OpenAIConfig>,
    model: String,
}

impl OpenAi {
    /// The provider, when an API key is configured.
    pub fn from_config(config: &AiConfig) -> Option<Self> {
        let key = config.openai_api_key.as_ref()?;
        let http = reqwest::Client::builder()
            .timeout(config.openai_timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client");
        let openai = OpenAIConfig::new()
            .with_api_key(key.expose())
            .with_api_base(config.openai_base_url.trim_end_matches('/'));
        Some(Self {
            client: Client::build(http, openai),
            model: config.openai_model.clone(),
        })
    }

    async fn ask_chunk(
        &self,
        chunk: &str,
        part: (usize, usize),
        count: usize,
        ask: &Ask<'_>,
    ) -> Result<CreateChatCompletionResponse, OpenAIError> {
        let request = CreateChatCompletionRequestArgs::default()
            .model(&self.model)
            .messages([
                ChatCompletionRequestSystemMessage::from(system_prompt(ask.language)).into(),
                ChatCompletionRequestUserMessage::from(user_prompt(chunk, part, count, ask)).into(),
            ])
            .response_format(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    name: "questions".into(),
                    description: Some(
                        "Multiple-choice questions drawn from a course handout".into(),
                    ),
                    schema: schema(),
                    strict: Some(true),
                },
            })
            .max_completion_tokens(TOKENS_PER_QUESTION * count as u32 + 200)
            .seed(ask.seed as i64)
            .build()?;
        self.client.chat().create(request).await
    }
}

impl QuestionProvider for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn prompt_version(&self) -> &'static str {
        PROMPT_VERSION
    }

    fn propose<'a>(&'a self, ask: &'a Ask<'a>) -> BoxFuture<'a, Result<Proposal, ProviderError>> {
        Box::pin(async move {
            let pieces = chunks(ask.document, CHUNK, OVERLAP);
            let plan = plan(pieces.len(), ask.count, ask.round);
            // At most MAX_REQUESTS parts, so all of them at once.
            let requests = plan.iter().map(|&(index, count)| {
                self.ask_chunk(pieces[index], (index + 1, pieces.len()), count, ask)
            });
            let answers = join_all(requests).await;
            let mut proposal = Proposal::default();
            for answer in answers {
                let response = answer.map_err(classify)?;
                read_answer(response, &mut proposal)?;
            }
            Ok(proposal)
        })
    }
}

/// Which chunks to ask and how many questions from each: evenly placed over the document,
/// shifted by the round so a refill reads other parts.
fn plan(chunks: usize, count: usize, round: u32) -> Vec<(usize, usize)> {
    if chunks == 0 || count == 0 {
        return Vec::new();
    }
    let parts = chunks.min(count).min(MAX_REQUESTS);
    (0..parts)
        .map(|k| {
            let index = ((2 * k + 1) * chunks / (2 * parts) + round as usize) % chunks;
            let share = count / parts + usize::from(k < count % parts);
            (index, share)
        })
        .collect()
}

#[derive(Deserialize)]
struct Answer {
    questions: Vec<Candidate>,
}

/// Adds one response's questions to `proposal`; a refusal ends the generation.
fn read_answer(
    response: CreateChatCompletionResponse,
    proposal: &mut Proposal,
) -> Result<(), ProviderError> {
    if let Some(usage) = &response.usage {
        proposal.usage.add(Usage {
            prompt_tokens: usage.prompt_tokens.into(),
            completion_tokens: usage.completion_tokens.into(),
            total_tokens: usage.total_tokens.into(),
        });
    }
    proposal.response_ids.push(response.id.clone());
    let Some(choice) = response.choices.into_iter().next() else {
        proposal.problems.push("the answer had no choices".into());
        return Ok(());
    };
    if let Some(refusal) = choice.message.refusal.filter(|r| !r.trim().is_empty()) {
        return Err(ProviderError::Refused(refusal));
    }
    match choice.finish_reason {
        Some(FinishReason::Length) => {
            proposal
                .problems
                .push("the answer was cut off (finish_reason = length)".into());
            return Ok(());
        }
        Some(FinishReason::ContentFilter) => {
            return Err(ProviderError::Refused(
                "the provider's content filter stopped the answer".into(),
            ));
        }
        _ => {}
    }
    let content = choice.message.content.unwrap_or_default();
    match serde_json::from_str::<Answer>(&content) {
        Ok(answer) => proposal.candidates.extend(answer.questions),
        Err(e) => proposal
            .problems
            .push(format!("the answer was not the expected JSON ({e})")),
    }
    Ok(())
}

/// What a client error means for the caller.
fn classify(error: OpenAIError) -> ProviderError {
    match error {
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            let kind = api
                .api_error
                .r#type
                .as_deref()
                .or(api.api_error.code.as_deref())
                .unwrap_or("");
            if kind == "insufficient_quota"
                || api.api_error.code.as_deref() == Some("insufficient_quota")
            {
                ProviderError::Rejected("the AI provider account has no quota left".into())
            } else if status == 429 || status >= 500 {
                ProviderError::Unavailable(format!(
                    "the AI provider answered {status} after retries"
                ))
            } else if status == 401 || status == 403 {
                ProviderError::Rejected("the AI provider refused the platform's credentials".into())
            } else {
                ProviderError::Rejected(format!(
                    "the AI provider rejected the request ({status}): {}",
                    api.api_error.message
                ))
            }
        }
        OpenAIError::Reqwest(e) if e.is_timeout() => {
            ProviderError::Unavailable("the AI provider did not answer in time".into())
        }
        OpenAIError::Reqwest(_) => {
            ProviderError::Unavailable("the AI provider could not be reached".into())
        }
        OpenAIError::JSONDeserialize(..) => {
            ProviderError::Unavailable("the AI provider's response could not be read".into())
        }
        other => ProviderError::Unavailable(format!("the AI provider call failed: {other}")),
    }
}

fn system_prompt(language: Language) -> String {
    match language {
        Language::French => {
            "Tu rédiges des questions à choix multiples pour évaluer des étudiants \
            avant et après une masterclass, à partir d'un extrait de son support de cours. \
            Règles : chaque question porte sur une idée importante de l'extrait ; exactement \
            quatre propositions, une seule correcte, les trois autres plausibles mais fausses \
            d'après l'extrait ; jamais « toutes les réponses » ni « aucune des réponses » ; \
            source_quote est un passage copié mot pour mot de l'extrait qui justifie la bonne \
            réponse ; deux questions ne portent jamais sur la même idée ; tout est rédigé en \
            français clair."
                .into()
        }
        Language::English => "You write multiple-choice questions that test students before \
            and after a masterclass, from an excerpt of its handout. Rules: each question is \
            about an important idea of the excerpt; exactly four choices, exactly one correct, \
            the other three plausible but wrong according to the excerpt; never \"all of the \
            above\" or \"none of the above\"; source_quote is a passage copied word for word \
            from the excerpt that supports the correct answer; no two questions about the same \
            idea; everything in plain English."
            .into(),
    }
}

fn user_prompt(chunk: &str, (part, parts): (usize, usize), count: usize, ask: &Ask<'_>) -> String {
    let avoid = if ask.avoid.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = ask
            .avoid
            .iter()
            .take(40)
            .map(|s| format!("- {s}"))
            .collect();
        match ask.language {
            Language::French => format!(
                "\nCes questions existent déjà, n'y revient pas :\n{}\n",
                list.join("\n")
            ),
            Language::English => format!(
                "\nThese questions already exist; do not repeat them:\n{}\n",
                list.join("\n")
            ),
        }
    };
    match ask.language {
        Language::French => format!(
            "Rédige {count} question(s) à partir de cet extrait (partie {part} sur {parts} du support).\n{avoid}\n<extrait>\n{chunk}\n</extrait>"
        ),
        Language::English => format!(
            "Write {count} question(s) from this excerpt (part {part} of {parts} of the handout).\n{avoid}\n<excerpt>\n{chunk}\n</excerpt>"
        ),
    }
}

/// The answer's JSON schema: strict mode wants every object closed and every field required.
pub fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["questions"],
        "properties": {
            "questions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["question", "choices", "source_quote"],
                    "properties": {
                        "question": { "type": "string" },
                        "choices": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["text", "correct"],
                                "properties": {
                                    "text": { "type": "string" },
                                    "correct": { "type": "boolean" }
                                }
                            }
                        },
                        "source_quote": { "type": "string" }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_document_is_asked_in_one_request() {
        assert_eq!(plan(1, 10, 0), [(0, 10)]);
        assert_eq!(plan(1, 3, 2), [(0, 3)]);
    }

    #[test]
    fn a_long_document_is_asked_evenly_and_a_refill_reads_elsewhere() {
        let first = plan(20, 10, 0);
        assert_eq!(first.iter().map(|p| p.1).sum::<usize>(), 10);
        assert_eq!(
            first.iter().map(|p| p.0).collect::<Vec<_>>(),
            [2, 6, 10, 14, 18]
        );
        let refill = plan(20, 3, 1);
        assert_eq!(refill, [(4, 1), (11, 1), (17, 1)]);
    }

    #[test]
    fn every_object_of_the_schema_is_closed_and_requires_all_its_fields() {
        fn check(value: &serde_json::Value) {
            if value["type"] == "object" {
                assert_eq!(value["additionalProperties"], false, "{value}");
                let properties: Vec<&String> =
                    value["properties"].as_object().unwrap().keys().collect();
                let required: Vec<&str> = value["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(properties.len(), required.len(), "{value}");
                for (name, property) in value["properties"].as_object().unwrap() {
                    assert!(required.contains(&name.as_str()));
                    check(property);
                }
            }
            if let Some(items) = value.get("items") {
                check(items);
            }
        }
        check(&schema());
    }
}
