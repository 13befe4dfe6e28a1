//! `POST /api/generate-questions`: draft questions from a masterclass handout.
//!
//! Three steps, so no transaction stays open while a model thinks:
//! 1. as the caller: check the masterclass is theirs and has a handout, read the stems already
//!    in its bank, and return the saved answer if this `Idempotency-Key` already finished;
//! 2. without the database: read the PDF from the store, extract its text, generate and
//!    validate (under one deadline);
//! 3. as the caller again: store the questions as `draft`s with their source quote and
//!    provenance, and save the answer under the key.
//!
//! Every failure before step 3 stores nothing. Approved questions are never touched: a new
//! generation only adds drafts.
//!
//! Service functions share a shape across `services/`: look the record
//! up (a 404 when the caller may not see it), change it through `db`, log it, and `audit` it in
//! the same transaction, one statement a step so that the order reads as the rule. Request and
//! answer types are flat structs whose fields are the contract (an optional filter a field, a
//! timestamp with its `rfc3339` attribute), so two of them read alike. What differs (the record,
//! the rule, the audit action, the fields) is the content of each.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::questions::{self, QuestionView};
use crate::{
    AppState,
    ai::{GenerateError, Language, ProviderError, ProviderKind, Request, pdf::ExtractError},
    auth::StaffIdentity,
    db::{self, masterclasses},
    domain::{
        Fields,
        exam::{NewQuestion, QuestionStatus},
    },
    error::{Error, Result},
    idempotency::{self, MaybeIdempotencyKey},
};

const SCOPE: &str = "questions.generate";
/// The most questions one generation may ask for.
pub const MAX_COUNT: usize = 20;

/// The request body, as sent.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerationDraft {
    #[schema(required = true, nullable = false, format = Uuid)]
    pub masterclass_id: Option<String>,
    /// 1 to 20; 10 by default.
    #[schema(minimum = 1, maximum = 20, example = 10)]
    pub count: Option<i64>,
    /// `fr` (default) or `en`.
    #[schema(value_type = Option<crate::ai::Language>)]
    pub language: Option<String>,
    /// `openai` or `offline`; the server's default otherwise.
    #[schema(value_type = Option<crate::ai::ProviderKind>)]
    pub provider: Option<String>,
    /// Makes a generation reproducible (the offline generator is deterministic for a document
    /// and a seed); random by default and returned in the provenance.
    pub seed: Option<u64>,
}

/// A checked generation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationOrder {
    pub masterclass_id: Uuid,
    pub count: usize,
    pub language: Language,
    pub provider: ProviderKind,
    pub seed: u64,
}

impl GenerationOrder {
    pub fn parse(draft: &GenerationDraft, default_provider: ProviderKind) -> Result<Self> {
        let mut fields = Fields::default();
        let masterclass_id = fields.required(
            "masterclass_id",
            draft.masterclass_id.as_deref(),
            crate::domain::uuid,
        );
        let count = fields
            .optional("count", draft.count.as_ref(), |&n| {
                usize::try_from(n)
                    .ok()
                    .filter(|n| (1..=MAX_COUNT).contains(n))
                    .ok_or_else(|| format!("must be 1 to {MAX_COUNT}"))
            })
            .unwrap_or(10);
        let language = fields
            .optional("language", draft.language.as_deref(), |raw| {
                Language::parse(raw).ok_or_else(|| "must be fr or en".to_owned())
            })
            .unwrap_or(Language::French);
        let provider = fields
            .optional("provider", draft.provider.as_deref(), |raw| {
                ProviderKind::parse(raw).ok_or_else(|| "must be openai or offline".to_owned())
            })
            .unwrap_or(default_provider);
        fields.finish(|| {
            Some(Self {
                masterclass_id: masterclass_id?,
                count,
                language,
                provider,
                seed: draft.seed.unwrap_or_else(rand::random),
            })
        })
    }
}

/// The answer: the new drafts and where they came from.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GenerationView {
    pub generation_id: Uuid,
    pub masterclass_id: Uuid,
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
    pub language: Language,
    pub seed: u64,
    pub pages: usize,
    pub usage: crate::ai::Usage,
    pub questions: Vec<QuestionView>,
}

