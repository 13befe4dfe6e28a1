//! Typed configuration, read once from the environment at start-up.
//!
//! Every variable the platform reads is named here (and in `infra/README.md`, configuration).
//! Secrets are wrapped in [`Secret`], whose `Debug` never shows the value, so a config can be
//! logged whole.
//!
//! Each section is a struct of one shape, a field a variable with its name and default in the
//! field's doc: that sameness is what makes this file the one list of every variable.

use std::{fmt, num::NonZeroU32, path::PathBuf, str::FromStr, time::Duration};

use anyhow::{Context, bail};

pub use crate::{ai::AiConfig, secret::Secret};

/// The whole platform configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub s3: S3Config,
    pub uploads: UploadConfig,
    pub auth: AuthConfig,
    pub journey: JourneyConfig,
    pub messaging: MessagingConfig,
    pub ai: AiConfig,
    pub sync: SyncConfig,
    pub live: LiveConfig,
    pub backup: BackupConfig,
    /// `ALLOWED_ORIGINS` (comma-separated, `*` by default): the web origins whose browsers may
    /// call the API. In AWS the HTTP API answers CORS from the template's parameter of the same
    /// name; the local gateway answers it from this.
    pub allowed_origins: Vec<String>,
}

/// Offline sync.
#[derive(Debug, Clone, Default)]
pub struct SyncConfig {
    /// `SYNC_POKE_URLS` (comma-separated, none by default): where to send a "pull now" poke after
    /// a push that changed data.
    pub poke_urls: Vec<String>,
    /// `SYNC_POKE_SECRET` (required with `SYNC_POKE_URLS`): the HMAC-SHA256 key of the pokes'
    /// signatures.
    pub poke_secret: Option<Secret>,
    /// `SYNC_REMOTE_URL` and `SYNC_REMOTE_SECRET` (both or neither): the deployment this one
    /// syncs with (a venue server's cloud), and the peer secret an admin created there.
    pub remote: Option<RemoteConfig>,
    /// `SYNC_DESK_OFFLINE_HOURS` (12 by default): how long before its arrival a desk's offline
    /// registration may say it was made. A registration is judged at its clock within this
    /// window, and at its arrival when its clock claims more, so a wrong or forged clock cannot
    /// register into a masterclass that closed long ago.
    pub desk_offline_window: Duration,
}

/// The live channel: "pull now" to open browsers (see `sync::live`).
#[derive(Debug, Clone, Default)]
pub struct LiveConfig {
    /// `LIVE_URL`: the live endpoint tickets point at (`wss://...`, the WebSocket API's stage in
    /// AWS, set by the template). Unset, it is `ws://<the request's host>/api/sync/stream`, the
    /// local gateway's.
    pub url: Option<String>,
    /// `LIVE_MANAGEMENT_URL`: the WebSocket API's management endpoint
    /// (`https://<api>.execute-api.<region>.amazonaws.com/<stage>`). Set, every function fans
    /// changes out to API Gateway's connections after a write, and the dispatcher after it
    /// (leftovers); unset, nothing posts to API Gateway.
    pub management_url: Option<String>,
    /// `LIVE_MANAGEMENT_ACCESS_KEY_ID` / `LIVE_MANAGEMENT_SECRET_ACCESS_KEY`: static keys for a
    /// management endpoint outside AWS (a stand-in). Unset means the standard AWS credential
    /// chain (the Lambda role in production).
    pub static_credentials: Option<(String, Secret)>,
}

/// The remote of a venue server (see `sync::peer`).
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The remote's base URL (`https://api.example.org`), without a trailing slash.
    pub url: String,
    pub secret: Secret,
    /// `SYNC_REMOTE_TIMEOUT_SECS` (default 30): one HTTP call to the remote.
    pub timeout: Duration,
}

