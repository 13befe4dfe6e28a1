//! Question generation: from a handout's text to validated draft questions.
//!
//! - [`pdf`]: text out of the PDF, panic-proof and time-limited.
//! - [`QuestionProvider`]: the small trait behind which a provider proposes candidates —
//!   [`openai::OpenAi`] (any OpenAI-compatible API) or [`offline::Offline`] (cloze questions
//!   from the text itself, no network).
//! - [`validate`]: the rules every candidate must pass, whoever proposed it.
//! - [`Generator::generate`]: asks, validates, asks again for what is missing (at most
//!   [`MAX_ROUNDS`] rounds), and balances the correct letters.

pub mod offline;
pub mod openai;
pub mod pdf;
pub mod text;
pub mod validate;

use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use validate::{Accepted, Candidate, Rejection, Validator};

/// Question generation: the OpenAI-compatible provider and the limits of a generation.
#[derive(Debug, Clone)]
pub struct AiConfig {
    /// `OPENAI_API_KEY`; without it only the offline generator exists.
    pub openai_api_key: Option<Secret>,
    /// `OPENAI_BASE_URL` (any OpenAI-compatible API, Azure's `/openai/v1` included).
    pub openai_base_url: String,
    /// `OPENAI_MODEL` (an Azure deployment name there).
    pub openai_model: String,
    /// `OPENAI_TIMEOUT_SECS`: one HTTP attempt.
    pub openai_timeout: Duration,
    /// `QUESTIONS_PROVIDER`: `openai` or `offline`; by default openai when a key is set.
    pub default_provider: Option<ProviderKind>,
    /// `GENERATION_MAX_PDF_BYTES`, `GENERATION_MAX_PAGES`, `GENERATION_EXTRACT_SECS`.
    pub limits: pdf::Limits,
    /// `GENERATION_DEADLINE_SECS`: a whole generation, provider retries included.
    pub deadline: Duration,
}

/// Rounds of asking (the first, then refills for questions that failed validation).
pub const MAX_ROUNDS: u32 = 3;

/// The language questions are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Language {
    #[serde(rename = "fr")]
    French,
    #[serde(rename = "en")]
    English,
}

impl Language {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_lowercase().as_str() {
            "fr" | "fr-fr" | "fr-ga" | "french" | "français" | "francais" => Some(Self::French),
            "en" | "en-gb" | "en-us" | "english" | "anglais" => Some(Self::English),
            _ => None,
        }
    }
}

/// Which provider writes the questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    Offline,
}

impl ProviderKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_lowercase().as_str() {
            "openai" => Some(Self::OpenAi),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

/// One request to a provider.
#[derive(Debug)]
pub struct Ask<'a> {
    /// The whole extracted text.
    pub document: &'a str,
    pub count: usize,
    pub language: Language,
    /// Stems the provider should not repeat (accepted so far, or already in the bank).
    pub avoid: &'a [String],
    pub seed: u64,
    /// 0 for the first request, then 1, 2 for refills.
    pub round: u32,
}

/// Tokens spent, summed over a generation's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
    }
}

/// What a provider proposed in one round.
#[derive(Debug, Default)]
pub struct Proposal {
    pub candidates: Vec<Candidate>,
    pub usage: Usage,
    /// The provider's ids of its responses (for support requests).
    pub response_ids: Vec<String>,
    /// Answers that held no usable questions, and why (cut off, not JSON, ...).
    pub problems: Vec<String>,
}

/// Why a provider gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The model declined the request (a `refusal`, a content filter).
    #[error("the AI provider refused: {0}")]
    Refused(String),
    /// Down, overloaded or slow, after retries: worth trying again later.
    #[error("{0}")]
    Unavailable(String),
    /// Retrying will not help (quota, credentials, a request it rejects).
    #[error("{0}")]
    Rejected(String),
}

/// A source of candidate questions.
pub trait QuestionProvider: Send + Sync {
    /// `openai` or `offline`, as stored in provenance.
    fn name(&self) -> &'static str;
    fn model(&self) -> &str;
    /// Changes whenever the prompt or the method changes; stored in provenance.
    fn prompt_version(&self) -> &'static str;
    fn propose<'a>(&'a self, ask: &'a Ask<'a>) -> BoxFuture<'a, Result<Proposal, ProviderError>>;
}

