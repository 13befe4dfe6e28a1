//! What the managed edge cannot see, limited in Postgres so every function instance shares it:
//! registrations per source address and per WhatsApp number, and sign-in failures per source
//! and per account from a source. (Messages per recipient per day are held by the dispatcher,
//! see `messaging::dispatch`; the edge's own per-route throttling is in the SAM template.)
//!
//! **Sign-in.** A stranger must not be able to lock a staff member out, so nothing here locks
//! an account as such. Failures count against the source address (all accounts) and against
//! the pair (e-mail, source address). Past `LOGIN_FAILURES_PER_SOURCE` the source is refused
//! for every account, past `LOGIN_MAX_FAILURES` for that account, until the window
//! (`LOGIN_LOCKOUT_SECS`) ends; the account stays open from every other address. A refused
//! attempt checks no password and counts nothing more. Guessing from many addresses is bounded
//! by each address's budget and by the edge's route throttle, and each guess costs an Argon2id
//! hash. Unknown e-mails count the same as known ones, so the answers tell nothing apart.
//!
//! **Registrations.** Only registrations that happen count (a 409 or a 422 counts nothing, and
//! a replay of an answered `Idempotency-Key` is not a new registration): the hit is in the
//! registration's transaction. A request with no known source (none in the request context)
//! counts against one shared bucket.
//!
//! A source is an IPv4 address or an IPv6 /64 network. Buckets are named here and sealed before
//! they reach the database (an HMAC keyed from `JWT_SECRET`), so the counters keep no address or
//! number, nor a plain hash of one that a guess could match (there are few phone numbers).

use std::{net::IpAddr, time::Duration};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{
    config::Config,
    db::{self, Db},
    domain::student::Registration,
    error::{Error, Result},
};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The bucket name of a source: an IPv4 address, or the /64 network of an IPv6 one (a home or a
/// phone is given a whole /64, so its addresses are one source).
fn source_name(source: Option<IpAddr>) -> String {
    match source {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => {
            let [a, b, c, d, ..] = ip.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    }
}

/// What the database stores for bucket `name`: its HMAC under the platform's secret.
fn sealed(config: &Config, name: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(config.auth.jwt_secret.expose().as_bytes())
        .expect("any key length");
    mac.update(b"rate limits\0");
    mac.update(name.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn refused(what: &str, retry_after: u32) -> Error {
    Error::TooManyRequests {
        detail: format!("{what}; try again in {retry_after} seconds"),
        retry_after,
    }
}

/// Counts a registration from `source` for `registration`'s number, in the registration's
/// transaction; a 429 (counting nothing) when either limit is reached.
pub async fn take_registration(
    db: &impl Db,
    config: &Config,
    source: Option<IpAddr>,
    registration: &Registration,
) -> Result<()> {
    let journey = &config.journey;
    let by_source = sealed(
        config,
        &format!("registration.source:{}", source_name(source)),
    );
    if let Some(retry_after) = db::limits::take(
        db,
        &by_source,
        journey.registrations_per_source_per_hour,
        HOUR,
    )
    .await?
    {
        tracing::info!(retry_after, "registrations from this address limited");
        return Err(refused(
            "too many registrations from this address",
            retry_after,
        ));
    }
    let by_number = sealed(
        config,
        &format!(
            "registration.number:{}",
            registration.whatsapp_number.as_str()
        ),
    );
    if let Some(retry_after) = db::limits::take(
        db,
        &by_number,
        journey.registrations_per_number_per_day,
        DAY,
    )
    .await?
    {
        tracing::info!(number = %registration.whatsapp_number.masked(), retry_after,
                       "registrations of this number limited");
        return Err(refused(
            "too many registrations of this WhatsApp number today",
            retry_after,
        ));
    }
    Ok(())
}

/// The sign-in buckets: of the source, of the account from that source, of the account.
fn sign_in_buckets(
    config: &Config,
    source: Option<IpAddr>,
    email: &str,
) -> (String, String, String) {
    let source = source_name(source);
    (
        sealed(config, &format!("sign_in.source:{source}")),
        sealed(config, &format!("sign_in.account:{email}@{source}")),
        sealed(config, &format!("sign_in.account:{email}")),
    )
}

/// A 429 if `source` may not try to sign in as `email` (lower case) now; counts nothing.
pub async fn check_sign_in(
    db: &impl Db,
    config: &Config,
    source: Option<IpAddr>,
    email: &str,
) -> Result<()> {
    let (by_source, by_account, account) = sign_in_buckets(config, source, email);
    let config = &config.auth;
    if let Some(retry_after) =
        db::limits::full(db, &by_source, config.failures_per_source, config.lockout).await?
    {
        tracing::info!(retry_after, "sign-ins from this address limited");
        return Err(refused(
            "too many failed sign-ins from this address",
            retry_after,
        ));
    }
    if let Some(retry_after) =
        db::limits::full(db, &by_account, config.max_failed_logins, config.lockout).await?
    {
        tracing::info!(
            retry_after,
            "sign-ins to this account from this address limited"
        );
        return Err(refused(
            "too many failed sign-ins to this account from this address",
            retry_after,
        ));
    }
    if let Some(retry_after) =
        db::limits::full(db, &account, config.failures_per_account, config.lockout).await?
    {
        tracing::info!(retry_after, "sign-ins to this account limited");
        return Err(refused(
            "too many failed sign-ins to this account",
            retry_after,
        ));
    }
    Ok(())
}

/// Counts a failed sign-in from `source` as `email` (lower case) against the three limits.
pub async fn count_sign_in_failure(
    db: &impl Db,
    config: &Config,
    source: Option<IpAddr>,
    email: &str,
) -> Result<()> {
    let (by_source, by_account, account) = sign_in_buckets(config, source, email);
    db::limits::hit(db, &by_source, config.auth.lockout).await?;
    db::limits::hit(db, &by_account, config.auth.lockout).await?;
    db::limits::hit(db, &account, config.auth.lockout).await
}

/// Forgets the failed sign-ins as `email` (lower case) from `source`, after a successful one.
pub async fn clear_sign_in_failures(
    db: &impl Db,
    config: &Config,
    source: Option<IpAddr>,
    email: &str,
) -> Result<()> {
    let (_, by_account, _) = sign_in_buckets(config, source, email);
    db::limits::clear(db, &by_account).await
}