/// WhatsApp delivery.
#[derive(Debug, Clone)]
pub struct MessagingConfig {
    /// `WHAPI_TOKEN`: with it, messages go through Whapi.Cloud; without, they are logged.
    pub whapi_token: Option<Secret>,
    /// `WHAPI_BASE_URL` (default `https://gate.whapi.cloud`).
    pub whapi_base_url: String,
    /// `WHAPI_WEBHOOK_SECRET`: the value Whapi sends in the `x-webhook-secret` header (set it as
    /// a custom header of the webhook in Whapi's settings). Unset: the webhook refuses all calls.
    pub webhook_secret: Option<Secret>,
    /// `MESSAGES_MAX_ATTEMPTS` (default 8): sends tried before a message is `dead`.
    pub max_attempts: i32,
    /// `MESSAGES_PER_SECOND` (default 5): send rate of one dispatcher.
    pub per_second: u32,
    /// `MESSAGES_BATCH` (default 50): messages one dispatcher run claims at most.
    pub batch: i64,
    /// `MESSAGES_RETRY_BASE_SECS` (default 30): first retry delay, doubled each attempt (with
    /// jitter), capped at an hour.
    pub retry_base: Duration,
    /// `MESSAGES_SEND_TIMEOUT_SECS` (default 10): one HTTP call to the provider. A run starts a
    /// send only while this much time (and a little more) is left before its deadline.
    pub send_timeout: Duration,
    /// `MESSAGES_DOUBT_SETTLE_SECS` (default 120): how long a send whose outcome is unknown is
    /// left to settle before the provider is asked whether it has the message.
    pub doubt_settle: Duration,
    /// `MESSAGES_MAX_LOOKUPS` (default 5): lookups of a message in doubt that the provider could
    /// not answer (a 404 or 401 for the chat, a timeout; one a run) before it is `dead`.
    pub max_lookups: i32,
    /// `MESSAGES_RUN_SECS` (default 50): the deadline of a run that is given none (the local
    /// timer); in Lambda the invocation's own deadline applies.
    pub run_for: Duration,
    /// `REMINDER_HOURS_BEFORE` (default 24): when the reminder before a masterclass is queued.
    pub reminder_before: Duration,
    /// `CHAT_TEST_EXPIRES_MINUTES` (default 1440, a day): a test taken in the chat with no reply
    /// for this long is closed (its answers are kept; `TEST` resumes it).
    pub chat_expires_after: Duration,
    /// `CHAT_TEST_REMINDER_MINUTES` (default 120): how long before it expires the student is
    /// reminded of it, once per silence.
    pub chat_reminder_before: Duration,
    /// `MESSAGES_PER_RECIPIENT_PER_DAY` (default 10): messages one number is sent in 24 hours;
    /// those past it are `held` for staff (not sent, not dropped). Replies in a test taken in
    /// the chat, which answer the number's own messages, are neither counted nor held.
    pub per_recipient_per_day: NonZeroU32,
}

/// Rules of the student journey.
#[derive(Debug, Clone)]
pub struct JourneyConfig {
    /// `REGISTRATION_CLOSES_MINUTES_BEFORE_START` (default 0): registration closes this long
    /// before a masterclass starts.
    pub registration_closes_before: Duration,
    /// `PRIVACY_NOTICE_VERSION` (default `2026-11`): the notice students consent to, recorded
    /// with each consent.
    pub privacy_notice_version: String,
    /// `RETENTION_DAYS` (unset by default: keep): the scheduled backup run first erases the
    /// registrations of masterclasses that ended more than this many days ago.
    pub retention_days: Option<u32>,
    /// `REGISTRATIONS_PER_SOURCE_PER_HOUR` (default 30): registrations from one source address
    /// in a clock hour; more is a 429 (a school's or a carrier's shared address stays served).
    pub registrations_per_source_per_hour: NonZeroU32,
    /// `REGISTRATIONS_PER_NUMBER_PER_DAY` (default 5): registrations of one WhatsApp number in a
    /// UTC day, from anywhere; more is a 429 (a family's phone registers a few children).
    pub registrations_per_number_per_day: NonZeroU32,
}

