//! Masterclasses and their PDF handout.
//!
//! The handout upload is two steps so the PDF never passes through a function (Lambda payloads
//! are small): [`start_pdf_upload`] hands out a presigned PUT for a fresh key under the
//! masterclass, the client uploads straight to the store, and [`confirm_pdf`] checks what
//! arrived (present, not too large, starts with `%PDF-`) before recording it and deleting the
//! handout it replaces. A download starts at this API and the bytes come from the store: a
//! masterclass shows its handout as `GET /api/masterclasses/{id}/pdf` on the host the client
//! called ([`view`]), which [`handout_link`] answers with a redirect to a short-lived signed link.
//!
//! Service functions share a shape across `services/`: look the record
//! up (a 404 when the caller may not see it), change it through `db`, log it, and `audit` it in
//! the same transaction, one statement a step so that the order reads as the rule. Request and
//! answer types are flat structs whose fields are the contract (an optional filter a field, a
//! timestamp with its `rfc3339` attribute), so two of them read alike. What differs (the record,
//! the rule, the audit action, the fields) is the content of each.

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::{
    AppState,
    db::{self, Transaction},
    domain::{
        Paging, Schedule,
        masterclass::{Masterclass, MasterclassPatch, NewMasterclass},
        origin::Origin,
    },
    error::{Error, FieldError, Result},
};

/// The masterclass as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct MasterclassView {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    #[serde(with = "crate::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub published: bool,
    pub pdf: Option<PdfView>,
    #[serde(with = "crate::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The handout: its size, and where to download it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PdfView {
    pub size: i64,
    #[serde(with = "crate::rfc3339")]
    pub uploaded_at: OffsetDateTime,
    /// `GET /api/masterclasses/{id}/pdf` on this API, which redirects to a short-lived signed
    /// link to the file: the URL itself never expires, so a page kept offline keeps working
    /// links.
    #[schema(
        example = "https://api.example.ga/api/masterclasses/0b9f3c9e-4a52-4d8a-9a59-3f1c2e1d7b10/pdf"
    )]
    pub download_url: String,
}

/// A page of masterclasses.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MasterclassPage {
    pub items: Vec<MasterclassView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// What a client needs to upload a file (a handout, a photo) straight to the store.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadTicket {
    /// The object key to send back to the confirm route.
    pub key: String,
    pub method: String,
    pub url: String,
    /// Headers to send with the upload, as they are.
    pub headers: std::collections::BTreeMap<String, String>,
    pub max_bytes: u64,
    #[serde(with = "crate::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Body of the upload request: the size, when the client knows it, is signed into the URL.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PdfUploadRequest {
    /// The file's size in bytes (an int64, as the document says).
    #[schema(minimum = 1, example = 39932)]
    pub size: Option<i64>,
}

/// Body of the confirm request.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PdfConfirmRequest {
    #[schema(min_length = 1, max_length = 1024)]
    pub key: String,
}

/// Every PDF file starts with these bytes.
pub const PDF_MAGIC: &[u8] = b"%PDF-";