/// What a generation asks for.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub count: usize,
    pub language: Language,
    pub seed: u64,
    /// Stems already in the bank, not to be repeated.
    pub existing: &'a [String],
}

/// The outcome of a successful generation.
#[derive(Debug)]
pub struct Generation {
    pub provider: &'static str,
    pub model: String,
    pub prompt_version: &'static str,
    pub questions: Vec<Accepted>,
    pub usage: Usage,
    pub rounds: u32,
    pub rejected: Vec<Rejection>,
    pub response_ids: Vec<String>,
}

/// Why a generation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// After every round, fewer valid questions than asked.
    #[error("only {found} of {wanted} questions passed validation{why}")]
    TooFew {
        found: usize,
        wanted: usize,
        /// The provider's problems, if any, as a sentence tail.
        why: String,
        offline: bool,
    },
    #[error("the OpenAI provider is not configured (set OPENAI_API_KEY)")]
    NotConfigured,
}

/// The providers this process has, and which one serves by default.
pub struct Generator {
    openai: Option<openai::OpenAi>,
    offline: offline::Offline,
    default: ProviderKind,
    pub limits: pdf::Limits,
    /// The most a whole generation may take (the API Gateway answers at 30 s).
    pub deadline: Duration,
}

impl Generator {
    pub fn from_config(config: &AiConfig) -> Self {
        let openai = openai::OpenAi::from_config(config);
        let default = config.default_provider.unwrap_or(if openai.is_some() {
            ProviderKind::OpenAi
        } else {
            ProviderKind::Offline
        });
        Self {
            openai,
            offline: offline::Offline,
            default,
            limits: config.limits,
            deadline: config.deadline,
        }
    }

    pub fn default_provider(&self) -> ProviderKind {
        self.default
    }

    fn provider(&self, kind: ProviderKind) -> Result<&dyn QuestionProvider, GenerateError> {
        match kind {
            ProviderKind::Offline => Ok(&self.offline),
            ProviderKind::OpenAi => self
                .openai
                .as_ref()
                .map(|p| p as &dyn QuestionProvider)
                .ok_or(GenerateError::NotConfigured),
        }
    }

    /// Asks `kind` for `request.count` questions on `document` and validates them.
    pub async fn generate(
        &self,
        kind: ProviderKind,
        document: &str,
        request: &Request<'_>,
    ) -> Result<Generation, GenerateError> {
        let provider = self.provider(kind)?;
        let mut validator = Validator::new(document, request.count, request.seed, request.existing);
        let mut usage = Usage::default();
        let mut problems = Vec::new();
        let mut response_ids = Vec::new();
        let mut rounds = 0;
        while validator.missing() > 0 && rounds < MAX_ROUNDS {
            let mut avoid = request.existing.to_vec();
            avoid.extend(validator.accepted_texts());
            let ask = Ask {
                document,
                count: validator.missing(),
                language: request.language,
                avoid: &avoid,
                seed: request.seed,
                round: rounds,
            };
            rounds += 1;
            let proposal = provider.propose(&ask).await?;
            usage.add(proposal.usage);
            response_ids.extend(proposal.response_ids);
            problems.extend(proposal.problems);
            for candidate in proposal.candidates {
                let _ = validator.offer(candidate);
            }
        }
        if validator.missing() > 0 {
            let mut reasons: std::collections::BTreeMap<Rejection, usize> = Default::default();
            for rejection in &validator.rejected {
                *reasons.entry(*rejection).or_default() += 1;
            }
            let mut why: String = reasons
                .iter()
                .map(|(reason, n)| format!("; {n} rejected: {}", reason.as_str()))
                .collect();
            if let Some(problem) = problems.last() {
                why.push_str(&format!("; {problem}"));
            }
            return Err(GenerateError::TooFew {
                found: request.count - validator.missing(),
                wanted: request.count,
                why,
                offline: kind == ProviderKind::Offline,
            });
        }
        let rejected = validator.rejected.clone();
        Ok(Generation {
            provider: provider.name(),
            model: provider.model().to_owned(),
            prompt_version: provider.prompt_version(),
            questions: validator.finish(),
            usage,
            rounds,
            rejected,
            response_ids,
        })
    }
}
