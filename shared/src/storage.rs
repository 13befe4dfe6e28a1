//! The object store: aws-sdk-s3 against AWS, or any S3-compatible store through an endpoint
//! override with path-style addressing (the local stack's embedded store, MinIO, ...).
//!
//! PDFs never pass through a function: clients upload and download them with presigned URLs.
//! Download links are kept per object while more than half their life remains, so a handout
//! downloaded again costs no signing, and a browser that followed a link before gets the same
//! URL again (and its cached PDF).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use aws_sdk_s3::{
    Client, error::SdkError, operation::head_object::HeadObjectError, presigning::PresigningConfig,
    primitives::ByteStream,
};

use time::OffsetDateTime;

use crate::config::S3Config;

/// The folder where objects uploaded by a sync peer wait, under their own key, until checked
/// (`sync::peer`): no record points there.
pub const STAGING: &str = "sync-uploads/";

/// Download links kept before expired ones are swept out.
const LINKS_KEPT: usize = 4096;

/// A kept link is handed out again while more than half of `ttl` remains on it.
fn fresh(link: &DownloadLink, now: OffsetDateTime, ttl: Duration) -> bool {
    link.expires_at - now >= ttl / 2
}

/// A presigned download link and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadLink {
    pub url: String,
    pub expires_at: OffsetDateTime,
}

/// A presigned request a client performs itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PresignedRequest {
    pub method: String,
    pub url: String,
    /// Headers the client must send as they are (they are part of the signature).
    pub headers: std::collections::BTreeMap<String, String>,
}

/// The bucket the platform keeps its objects in, and the client to reach it.
#[derive(Clone, Debug)]
pub struct Storage {
    client: Client,
    bucket: String,
    /// Download links by key, reused while more than half their life remains.
    links: Arc<Mutex<HashMap<String, DownloadLink>>>,
}

impl Storage {
    /// Builds the client once per process.
    pub async fn new(config: &S3Config) -> Self {
        let shared =
            crate::aws::sdk_config(&config.region, config.static_credentials.as_ref()).await;
        let mut builder =
            aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.force_path_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            links: Arc::default(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket if it is missing (the local stack and tests; production's bucket comes
    /// from the SAM template).
    pub async fn ensure_bucket(&self) -> anyhow::Result<()> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .with_context(|| format!("creating bucket {}", self.bucket))?;
        Ok(())
    }

    // One SDK call each, with the bucket and a context naming it.
    /// Checks the store answers and the bucket exists (health checks).
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .with_context(|| format!("reaching bucket {}", self.bucket))?;
        Ok(())
    }

    /// A presigned PUT for `key`. `content_length`, when given, is signed too, so the store
    /// refuses an upload of any other size.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: Option<u64>,
        ttl: Duration,
    ) -> anyhow::Result<PresignedRequest> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type);
        if let Some(length) = content_length {
            put = put.content_length(i64::try_from(length).context("content length")?);
        }
        let presigned = put
            .presigned(PresigningConfig::expires_in(ttl).context("presign expiry")?)
            .await
            .with_context(|| format!("presigning upload of {key}"))?;
        Ok(PresignedRequest {
            method: presigned.method().to_owned(),
            url: presigned.uri().to_owned(),
            headers: presigned
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        })
    }

    /// A presigned GET link for `key`, valid for `ttl`: the one handed out before while more than
    /// half of `ttl` remains on it (no signing, and the same URL for the browser's cache), a
    /// fresh one otherwise.
    pub async fn download_link(&self, key: &str, ttl: Duration) -> anyhow::Result<DownloadLink> {
        let now = OffsetDateTime::now_utc();
        let kept = self
            .links
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key)
            .filter(|link| fresh(link, now, ttl))
            .cloned();
        if let Some(link) = kept {
            return Ok(link);
        }
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(
                PresigningConfig::builder()
                    .start_time(now.into())
                    .expires_in(ttl)
                    .build()
                    .context("presign expiry")?,
            )
            .await
            .with_context(|| format!("presigning download of {key}"))?;
        let link = DownloadLink {
            url: presigned.uri().to_owned(),
            expires_at: now + ttl,
        };
        let mut links = self
            .links
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if links.len() >= LINKS_KEPT {
            links.retain(|_, kept| fresh(kept, now, ttl));
            if links.len() >= LINKS_KEPT {
                // All still fresh: start over rather than grow (they are only re-signed).
                links.clear();
            }
        }
        links.insert(key.to_owned(), link.clone());
        Ok(link)
    }

    /// The size of the object at `key`, or `None` if there is none.
    pub async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.content_length().unwrap_or(0).max(0) as u64)),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), HeadObjectError::NotFound(_)) => {
                Ok(None)
            }
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading metadata of {key}"))),
        }
    }

    /// The first `n` bytes of the object at `key` (fewer if it is shorter).
    pub async fn read_prefix(&self, key: &str, n: u64) -> anyhow::Result<Vec<u8>> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", n.saturating_sub(1)))
            .send()
            .await
            .with_context(|| format!("reading the start of {key}"))?;
        let bytes = object
            .body
            .collect()
            .await
            .with_context(|| format!("reading {key}"))?;
        let mut bytes = bytes.into_bytes().to_vec();
        bytes.truncate(n as usize);
        Ok(bytes)
    }

    /// The whole object at `key`.
    pub async fn get(&self, key: &str) -> anyhow::Result<Vec<u8>> {
        Ok(self
            .object(key)
            .await?
            .collect()
            .await
            .with_context(|| format!("reading {key}"))?
            .into_bytes()
            .to_vec())
    }

    /// The body of the object at `key`, not read yet.
    async fn object(&self, key: &str) -> anyhow::Result<ByteStream> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("downloading {key}"))?;
        Ok(object.body)
    }

    /// Stores `bytes` at `key`.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .with_context(|| format!("uploading {key}"))?;
        Ok(())
    }

    /// Copies the object at `from` to `to`, inside the store (no bytes pass through here).
    pub async fn copy(&self, from: &str, to: &str) -> anyhow::Result<()> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{from}", self.bucket))
            .key(to)
            .send()
            .await
            .with_context(|| format!("copying {from} to {to}"))?;
        Ok(())
    }

    /// Deletes the object at `key` (deleting a missing object is not an error).
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("deleting {key}"))?;
        Ok(())
    }

    /// A writer that uploads to `key` in parts as bytes come (S3 multipart, [`PART_BYTES`] per
    /// part): memory holds one part whatever the object's size. Nothing is visible at `key`
    /// until [`Upload::finish`]; a dropped or failed upload leaves only parts, which the
    /// bucket's lifecycle rule aborts after a day.
    pub fn upload(&self, key: &str, content_type: &str) -> Upload {
        Upload {
            storage: self.clone(),
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            upload_id: None,
            parts: Vec::new(),
            buffer: Vec::with_capacity(PART_BYTES),
            written: 0,
        }
    }

    /// Every object under `prefix`, with its size, in key order.
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<(String, u64)>> {
        let mut objects = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .with_context(|| format!("listing {prefix}"))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    objects.push((
                        key.to_owned(),
                        u64::try_from(object.size().unwrap_or(0)).unwrap_or(0),
                    ));
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        objects.sort();
        Ok(objects)
    }

    /// The object at `key` as a stream of bytes (read as it is consumed).
    pub async fn reader(
        &self,
        key: &str,
    ) -> anyhow::Result<impl tokio::io::AsyncBufRead + Unpin + Send + use<>> {
        Ok(self.object(key).await?.into_async_read())
    }
}