/// Runs a whole generation for `staff`.
#[tracing::instrument(skip_all, fields(masterclass_id = %order.masterclass_id, provider = ?order.provider, generation_id))]
pub async fn generate(
    state: &AppState,
    staff: &StaffIdentity,
    key: &MaybeIdempotencyKey,
    draft: &GenerationDraft,
    order: &GenerationOrder,
) -> Result<Response> {
    let caller = crate::auth::Caller::Staff(staff.clone());
    // 1. Whose, which handout, what is already there.
    let prepared = db::transact(&state.db, &caller, async |tx| {
        if let Some(saved) = idempotency::saved(tx, key, SCOPE, draft).await? {
            return Ok(Err(saved));
        }
        questions::visible_masterclass(tx, order.masterclass_id).await?;
        let masterclass = masterclasses::find(tx, order.masterclass_id, false)
            .await?
            .ok_or(Error::NotFound("masterclass"))?;
        let pdf = masterclass.pdf.ok_or_else(no_handout)?;
        let existing = db::questions::texts(tx, order.masterclass_id).await?;
        Ok(Ok((pdf, existing)))
    })
    .await?;
    let (pdf, existing) = match prepared {
        Ok(prepared) => prepared,
        Err(saved) => return Ok(saved.into_response()),
    };

    // 2. Read and generate, under one deadline.
    let generator = &state.generator;
    if pdf.size as u64 > generator.limits.max_bytes {
        return Err(extract_error(ExtractError::TooLarge {
            size: pdf.size as u64,
            max: generator.limits.max_bytes,
        }));
    }
    let bytes = match state.storage.get(&pdf.key).await {
        Ok(bytes) => bytes,
        Err(e) if state.storage.size(&pdf.key).await.ok() == Some(None) => {
            tracing::warn!(error = %format!("{e:#}"), "the handout is recorded but missing from the store");
            return Err(no_handout());
        }
        Err(e) => return Err(e.context(format!("reading handout {}", pdf.key)).into()),
    };
    let extracted = crate::ai::pdf::extract(bytes, generator.limits)
        .await
        .map_err(extract_error)?;
    let request = Request {
        count: order.count,
        language: order.language,
        seed: order.seed,
        existing: &existing,
    };
    let generation = tokio::time::timeout(
        generator.deadline,
        generator.generate(order.provider, &extracted.text, &request),
    )
    .await
    .map_err(|_| Error::BadGateway {
        code: "provider_timeout",
        detail: format!(
            "the question provider did not finish within {} s; try again, or use the offline provider",
            generator.deadline.as_secs()
        ),
        retry_after: Some(30),
    })?
    .map_err(generate_error)?;
    let generation_id = Uuid::new_v4();
    tracing::Span::current().record("generation_id", tracing::field::display(generation_id));
    tracing::info!(
        model = %generation.model,
        pages = extracted.pages,
        fallback_pages = extracted.fallback_pages,
        rounds = generation.rounds,
        rejected = generation.rejected.len(),
        prompt_tokens = generation.usage.prompt_tokens,
        completion_tokens = generation.usage.completion_tokens,
        total_tokens = generation.usage.total_tokens,
        "questions generated"
    );

    // 3. Store the drafts and the answer together.
    let provenance = serde_json::json!({
        "source": "generated",
        "provider": generation.provider,
        "model": generation.model,
        "prompt_version": generation.prompt_version,
        "generation_id": generation_id,
        "seed": order.seed.to_string(),
        "language": order.language,
        "response_ids": generation.response_ids,
    });
    db::transact(&state.db, &caller, async |tx| {
        let response = idempotency::once(tx, key, SCOPE, draft, StatusCode::CREATED, async || {
            let mut stored = Vec::with_capacity(generation.questions.len());
            for question in &generation.questions {
                let new = NewQuestion {
                    masterclass_id: order.masterclass_id,
                    text: question.text.clone(),
                    choices: question.choices.clone(),
                    correct: question.correct,
                    status: QuestionStatus::Draft,
                    source_excerpt: Some(question.source_quote.clone()),
                };
                stored.push(questions::create(tx, staff.id, &new, provenance.clone()).await?);
            }
            db::audit::record(
                tx,
                "questions.generated",
                "masterclass",
                &order.masterclass_id.to_string(),
                &serde_json::json!({
                    "generation_id": generation_id,
                    "provider": generation.provider,
                    "model": generation.model,
                    "count": stored.len(),
                    "usage": generation.usage,
                }),
            )
            .await?;
            Ok(GenerationView {
                generation_id,
                masterclass_id: order.masterclass_id,
                provider: generation.provider.into(),
                model: generation.model.clone(),
                prompt_version: generation.prompt_version.into(),
                language: order.language,
                seed: order.seed,
                pages: extracted.pages,
                usage: generation.usage,
                questions: stored,
            })
        })
        .await?;
        Ok(response)
    })
    .await
}

fn no_handout() -> Error {
    Error::Conflict {
        code: "pdf_missing",
        detail: "this masterclass has no confirmed PDF handout yet; upload one first".into(),
    }
}

fn extract_error(error: ExtractError) -> Error {
    let detail = error.to_string();
    match error {
        ExtractError::TooLarge { .. } => Error::PayloadTooLarge(detail),
        ExtractError::TooManyPages { .. } => Error::Unprocessable {
            code: "pdf_too_long",
            detail,
        },
        ExtractError::Unreadable(_) => Error::Unprocessable {
            code: "pdf_unreadable",
            detail,
        },
        ExtractError::Encrypted => Error::Unprocessable {
            code: "pdf_encrypted",
            detail,
        },
        ExtractError::TimedOut(_) => Error::Unprocessable {
            code: "pdf_too_complex",
            detail,
        },
        ExtractError::NoText(_) => Error::Unprocessable {
            code: "pdf_has_no_text",
            detail,
        },
    }
}

fn generate_error(error: GenerateError) -> Error {
    let detail = error.to_string();
    match error {
        GenerateError::Provider(ProviderError::Refused(_)) => Error::Unprocessable {
            code: "provider_refused",
            detail,
        },
        GenerateError::Provider(ProviderError::Unavailable(_)) => Error::BadGateway {
            code: "provider_unavailable",
            detail: format!("{detail}; try again in a minute, or use the offline provider"),
            retry_after: Some(60),
        },
        GenerateError::Provider(ProviderError::Rejected(_)) => Error::BadGateway {
            code: "provider_rejected",
            detail: format!("{detail}; an administrator must fix the provider settings"),
            retry_after: None,
        },
        GenerateError::TooFew { offline: true, .. } => Error::Unprocessable {
            code: "not_enough_material",
            detail: format!(
                "{detail}: the handout has too few suitable sentences; ask for fewer questions"
            ),
        },
        GenerateError::TooFew { offline: false, .. } => Error::BadGateway {
            code: "provider_invalid_output",
            detail: format!("{detail}; try again"),
            retry_after: Some(5),
        },
        GenerateError::NotConfigured => Error::field("provider", detail),
    }
}