/// Backups to the object store.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// `BACKUP_BUCKET` (default: the platform's bucket): where backups go.
    pub bucket: Option<String>,
    /// `BACKUP_PREFIX` (default `backups/`): under which key each backup gets its dated folder.
    pub prefix: String,
    /// `BACKUP_KEEP` (default 7): the latest backups kept; older ones are deleted after a
    /// successful backup.
    pub keep: usize,
}

/// Staff sign-in and tokens.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_SECRET`: the HS256 secret, at least 32 bytes. Required: there is no default (the
    /// local gateway makes one for itself). A Supabase project's JWT secret works here. The key
    /// that seals listing cursors is derived from it.
    pub jwt_secret: Secret,
    /// `JWT_AUDIENCE` (default `authenticated`, as Supabase): the `aud` tokens must carry.
    pub audience: String,
    /// `JWT_TTL_SECS` (default 3600): lifetime of issued staff tokens.
    pub token_ttl: Duration,
    /// `LOGIN_MAX_FAILURES` (default 5): failed sign-ins for one e-mail address from one source
    /// address in a window, after which that source is refused for that account (429) until the
    /// window ends; the account stays open to every other address.
    pub max_failed_logins: NonZeroU32,
    /// `LOGIN_FAILURES_PER_SOURCE` (default 20): failed sign-ins from one source address in a
    /// window, whatever the accounts, after which that source is refused (429) until it ends.
    pub failures_per_source: NonZeroU32,
    /// `LOGIN_FAILURES_PER_ACCOUNT` (default 50): failed sign-ins for one e-mail address in a
    /// window, whatever the sources, after which signing in as it is refused (429) until the
    /// window ends: guessing one password from many addresses stays bounded. It is above
    /// `LOGIN_FAILURES_PER_SOURCE`, so no one address can reach it alone.
    pub failures_per_account: NonZeroU32,
    /// `LOGIN_LOCKOUT_SECS` (default 900): the window of the sign-in limits.
    pub lockout: Duration,
}

/// How to reach Postgres.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: a libpq-style URL; `sslmode=require` (or `verify-full`) turns on rustls.
    pub url: Secret,
    /// `DATABASE_POOL_SIZE`: connections per process. Lambda serves one request at a time per
    /// instance, so the default is small.
    pub pool_size: usize,
    /// `DATABASE_CA_CERT`: optional PEM file with extra root certificates (RDS, Supabase).
    pub ca_cert: Option<PathBuf>,
    /// `RUN_MIGRATIONS`: apply the embedded migrations at start-up (default true).
    pub run_migrations: bool,
    /// `DATABASE_MIGRATION_URL`: the role that owns the tables, for migrations. Functions serve
    /// requests as `DATABASE_URL`'s role, which must own nothing and lack BYPASSRLS. Unset means
    /// migrations run as `DATABASE_URL` too.
    pub migration_url: Option<Secret>,
}

/// How to reach the object store.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `S3_ENDPOINT`: an S3-compatible endpoint; unset means AWS itself.
    pub endpoint: Option<String>,
    /// `S3_BUCKET` (default `masterclass-pdfs`).
    pub bucket: String,
    /// `AWS_REGION` (default `eu-west-3`).
    pub region: String,
    /// `S3_FORCE_PATH_STYLE`: path-style addressing; defaults to true when an endpoint is set.
    pub force_path_style: bool,
    /// `S3_ACCESS_KEY_ID` / `S3_SECRET_ACCESS_KEY`: static keys for a non-AWS store. Unset means
    /// the standard AWS credential chain (the Lambda role in production).
    pub static_credentials: Option<(String, Secret)>,
}

