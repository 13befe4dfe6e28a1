//! Queries for masterclasses. Deleted masterclasses are tombstones (`deleted_at`), invisible here.
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Db, p,
    row::{FromRow, all, failed},
};
use crate::domain::masterclass::{Masterclass, MasterclassPatch, NewMasterclass, StoredPdf};
use crate::error::Result;

const COLUMNS: &str = "id, title, description, starts_at, ends_at, published, pdf_key, pdf_size, \
                       pdf_uploaded_at, created_at, updated_at";

impl FromRow for Masterclass {
    fn from_row(row: &Row) -> Result<Self> {
        let pdf = row
            .try_get::<_, Option<String>>("pdf_key")?
            .map(|key| {
                Ok::<_, tokio_postgres::Error>(StoredPdf {
                    key,
                    size: row.try_get("pdf_size")?,
                    uploaded_at: row.try_get("pdf_uploaded_at")?,
                })
            })
            .transpose()?;
        Ok(Self {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            starts_at: row.try_get("starts_at")?,
            ends_at: row.try_get("ends_at")?,
            published: row.try_get("published")?,
            pdf,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

fn one(row: Option<Row>) -> Result<Option<Masterclass>> {
    row.as_ref().map(Masterclass::from_row).transpose()
}

pub async fn insert(db: &impl Db, new: &NewMasterclass) -> Result<Masterclass> {
    let sql = format!(
        "insert into masterclasses (title, description, starts_at, ends_at, published)
         values ($1, $2, $3, $4, $5) returning {COLUMNS}"
    );
    let row = db
        .one(
            &sql,
            &[
                p(&new.title.as_str()),
                p(&new.description.as_str()),
                p(&new.schedule.starts_at()),
                p(&new.schedule.ends_at()),
                p(&new.published),
            ],
        )
        .await
        .map_err(failed("creating a masterclass"))?;
    Masterclass::from_row(&row)
}

/// One masterclass; `published_only` hides drafts (for anonymous callers).
pub async fn find(db: &impl Db, id: Uuid, published_only: bool) -> Result<Option<Masterclass>> {
    let sql = format!(
        "select {COLUMNS} from masterclasses
         where id = $1 and deleted_at is null and (published or not $2)"
    );
    one(db
        .opt(&sql, &[p(&id), p(&published_only)])
        .await
        .map_err(failed(format!("reading masterclass {id}")))?)
}

/// One masterclass, locked for the rest of the transaction.
pub async fn lock(db: &impl Db, id: Uuid) -> Result<Option<Masterclass>> {
    let sql = format!(
        "select {COLUMNS} from masterclasses where id = $1 and deleted_at is null for update"
    );
    one(db
        .opt(&sql, &[p(&id)])
        .await
        .map_err(failed(format!("locking masterclass {id}")))?)
}

/// A page of masterclasses by start date, and the total count.
/// The listing's SQL (`$1` published only, `$2` limit, `$3` offset), public for the benchmark
/// that compares the endpoint with pgbench running it.
pub fn list_sql() -> String {
    format!(
        "select {COLUMNS}, count(*) over () as total from masterclasses
         where deleted_at is null and (published or not $1)
         order by starts_at, id limit $2 offset $3"
    )
}

pub async fn list(
    db: &impl Db,
    published_only: bool,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Masterclass>, i64)> {
    let rows = db
        .all(&list_sql(), &[p(&published_only), p(&limit), p(&offset)])
        .await
        .map_err(failed("listing masterclasses"))?;
    let total = match rows.first() {
        Some(row) => row.try_get("total")?,
        // An offset past the end returns no rows; count separately so `total` stays true.
        None => db
            .one(
                "select count(*) as total from masterclasses
                 where deleted_at is null and (published or not $1)",
                &[p(&published_only)],
            )
            .await
            .map_err(failed("counting masterclasses"))?
            .try_get("total")?,
    };
    Ok((all(&rows)?, total))
}

/// Applies a checked patch (the caller has checked the merged schedule).
pub async fn update(
    db: &impl Db,
    id: Uuid,
    patch: &MasterclassPatch,
) -> Result<Option<Masterclass>> {
    let sql = format!(
        "update masterclasses set
             title = coalesce($2, title),
             description = coalesce($3, description),
             starts_at = coalesce($4, starts_at),
             ends_at = coalesce($5, ends_at),
             published = coalesce($6, published)
         where id = $1 and deleted_at is null
         returning {COLUMNS}"
    );
    let row = db
        .opt(
            &sql,
            &[
                p(&id),
                p(&patch.title.as_ref().map(|t| t.as_str())),
                p(&patch.description.as_ref().map(|d| d.as_str())),
                p(&patch.starts_at),
                p(&patch.ends_at),
                p(&patch.published),
            ],
        )
        .await
        .map_err(failed(format!("changing masterclass {id}")))?;
    one(row)
}

/// Marks a masterclass deleted (a tombstone). Returns false when there was nothing to delete.
pub async fn soft_delete(db: &impl Db, id: Uuid) -> Result<bool> {
    let n = db
        .exec(
            "update masterclasses set deleted_at = now(), published = false where id = $1 and deleted_at is null",
            &[p(&id)])
        .await
        .map_err(failed(format!("deleting masterclass {id}")))?;
    Ok(n == 1)
}

/// Records a confirmed PDF handout.
pub async fn set_pdf(
    db: &impl Db,
    id: Uuid,
    key: &str,
    size: i64,
    at: OffsetDateTime,
) -> Result<Masterclass> {
    let sql = format!(
        "update masterclasses set pdf_key = $2, pdf_size = $3, pdf_uploaded_at = $4
         where id = $1 and deleted_at is null returning {COLUMNS}"
    );
    let row = db
        .one(&sql, &[p(&id), p(&key), p(&size), p(&at)])
        .await
        .map_err(failed(format!("recording the handout of masterclass {id}")))?;
    Masterclass::from_row(&row)
}

/// Is the caller staff of masterclass `masterclass_id` (and does it exist)?
pub async fn staffs(db: &impl Db, masterclass_id: Uuid) -> Result<bool> {
    let row = db
        .opt(
            "select 1 from masterclasses where id = $1 and deleted_at is null and auth_staffs(id)",
            &[p(&masterclass_id)],
        )
        .await
        .map_err(failed(format!(
            "checking who staffs masterclass {masterclass_id}"
        )))?;
    Ok(row.is_some())
}
