//! A student's photo taken at the registration desk, attached to their inscription: uploaded
//! straight to the store with a presigned PUT (as handouts are), then confirmed (the object is
//! checked: there, within the size limit, an image of the announced kind by its first bytes)
//! and recorded on the inscription, which syncs it (instance sync copies the object too). Read
//! through short-lived presigned GETs by whoever may read the inscription: the staff of its
//! masterclass (row-level security), and the student.
//!
//! Service functions share a shape across `services/`: look the record
//! up (a 404 when the caller may not see it), change it through `db`, log it, and `audit` it in
//! the same transaction, one statement a step so that the order reads as the rule. Request and
//! answer types are flat structs whose fields are the contract (an optional filter a field, a
//! timestamp with its `rfc3339` attribute), so two of them read alike. What differs (the record,
//! the rule, the audit action, the fields) is the content of each.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::masterclasses::UploadTicket;
use crate::{
    AppState, db,
    db::Transaction,
    error::{Error, FieldError, Result},
};

/// The kinds of image a photo may be: content type, file extension, first bytes.
const KINDS: [(&str, &str, &[u8]); 3] = [
    ("image/jpeg", "jpg", b"\xFF\xD8\xFF"),
    ("image/png", "png", b"\x89PNG\r\n\x1a\n"),
    ("image/webp", "webp", b"RIFF"),
];

/// `POST /api/admin/inscriptions/{id}/photo`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoUploadRequest {
    /// `image/jpeg`, `image/png` or `image/webp`.
    #[schema(example = "image/jpeg")]
    pub content_type: Option<String>,
    /// The file's size in bytes, when known (signed into the upload URL).
    #[schema(minimum = 1, example = 183422)]
    pub size: Option<i64>,
}

/// `POST /api/admin/inscriptions/{id}/photo/confirm`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoConfirmRequest {
    /// The key the upload ticket gave.
    pub key: String,
}

/// A photo, with a short-lived link to it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhotoView {
    pub size: i64,
    pub content_type: String,
    pub download_url: String,
    #[serde(with = "crate::rfc3339")]
    pub download_expires_at: OffsetDateTime,
}

/// Where the photos of inscription `id` are uploaded.
pub fn prefix(id: Uuid) -> String {
    format!("inscriptions/{id}/photos/")
}

/// The content type of a photo key's extension (`None`: not a photo key).
pub fn content_type_of(key: &str) -> Option<&'static str> {
    let ext = key.rsplit_once('.')?.1;
    KINDS.iter().find(|k| k.1 == ext).map(|k| k.0)
}

/// The first bytes every photo of `content_type` starts with (`None`: not a photo's type).
pub fn magic_of(content_type: &str) -> Option<&'static [u8]> {
    KINDS.iter().find(|k| k.0 == content_type).map(|k| k.2)
}

/// Is `key` a photo key of some inscription (`inscriptions/<id>/photos/<uuid>.<ext>`)?
pub fn is_photo_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    matches!(parts.as_slice(), ["inscriptions", id, "photos", name]
        if Uuid::parse_str(id).is_ok()
            && name.rsplit_once('.').is_some_and(|(stem, _)| Uuid::parse_str(stem).is_ok())
            && content_type_of(name).is_some())
}

/// A presigned PUT for a new photo of inscription `id` (which the caller must see).
pub async fn start_upload(
    state: &AppState,
    tx: &Transaction<'_>,
    id: Uuid,
    request: &PhotoUploadRequest,
) -> Result<UploadTicket> {
    let max_bytes = state.config.uploads.photo_max_bytes;
    let kind = KINDS
        .iter()
        .find(|k| request.content_type.as_deref() == Some(k.0))
        .ok_or_else(|| {
            Error::field(
                "content_type",
                "must be image/jpeg, image/png or image/webp",
            )
        })?;
    let size = match request.size {
        None => None,
        Some(size) if size <= 0 => return Err(Error::field("size", "must be greater than zero")),
        Some(size) if size as u64 > max_bytes => {
            return Err(Error::PayloadTooLarge(format!(
                "a photo is at most {max_bytes} bytes"
            )));
        }
        Some(size) => Some(size as u64),
    };
    db::inscriptions::photo(tx, id)
        .await?
        .ok_or(Error::NotFound("inscription"))?;
    let key = format!("{}{}.{}", prefix(id), Uuid::new_v4(), kind.1);
    let ttl = state.config.uploads.presign_ttl;
    let presigned = state.storage.presign_put(&key, kind.0, size, ttl).await?;
    Ok(UploadTicket {
        key,
        method: presigned.method,
        url: presigned.url,
        headers: presigned.headers,
        max_bytes,
        expires_at: OffsetDateTime::now_utc() + ttl,
    })
}

/// Checks the uploaded object and records it as the photo of inscription `id`; a refused
/// object is deleted. Confirming the same key twice is a no-op.
pub async fn confirm(
    state: &AppState,
    tx: &Transaction<'_>,
    id: Uuid,
    request: &PhotoConfirmRequest,
) -> Result<PhotoView> {
    let key = request.key.trim();
    if !(key.starts_with(&prefix(id)) && is_photo_key(key)) {
        return Err(Error::field(
            "key",
            "is not an upload key issued for this inscription",
        ));
    }
    let current = db::inscriptions::photo(tx, id)
        .await?
        .ok_or(Error::NotFound("inscription"))?;
    if current.as_ref().is_some_and(|(k, _, _)| k == key) {
        return view(state, current).await?.ok_or(Error::NotFound("photo"));
    }
    let size = super::uploaded_size(
        state,
        key,
        state.config.uploads.photo_max_bytes,
        "photo_not_uploaded",
        "the photo",
    )
    .await?;
    let content_type = content_type_of(key).unwrap_or("image/jpeg");
    let magic = magic_of(content_type).unwrap_or_default();
    let head = state.storage.read_prefix(key, magic.len() as u64).await?;
    if head != magic {
        state.storage.delete(key).await?;
        return Err(Error::Validation(vec![FieldError::new(
            "key",
            format!("the uploaded file is not a {content_type} image"),
        )]));
    }
    db::inscriptions::set_photo(tx, id, key, size as i64, content_type).await?;
    super::audit(
        tx,
        "inscription.photo_uploaded",
        "inscription",
        id,
        serde_json::json!({ "size": size }),
    )
    .await?;
    view(
        state,
        Some((key.to_owned(), size as i64, content_type.to_owned())),
    )
    .await?
    .ok_or(Error::NotFound("photo"))
}

/// The photo of inscription `id`, if the caller may see the inscription and it has one.
pub async fn get(state: &AppState, tx: &Transaction<'_>, id: Uuid) -> Result<PhotoView> {
    let photo = db::inscriptions::photo(tx, id)
        .await?
        .ok_or(Error::NotFound("inscription"))?;
    view(state, photo).await?.ok_or(Error::NotFound("photo"))
}

async fn view(state: &AppState, photo: Option<(String, i64, String)>) -> Result<Option<PhotoView>> {
    let Some((key, size, content_type)) = photo else {
        return Ok(None);
    };
    let link = state
        .storage
        .download_link(&key, state.config.uploads.presign_ttl)
        .await?;
    Ok(Some(PhotoView {
        size,
        content_type,
        download_url: link.url,
        download_expires_at: link.expires_at,
    }))
}