/// Bytes per part of an [`Upload`] (S3's minimum part is 5 MiB, but for the last).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// An object being uploaded in parts (see [`Storage::upload`]).
pub struct Upload {
    storage: Storage,
    key: String,
    content_type: String,
    upload_id: Option<String>,
    parts: Vec<aws_sdk_s3::types::CompletedPart>,
    buffer: Vec<u8>,
    written: u64,
}

impl Upload {
    /// Appends `bytes`, sending a part whenever [`PART_BYTES`] are buffered.
    pub async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.buffer.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
        if self.buffer.len() >= PART_BYTES {
            self.send_part().await?;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    async fn send_part(&mut self) -> anyhow::Result<()> {
        let client = &self.storage.client;
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = client
                    .create_multipart_upload()
                    .bucket(&self.storage.bucket)
                    .key(&self.key)
                    .content_type(&self.content_type)
                    .send()
                    .await
                    .with_context(|| format!("starting the upload of {}", self.key))?;
                let id = created
                    .upload_id()
                    .context("the store started an upload without an id")?
                    .to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1).context("too many parts")?;
        let body = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_BYTES));
        let sent = client
            .upload_part()
            .bucket(&self.storage.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .with_context(|| format!("uploading part {number} of {}", self.key))?;
        self.parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    /// Sends what is left and makes the object visible at its key. Returns its size.
    pub async fn finish(mut self) -> anyhow::Result<u64> {
        let Some(upload_id) = self.upload_id.clone() else {
            // Small enough for one request.
            let bytes = std::mem::take(&mut self.buffer);
            self.storage
                .put(&self.key, bytes, &self.content_type)
                .await?;
            return Ok(self.written);
        };
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        self.storage
            .client
            .complete_multipart_upload()
            .bucket(&self.storage.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .with_context(|| format!("completing the upload of {}", self.key))?;
        Ok(self.written)
    }
}
