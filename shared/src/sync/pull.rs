//! `GET /api/sync/pull`: one page of the changes since a cursor (see [`super::cursor`] for why
//! it never skips), with what a tutor lost since.

use time::OffsetDateTime;

use super::{
    ChangeOp, Collection, Cursor, DEFAULT_PULL_LIMIT, Hlc, MAX_PULL_LIMIT, PullQuery, PullResponse,
    millis,
};
use crate::{
    AppState,
    auth::{Caller, Role},
    db,
    error::{Error, Result},
};

/// The collections a pull asked for (all the caller may read when none).
fn collections(caller: &Caller, raw: Option<&str>) -> Result<Vec<Collection>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Collection::ALL
            .into_iter()
            .filter(|c| c.readable_by(caller))
            .collect());
    };
    let mut wanted = Vec::new();
    for name in raw.split(',').map(str::trim) {
        let collection = Collection::parse(name).ok_or_else(|| {
            Error::field(
                "collections",
                format!(
                    "{name:?} is not one of masterclasses, inscriptions, questions, documents \
                     (attempts: sync peers only)"
                ),
            )
        })?;
        if !collection.readable_by(caller) {
            return Err(Error::Forbidden);
        }
        wanted.push(collection);
    }
    wanted.sort();
    wanted.dedup();
    Ok(wanted)
}

/// One page of changes since `query.cursor`; see [`cursor`].
pub async fn pull(state: &AppState, caller: &Caller, query: &PullQuery) -> Result<PullResponse> {
    let wanted = collections(caller, query.collections.as_deref())?;
    let limit = query.limit.unwrap_or(DEFAULT_PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) {
        return Err(Error::field(
            "limit",
            format!("must be between 1 and {MAX_PULL_LIMIT}"),
        ));
    }
    let given = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let tutor = matches!(caller, Caller::Staff(s) if s.role == Role::Tuteur);
    let now = OffsetDateTime::now_utc();
    db::transact(&state.db, caller, async |tx| {
        let scope = if tutor {
            Some(db::sync::scope(tx).await?)
        } else {
            None
        };
        let (from, drops) = match given {
            None => (Cursor::start(wanted.clone(), scope.clone()), Vec::new()),
            Some(cursor) => {
                let drops = match (&cursor.scope, &scope) {
                    // Made for a caller who saw every masterclass (an admin since made a
                    // tutor): everything outside the new scope goes.
                    (None, Some(now)) => db::sync::masterclass_ids(tx)
                        .await?
                        .into_iter()
                        .filter(|id| !now.contains(id))
                        .collect(),
                    _ => cursor.lost(scope.as_deref()),
                };
                let grown = match (&cursor.scope, &scope) {
                    (Some(before), Some(now)) => now.iter().any(|id| !before.contains(id)),
                    (before, now) => before.is_some() != now.is_some(),
                };
                if grown || cursor.collections != wanted {
                    (Cursor::start(wanted.clone(), scope.clone()), drops)
                } else {
                    (
                        Cursor {
                            scope: scope.clone(),
                            ..cursor
                        },
                        drops,
                    )
                }
            }
        };
        let horizon = db::sync::horizon(tx).await?;
        let after = (from.xid, from.version);
        let mut rows = match caller {
            Caller::Peer(_) => db::replica::changes(tx, &wanted, after, horizon, limit + 1).await?,
            _ => db::sync::changes(tx, &wanted, after, horizon, limit + 1).await?,
        };
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next = match (has_more, rows.last()) {
            (true, Some(last)) => Cursor {
                xid: last.xid,
                version: last.version,
                ..from
            },
            _ if horizon > from.xid => Cursor {
                xid: horizon,
                version: 0,
                ..from
            },
            _ => from,
        };
        // A dropped masterclass the caller still sees (a published one) comes again at once:
        // the device dropped it with its inscriptions and questions, and it is still theirs.
        let again = if !drops.is_empty() && wanted.contains(&Collection::Masterclasses) {
            db::sync::current(tx, Collection::Masterclasses, &drops)
                .await?
                .into_iter()
                .filter(|c| c.op == ChangeOp::Upsert)
                .collect()
        } else {
            Vec::new()
        };
        Ok(PullResponse {
            changes: again
                .into_iter()
                .chain(rows.into_iter().map(|row| row.change))
                .collect(),
            drops,
            next_cursor: next.encode(),
            has_more,
            server_hlc: Hlc::server(millis(now)),
        })
    })
    .await
}