/// Limits of the presigned upload flow.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// `PDF_MAX_BYTES` (default 25 MB).
    pub pdf_max_bytes: u64,
    /// `PHOTO_MAX_BYTES` (default 5 MB): a student's photo taken at the desk.
    pub photo_max_bytes: u64,
    /// `PRESIGN_TTL_SECS` (default 900): how long presigned URLs stay valid.
    pub presign_ttl: Duration,
    /// `EXPORTS_VIA_STORAGE` (default: on in a Lambda, off elsewhere): write a CSV export to the
    /// store (`exports/`) and redirect to a presigned link, rather than stream it in the answer.
    /// API Gateway buffers a Lambda's answer and caps it at 6 MB; the local gateway streams.
    pub exports_via_storage: bool,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests and the local gateway can supply
    /// values without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let url = get("DATABASE_URL").context(
            "DATABASE_URL is not set: point it at a Postgres database \
             (the local gateway sets it for you when it starts its own cluster)",
        )?;
        let endpoint = get("S3_ENDPOINT");
        let static_credentials = match (get("S3_ACCESS_KEY_ID"), get("S3_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some((id, Secret::new(secret))),
            (None, None) => None,
            _ => bail!("set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither"),
        };
        let jwt_secret = get("JWT_SECRET").context(
            "JWT_SECRET is not set: give it a random secret of at least 32 bytes \
             (e.g. `openssl rand -base64 48`); there is no default outside the local gateway",
        )?;
        if jwt_secret.len() < 32 {
            bail!("JWT_SECRET is too short: use at least 32 bytes");
        }
        let default_provider = match get("QUESTIONS_PROVIDER") {
            None => None,
            Some(raw) => Some(crate::ai::ProviderKind::parse(&raw).with_context(|| {
                format!("QUESTIONS_PROVIDER={raw:?} is not valid: use openai or offline")
            })?),
        };
        let openai_api_key = get("OPENAI_API_KEY").map(Secret::new);
        if default_provider == Some(crate::ai::ProviderKind::OpenAi) && openai_api_key.is_none() {
            bail!("QUESTIONS_PROVIDER=openai needs OPENAI_API_KEY");
        }
        let live = LiveConfig {
            url: match get("LIVE_URL") {
                Some(url) if !(url.starts_with("wss://") || url.starts_with("ws://")) => {
                    bail!("LIVE_URL: {url:?} is not a ws(s) URL")
                }
                url => url.map(|u| u.trim_end_matches('/').to_owned()),
            },
            management_url: match get("LIVE_MANAGEMENT_URL") {
                Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                    bail!("LIVE_MANAGEMENT_URL: {url:?} is not an http(s) URL")
                }
                url => url.map(|u| u.trim_end_matches('/').to_owned()),
            },
            static_credentials: match (
                get("LIVE_MANAGEMENT_ACCESS_KEY_ID"),
                get("LIVE_MANAGEMENT_SECRET_ACCESS_KEY"),
            ) {
                (Some(id), Some(secret)) => Some((id, Secret::new(secret))),
                (None, None) => None,
                _ => bail!(
                    "set both LIVE_MANAGEMENT_ACCESS_KEY_ID and LIVE_MANAGEMENT_SECRET_ACCESS_KEY, or neither"
                ),
            },
        };
        Ok(Self {
            live,
            allowed_origins: get("ALLOWED_ORIGINS")
                .unwrap_or_else(|| "*".into())
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
            ai: AiConfig {
                openai_api_key,
                openai_base_url: get("OPENAI_BASE_URL")
                    .unwrap_or_else(|| "https://api.openai.com/v1".into()),
                openai_model: get("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o".into()),
                openai_timeout: Duration::from_secs(parse_or(
                    "OPENAI_TIMEOUT_SECS",
                    get("OPENAI_TIMEOUT_SECS"),
                    25,
                )?),
                default_provider,
                limits: crate::ai::pdf::Limits {
                    max_bytes: parse_or(
                        "GENERATION_MAX_PDF_BYTES",
                        get("GENERATION_MAX_PDF_BYTES"),
                        20 * 1024 * 1024,
                    )?,
                    max_pages: parse_or("GENERATION_MAX_PAGES", get("GENERATION_MAX_PAGES"), 300)?,
                    time: Duration::from_secs(parse_or(
                        "GENERATION_EXTRACT_SECS",
                        get("GENERATION_EXTRACT_SECS"),
                        15,
                    )?),
                },
                deadline: Duration::from_secs(parse_or(
                    "GENERATION_DEADLINE_SECS",
                    get("GENERATION_DEADLINE_SECS"),
                    28,
                )?),
            },
            messaging: MessagingConfig {
                whapi_token: get("WHAPI_TOKEN").map(Secret::new),
                whapi_base_url: get("WHAPI_BASE_URL")
                    .unwrap_or_else(|| "https://gate.whapi.cloud".into()),
                webhook_secret: get("WHAPI_WEBHOOK_SECRET").map(Secret::new),
                max_attempts: parse_or("MESSAGES_MAX_ATTEMPTS", get("MESSAGES_MAX_ATTEMPTS"), 8)?,
                per_second: parse_or("MESSAGES_PER_SECOND", get("MESSAGES_PER_SECOND"), 5)?,
                batch: parse_or("MESSAGES_BATCH", get("MESSAGES_BATCH"), 50)?,
                retry_base: Duration::from_secs(parse_or(
                    "MESSAGES_RETRY_BASE_SECS",
                    get("MESSAGES_RETRY_BASE_SECS"),
                    30,
                )?),
                send_timeout: Duration::from_secs(parse_or(
                    "MESSAGES_SEND_TIMEOUT_SECS",
                    get("MESSAGES_SEND_TIMEOUT_SECS"),
                    10,
                )?),
                doubt_settle: Duration::from_secs(parse_or(
                    "MESSAGES_DOUBT_SETTLE_SECS",
                    get("MESSAGES_DOUBT_SETTLE_SECS"),
                    120,
                )?),
                max_lookups: match parse_or("MESSAGES_MAX_LOOKUPS", get("MESSAGES_MAX_LOOKUPS"), 5)?
                {
                    n if n >= 1 => n,
                    n => anyhow::bail!("MESSAGES_MAX_LOOKUPS={n} is not valid: at least 1"),
                },
                run_for: Duration::from_secs(parse_or(
                    "MESSAGES_RUN_SECS",
                    get("MESSAGES_RUN_SECS"),
                    50,
                )?),
                reminder_before: Duration::from_secs(
                    3600 * parse_or::<u64>(
                        "REMINDER_HOURS_BEFORE",
                        get("REMINDER_HOURS_BEFORE"),
                        24,
                    )?,
                ),
                chat_expires_after: Duration::from_secs(
                    60 * parse_or::<u64>(
                        "CHAT_TEST_EXPIRES_MINUTES",
                        get("CHAT_TEST_EXPIRES_MINUTES"),
                        1440,
                    )?,
                ),
                chat_reminder_before: Duration::from_secs(
                    60 * parse_or::<u64>(
                        "CHAT_TEST_REMINDER_MINUTES",
                        get("CHAT_TEST_REMINDER_MINUTES"),
                        120,
                    )?,
                ),
                per_recipient_per_day: limit(
                    "MESSAGES_PER_RECIPIENT_PER_DAY",
                    get("MESSAGES_PER_RECIPIENT_PER_DAY"),
                    10,
                )?,
            },
            sync: {
                let poke_urls: Vec<String> = get("SYNC_POKE_URLS")
                    .map(|raw| {
                        raw.split(',')
                            .map(str::trim)
                            .filter(|u| !u.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                for url in &poke_urls {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        bail!("SYNC_POKE_URLS: {url:?} is not an http(s) URL");
                    }
                }
                let poke_secret = get("SYNC_POKE_SECRET").map(Secret::new);
                if !poke_urls.is_empty() && poke_secret.is_none() {
                    bail!("SYNC_POKE_URLS needs SYNC_POKE_SECRET, the key that signs the pokes");
                }
                let remote = match (get("SYNC_REMOTE_URL"), get("SYNC_REMOTE_SECRET")) {
                    (None, None) => None,
                    (Some(url), Some(secret)) => {
                        if !(url.starts_with("https://") || url.starts_with("http://")) {
                            bail!("SYNC_REMOTE_URL: {url:?} is not an http(s) URL");
                        }
                        Some(RemoteConfig {
                            url: url.trim_end_matches('/').to_owned(),
                            secret: Secret::new(secret),
                            timeout: Duration::from_secs(parse_or::<u64>(
                                "SYNC_REMOTE_TIMEOUT_SECS",
                                get("SYNC_REMOTE_TIMEOUT_SECS"),
                                30,
                            )?),
                        })
                    }
                    (Some(_), None) => bail!(
                        "SYNC_REMOTE_URL needs SYNC_REMOTE_SECRET, the secret of a sync peer \
                         created on the remote (POST /api/sync/peers)"
                    ),
                    (None, Some(_)) => {
                        bail!("SYNC_REMOTE_SECRET is set but SYNC_REMOTE_URL is not")
                    }
                };
                SyncConfig {
                    poke_urls,
                    poke_secret,
                    remote,
                    desk_offline_window: Duration::from_secs(
                        parse_or::<u64>(
                            "SYNC_DESK_OFFLINE_HOURS",
                            get("SYNC_DESK_OFFLINE_HOURS"),
                            12,
                        )?
                        .checked_mul(3600)
                        .context("SYNC_DESK_OFFLINE_HOURS is too large")?,
                    ),
                }
            },
            journey: JourneyConfig {
                registration_closes_before: Duration::from_secs(
                    60 * parse_or::<u64>(
                        "REGISTRATION_CLOSES_MINUTES_BEFORE_START",
                        get("REGISTRATION_CLOSES_MINUTES_BEFORE_START"),
                        0,
                    )?,
                ),
                privacy_notice_version: get("PRIVACY_NOTICE_VERSION")
                    .unwrap_or_else(|| "2026-11".into()),
                retention_days: get("RETENTION_DAYS")
                    .map(|v| {
                        v.trim()
                            .parse::<u32>()
                            .ok()
                            .filter(|d| *d > 0)
                            .with_context(|| {
                                format!("RETENTION_DAYS={v}: a number of days, 1 or more")
                            })
                    })
                    .transpose()?,
                registrations_per_source_per_hour: limit(
                    "REGISTRATIONS_PER_SOURCE_PER_HOUR",
                    get("REGISTRATIONS_PER_SOURCE_PER_HOUR"),
                    30,
                )?,
                registrations_per_number_per_day: limit(
                    "REGISTRATIONS_PER_NUMBER_PER_DAY",
                    get("REGISTRATIONS_PER_NUMBER_PER_DAY"),
                    5,
                )?,
            },
            backup: BackupConfig {
                bucket: get("BACKUP_BUCKET"),
                prefix: {
                    let prefix = get("BACKUP_PREFIX").unwrap_or_else(|| "backups/".into());
                    if prefix.ends_with('/') {
                        prefix
                    } else {
                        format!("{prefix}/")
                    }
                },
                keep: parse_or("BACKUP_KEEP", get("BACKUP_KEEP"), 7)?,
            },
            auth: AuthConfig {
                jwt_secret: Secret::new(jwt_secret),
                audience: get("JWT_AUDIENCE").unwrap_or_else(|| "authenticated".into()),
                token_ttl: Duration::from_secs(parse_or(
                    "JWT_TTL_SECS",
                    get("JWT_TTL_SECS"),
                    3600,
                )?),
                max_failed_logins: limit("LOGIN_MAX_FAILURES", get("LOGIN_MAX_FAILURES"), 5)?,
                failures_per_source: limit(
                    "LOGIN_FAILURES_PER_SOURCE",
                    get("LOGIN_FAILURES_PER_SOURCE"),
                    20,
                )?,
                failures_per_account: limit(
                    "LOGIN_FAILURES_PER_ACCOUNT",
                    get("LOGIN_FAILURES_PER_ACCOUNT"),
                    50,
                )?,
                lockout: Duration::from_secs(parse_or(
                    "LOGIN_LOCKOUT_SECS",
                    get("LOGIN_LOCKOUT_SECS"),
                    900,
                )?),
            },
            database: DatabaseConfig {
                url: Secret::new(url),
                migration_url: get("DATABASE_MIGRATION_URL").map(Secret::new),
                pool_size: parse_or("DATABASE_POOL_SIZE", get("DATABASE_POOL_SIZE"), 2)?,
                ca_cert: get("DATABASE_CA_CERT").map(PathBuf::from),
                run_migrations: parse_or("RUN_MIGRATIONS", get("RUN_MIGRATIONS"), true)?,
            },
            s3: S3Config {
                force_path_style: parse_or(
                    "S3_FORCE_PATH_STYLE",
                    get("S3_FORCE_PATH_STYLE"),
                    endpoint.is_some(),
                )?,
                endpoint,
                bucket: get("S3_BUCKET").unwrap_or_else(|| "masterclass-pdfs".into()),
                region: get("AWS_REGION").unwrap_or_else(|| "eu-west-3".into()),
                static_credentials,
            },
            uploads: UploadConfig {
                pdf_max_bytes: parse_or("PDF_MAX_BYTES", get("PDF_MAX_BYTES"), 25 * 1024 * 1024)?,
                photo_max_bytes: parse_or(
                    "PHOTO_MAX_BYTES",
                    get("PHOTO_MAX_BYTES"),
                    5 * 1024 * 1024,
                )?,
                presign_ttl: Duration::from_secs(parse_or(
                    "PRESIGN_TTL_SECS",
                    get("PRESIGN_TTL_SECS"),
                    900,
                )?),
                exports_via_storage: parse_or(
                    "EXPORTS_VIA_STORAGE",
                    get("EXPORTS_VIA_STORAGE"),
                    get("AWS_LAMBDA_RUNTIME_API").is_some(),
                )?,
            },
        })
    }
}