/// `m` as answered to a client that reached this API at `origin`. The handout is linked through
/// this API's own route ([`handout_link`] answers it), not by a signed link: a page costs no
/// signing and carries no signatures, and its links never expire, so a catalogue kept offline
/// (or saved as a page) still downloads the handout hours later.
pub fn view(origin: &Origin, m: Masterclass) -> MasterclassView {
    let pdf = m.pdf.map(|pdf| PdfView {
        size: pdf.size,
        uploaded_at: pdf.uploaded_at,
        download_url: origin.url(&format!("/api/masterclasses/{}/pdf", m.id)),
    });
    MasterclassView {
        id: m.id,
        title: m.title,
        description: m.description,
        starts_at: m.starts_at,
        ends_at: m.ends_at,
        published: m.published,
        pdf,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

pub async fn create(
    origin: &Origin,
    tx: &Transaction<'_>,
    new: &NewMasterclass,
) -> Result<MasterclassView> {
    let created = db::masterclasses::insert(tx, new).await?;
    tracing::info!(masterclass_id = %created.id, "masterclass created");
    super::audit(
        tx,
        "masterclass.created",
        "masterclass",
        created.id,
        serde_json::json!({ "title": created.title }),
    )
    .await?;
    Ok(view(origin, created))
}

/// One masterclass; `published_only` hides drafts (anonymous callers and students). Row-level
/// security hides what the caller may not see either way.
pub async fn get(
    origin: &Origin,
    tx: &Transaction<'_>,
    id: Uuid,
    published_only: bool,
) -> Result<MasterclassView> {
    let found = db::masterclasses::find(tx, id, published_only)
        .await?
        .ok_or(Error::NotFound("masterclass"))?;
    Ok(view(origin, found))
}

/// `GET /api/masterclasses/{id}/pdf` as `caller`: a signed link to the handout of masterclass
/// `id`, valid for `PRESIGN_TTL_SECS` (the one handed out before while more than half its life
/// remains, so a browser's cached copy still serves). A 404 when the caller may not see the
/// masterclass or it has no handout. Row-level security decides who sees what: drafts are for
/// the staff who staff them, and a student also sees their own masterclass once it is
/// unpublished, as `/api/me` shows it with this link; anonymous callers see published ones.
pub async fn handout_link(
    state: &AppState,
    caller: &crate::auth::Caller,
    id: Uuid,
) -> Result<crate::storage::DownloadLink> {
    let published_only = matches!(caller, crate::auth::Caller::Anonymous);
    let found = db::transact(&state.db, caller, async |tx| {
        db::masterclasses::find(tx, id, published_only).await
    })
    .await?
    .ok_or(Error::NotFound("masterclass"))?;
    let pdf = found.pdf.ok_or(Error::NotFound("handout"))?;
    Ok(state
        .storage
        .download_link(&pdf.key, state.config.uploads.presign_ttl)
        .await?)
}

/// A page of masterclasses; `published_only` as in [`get`].
pub async fn list(
    origin: &Origin,
    tx: &Transaction<'_>,
    published_only: bool,
    paging: Paging,
) -> Result<MasterclassPage> {
    let (rows, total) =
        db::masterclasses::list(tx, published_only, paging.limit, paging.offset).await?;
    let items = rows.into_iter().map(|m| view(origin, m)).collect();
    Ok(MasterclassPage {
        items,
        total,
        limit: paging.limit,
        offset: paging.offset,
    })
}

/// Applies a patch; the merged schedule must still hold.
pub async fn update(
    origin: &Origin,
    tx: &Transaction<'_>,
    id: Uuid,
    patch: &MasterclassPatch,
) -> Result<MasterclassView> {
    if patch.is_empty() {
        return Err(Error::field("body", "name at least one field to change"));
    }
    let current = db::masterclasses::lock(tx, id)
        .await?
        .ok_or(Error::NotFound("masterclass"))?;
    Schedule::new(
        patch.starts_at.unwrap_or(current.starts_at),
        patch.ends_at.unwrap_or(current.ends_at),
    )
    .map_err(|e| Error::Validation(vec![e]))?;
    let updated = db::masterclasses::update(tx, id, patch)
        .await?
        .ok_or(Error::NotFound("masterclass"))?;
    let fields: Vec<&str> = [
        patch.title.as_ref().map(|_| "title"),
        patch.description.as_ref().map(|_| "description"),
        patch.starts_at.map(|_| "starts_at"),
        patch.ends_at.map(|_| "ends_at"),
        patch.published.map(|_| "published"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let details = serde_json::json!({ "fields": fields, "published": patch.published });
    super::audit(tx, "masterclass.updated", "masterclass", id, details).await?;
    Ok(view(origin, updated))
}

pub async fn delete(tx: &Transaction<'_>, id: Uuid) -> Result<()> {
    if db::masterclasses::soft_delete(tx, id).await? {
        tracing::info!(masterclass_id = %id, "masterclass deleted");
        super::audit(
            tx,
            "masterclass.deleted",
            "masterclass",
            id,
            serde_json::json!({}),
        )
        .await?;
        Ok(())
    } else {
        Err(Error::NotFound("masterclass"))
    }
}

fn pdf_prefix(id: Uuid) -> String {
    format!("masterclasses/{id}/handouts/")
}

/// Hands out a presigned PUT for a new handout of masterclass `id`.
pub async fn start_pdf_upload(
    state: &AppState,
    tx: &Transaction<'_>,
    id: Uuid,
    request: &PdfUploadRequest,
) -> Result<UploadTicket> {
    let max_bytes = state.config.uploads.pdf_max_bytes;
    let size = match request.size {
        None => None,
        Some(size) if size <= 0 => return Err(Error::field("size", "must be greater than zero")),
        Some(size) => Some(size as u64),
    };
    match size {
        Some(size) if size > max_bytes => {
            return Err(Error::PayloadTooLarge(format!(
                "a handout is at most {max_bytes} bytes"
            )));
        }
        _ => {}
    }
    db::masterclasses::find(tx, id, false)
        .await?
        .ok_or(Error::NotFound("masterclass"))?;
    let key = format!("{}{}.pdf", pdf_prefix(id), Uuid::new_v4());
    let ttl = state.config.uploads.presign_ttl;
    let presigned = state
        .storage
        .presign_put(&key, "application/pdf", size, ttl)
        .await?;
    Ok(UploadTicket {
        key,
        method: presigned.method,
        url: presigned.url,
        headers: presigned.headers,
        max_bytes,
        expires_at: OffsetDateTime::now_utc() + ttl,
    })
}

/// `POST /api/masterclasses/{id}/pdf/confirm` as `caller`: [`confirm_pdf`] in a transaction of
/// its own, then, once that is committed, the replaced handout's object deleted (failing to
/// delete it only leaves garbage behind, so that is logged, not answered).
pub async fn confirm_pdf_as(
    state: &AppState,
    origin: &Origin,
    caller: &crate::auth::Caller,
    id: Uuid,
    request: &PdfConfirmRequest,
) -> Result<MasterclassView> {
    let (view, replaced) = db::transact(&state.db, caller, async |tx| {
        confirm_pdf(state, origin, tx, id, request).await
    })
    .await?;
    if let Some(old) = replaced
        && let Err(e) = state.storage.delete(&old).await
    {
        tracing::warn!(error = %format!("{e:#}"), "could not delete a replaced handout");
    }
    Ok(view)
}

/// Checks the uploaded object and records it as the handout of masterclass `id`. A rejected
/// object is deleted; a replaced handout is deleted once the new one is committed by the caller.
/// Returns the view and the key of the replaced handout, if any, for the caller to delete after
/// commit.
pub async fn confirm_pdf(
    state: &AppState,
    origin: &Origin,
    tx: &Transaction<'_>,
    id: Uuid,
    request: &PdfConfirmRequest,
) -> Result<(MasterclassView, Option<String>)> {
    let key = request.key.trim();
    let valid_name = key
        .strip_prefix(&pdf_prefix(id))
        .and_then(|name| name.strip_suffix(".pdf"))
        .is_some_and(|stem| Uuid::parse_str(stem).is_ok());
    if !valid_name {
        return Err(Error::field(
            "key",
            "is not an upload key issued for this masterclass",
        ));
    }
    let current = db::masterclasses::lock(tx, id)
        .await?
        .ok_or(Error::NotFound("masterclass"))?;
    if current.pdf.as_ref().is_some_and(|pdf| pdf.key == key) {
        // Confirming the same upload twice is a no-op.
        return Ok((view(origin, current), None));
    }
    let size = super::uploaded_size(
        state,
        key,
        state.config.uploads.pdf_max_bytes,
        "pdf_not_uploaded",
        "the handout",
    )
    .await?;
    let head = state
        .storage
        .read_prefix(key, PDF_MAGIC.len() as u64)
        .await?;
    if head != PDF_MAGIC {
        state.storage.delete(key).await?;
        return Err(Error::Validation(vec![FieldError::new(
            "key",
            "the uploaded file is not a PDF (it does not start with %PDF-)",
        )]));
    }
    let replaced = current.pdf.map(|pdf| pdf.key);
    let now = OffsetDateTime::now_utc();
    let updated = db::masterclasses::set_pdf(tx, id, key, size as i64, now).await?;
    tracing::info!(masterclass_id = %id, size, at = %now.format(&Rfc3339).unwrap_or_default(), "handout confirmed");
    super::audit(
        tx,
        "masterclass.handout_uploaded",
        "masterclass",
        id,
        serde_json::json!({ "key": key, "size": size }),
    )
    .await?;
    Ok((view(origin, updated), replaced))
}