fn parse_or<T: FromStr>(name: &str, value: Option<String>, default: T) -> anyhow::Result<T>
where
    T::Err: fmt::Display,
{
    match value {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={raw:?} is not valid: {e}")),
    }
}

/// A limit `name` of 1 or more (`default` when unset).
fn limit(name: &str, value: Option<String>, default: u32) -> anyhow::Result<NonZeroU32> {
    NonZeroU32::new(parse_or(name, value, default)?)
        .with_context(|| format!("{name}=0: a limit is 1 or more"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    const SECRET: (&str, &str) = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");

    #[test]
    fn a_missing_database_url_is_an_error_that_says_what_to_set() {
        let err = Config::from_lookup(lookup(&[SECRET])).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn the_jwt_secret_is_required_and_must_be_long() {
        let err =
            Config::from_lookup(lookup(&[("DATABASE_URL", "postgres://db/app")])).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET"), "{err}");
        let err = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://db/app"),
            ("JWT_SECRET", "short"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let config = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://app:hunter2@db/app"),
            SECRET,
            ("S3_ACCESS_KEY_ID", "key"),
            ("S3_SECRET_ACCESS_KEY", "sup3rsecret"),
        ]))
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("sup3rsecret"), "{printed}");
        assert!(!printed.contains(SECRET.1), "{printed}");
    }

    #[test]
    fn an_endpoint_implies_path_style_unless_told_otherwise() {
        let config = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://db/app"),
            SECRET,
            ("S3_ENDPOINT", "http://127.0.0.1:9000"),
        ]))
        .unwrap();
        assert!(config.s3.force_path_style);
        let config =
            Config::from_lookup(lookup(&[("DATABASE_URL", "postgres://db/app"), SECRET])).unwrap();
        assert!(!config.s3.force_path_style);
    }

    #[test]
    fn the_openai_provider_cannot_be_the_default_without_a_key() {
        let err = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://db/app"),
            SECRET,
            ("QUESTIONS_PROVIDER", "openai"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
        let config = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://db/app"),
            SECRET,
            ("OPENAI_API_KEY", "sk-live-secret"),
        ]))
        .unwrap();
        assert!(!format!("{config:?}").contains("sk-live-secret"));
        assert_eq!(
            crate::ai::Generator::from_config(&config.ai).default_provider(),
            crate::ai::ProviderKind::OpenAi
        );
    }

    #[test]
    fn a_malformed_number_names_its_variable() {
        let err = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://db/app"),
            SECRET,
            ("DATABASE_POOL_SIZE", "lots"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("DATABASE_POOL_SIZE"), "{err}");
    }
}
