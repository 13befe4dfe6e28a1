//! Queries of instance sync (replication between a venue server and its cloud, see
//! `sync::peer`): records as whole rows with their clocks, the stream of changes a peer pulls,
//! writing a merged record, and settling a person registered on both sides.
//!
//! A record is one JSON object of its replicated columns ([`Shape`]) plus what travels with it
//! (a question's key, an inscription's paper, an attempt's answers). Columns that name things
//! each instance has its own of (staff accounts, profiles) do not travel: a profile is found
//! again by WhatsApp number.
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Db, Transaction, p, row::failed};
use crate::{
    error::Result,
    model::sync::{Collection, clocks_to_json, merge::Clocks},
};

/// How a collection travels between instances.
pub struct Shape {
    pub table: &'static str,
    /// Columns copied as they are.
    pub columns: &'static [&'static str],
    /// What each side settles for itself (who won a merge, the union of tokens, a paper kept
    /// once drawn, answers written once): sent, applied by their own rule, never merged by
    /// clock.
    pub derived: &'static [&'static str],
    /// A JSON object of what travels with the row (`t` is the row).
    extra: &'static str,
}

pub fn shape(collection: Collection) -> Shape {
    match collection {
        Collection::Masterclasses => Shape {
            table: "masterclasses",
            columns: &[
                "title",
                "description",
                "starts_at",
                "ends_at",
                "published",
                "pdf_key",
                "pdf_size",
                "pdf_uploaded_at",
                "created_at",
                "deleted_at",
            ],
            derived: &[],
            extra: "'{}'::jsonb",
        },
        Collection::Questions => Shape {
            table: "questions",
            columns: &[
                "masterclass_id",
                "text",
                "choice_a",
                "choice_b",
                "choice_c",
                "choice_d",
                "status",
                "source_excerpt",
                "provenance",
                "created_at",
                "deleted_at",
            ],
            derived: &[],
            extra: "jsonb_build_object('correct',
                     (select k.correct from question_keys k where k.question_id = t.id))",
        },
        Collection::Inscriptions => Shape {
            table: "inscriptions",
            columns: &[
                "masterclass_id",
                "full_name",
                "date_of_birth",
                "whatsapp_number",
                "consent_at",
                "consent_version",
                "attended",
                "attendance_validated_at",
                "created_at",
                "deleted_at",
                "merged_into",
                "photo_key",
                "photo_size",
                "photo_content_type",
                "consent_withdrawn_at",
                "erased_at",
            ],
            derived: &["deleted_at", "merged_into", "paper", "tokens"],
            extra: "jsonb_build_object('paper',
                     (select to_jsonb(pp.question_ids) from test_papers pp where pp.inscription_id = t.id),
                     'tokens', (select coalesce(jsonb_agg(jsonb_build_array(encode(k.token_hash, 'hex'),
                                                                   k.revoked_at is not null)
                                                 order by k.token_hash), '[]')
                                from inscription_tokens k where k.inscription_id = t.id))",
        },
        Collection::Attempts => Shape {
            table: "test_attempts",
            columns: &[
                "inscription_id",
                "kind",
                "score",
                "max_score",
                "submitted_at",
                "superseded",
                "channel",
            ],
            derived: &["inscription_id", "superseded", "answers"],
            extra: "jsonb_build_object('answers', (select coalesce(jsonb_agg(jsonb_build_object(
                         'question_id', a.question_id, 'choice', a.choice, 'correct', a.correct)
                         order by a.question_id), '[]') from test_answers a where a.attempt_id = t.id))",
        },
        Collection::Documents => Shape {
            table: "documents",
            columns: &["owner_id", "key", "value", "created_at", "deleted_at"],
            derived: &[],
            extra: "'{}'::jsonb",
        },
    }
}

impl Shape {
    /// The record as one JSON object.
    fn fields(&self) -> String {
        let pairs: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("'{c}', t.{c}"))
            .collect();
        format!(
            "(jsonb_build_object({}) || {})",
            pairs.join(", "),
            self.extra
        )
    }
}

/// The SQL of a page of changes for a peer: every row of `collections` after the cursor
/// (`$1` transaction id as text, `$2` version) and below the horizon (`$3`), `$4` at most,
/// whose state did not come from the caller (no echo). A record is never `gone` for a peer:
/// its deletion is a field (`deleted_at`) like the others.
pub fn changes_sql(collections: &[Collection]) -> String {
    let branches: Vec<String> = collections
        .iter()
        .map(|&collection| {
            let s = shape(collection);
            format!(
                "(select '{name}' as collection, t.id, t.sync_xid as x, t.row_version as v,
                         false as gone, {fields} as fields, t.field_clocks as clocks
                  from {table} t
                  where (t.sync_xid, t.row_version) > ($1::text::xid8, $2)
                    and t.sync_xid < $3::text::xid8
                    and t.sync_source is distinct from (select auth_uid())
                  order by t.sync_xid, t.row_version limit $4)",
                name = collection.name(),
                fields = s.fields(),
                table = s.table,
            )
        })
        .collect();
    super::sync::stream_sql(&branches)
}

/// Up to `limit` changes for a peer (see [`changes_sql`]), with their positions.
pub async fn changes(
    db: &Transaction<'_>,
    collections: &[Collection],
    after: (u64, i64),
    horizon: u64,
    limit: i64,
) -> Result<Vec<super::sync::Positioned>> {
    super::sync::page(
        db,
        &changes_sql(collections),
        after,
        horizon,
        limit,
        "reading changes for a peer",
    )
    .await
}

/// A record as stored, locked for the rest of the transaction.
pub struct Stored {
    pub fields: Map<String, Value>,
    pub clocks: Clocks,
    pub source: Option<Uuid>,
}

/// Record `id` of `collection`, if it exists.
pub async fn load(db: &impl Db, collection: Collection, id: Uuid) -> Result<Option<Stored>> {
    let s = shape(collection);
    let row = db
        .opt(
            &format!(
                "select {fields} as fields, t.field_clocks, t.sync_source
                 from {table} t where t.id = $1 for update",
                fields = s.fields(),
                table = s.table
            ),
            &[p(&id)],
        )
        .await
        .map_err(failed(format!(
            "reading {} {id} to replicate",
            collection.name()
        )))?;
    let Some(row) = row else { return Ok(None) };
    let (fields, clocks) = super::sync::fields_and_clocks(&row)?;
    Ok(Some(Stored {
        fields,
        clocks,
        source: row.try_get("sync_source")?,
    }))
}

/// Marks the rest of the transaction as replication: writes keep the clocks and the source
/// they are given (see `sync_touch`, migration 0014).
pub async fn replicating(db: &Transaction<'_>) -> Result<()> {
    db.all(
        "select set_config('sync.applying', 'on', true), set_config('sync.replicating', 'on', true)",
        &[],
    )
    .await
    .map_err(failed("marking a replication"))?;
    Ok(())
}

/// What a replication writes into a row: `columns` of `fields` (a subset of its shape's), the
/// merged clocks, and where the state came from.
pub struct Write<'a> {
    pub columns: &'a [&'a str],
    pub fields: &'a Map<String, Value>,
    pub clocks: &'a Clocks,
    pub source: Option<Uuid>,
}

/// Inserts record `id` (an inscription with the profile found for it).
pub async fn insert(
    db: &impl Db,
    collection: Collection,
    id: Uuid,
    write: &Write<'_>,
    profile_id: Option<Uuid>,
) -> Result<()> {
    let s = shape(collection);
    let list = write.columns.join(", ");
    let (profile_column, profile_value) = match profile_id {
        Some(_) => (", profile_id", ", $5"),
        None => ("", ""),
    };
    let sql = format!(
        "insert into {table} (id, field_clocks, sync_source, {list}{profile_column})
         select $1, $3, $4, {list}{profile_value} from jsonb_populate_record(null::{table}, $2)",
        table = s.table
    );
    let fields = Value::Object(write.fields.clone());
    let clocks = clocks_to_json(write.clocks);
    let doing = format!("replicating new {} {id}", collection.name());
    match profile_id {
        Some(profile) => db
            .exec(
                &sql,
                &[
                    p(&id),
                    p(&fields),
                    p(&clocks),
                    p(&write.source),
                    p(&profile),
                ],
            )
            .await
            .map_err(failed(doing))?,
        None => db
            .exec(&sql, &[p(&id), p(&fields), p(&clocks), p(&write.source)])
            .await
            .map_err(failed(doing))?,
    };
    Ok(())
}

/// Writes into record `id`, and deletes (`Some(true)`) or revives (`Some(false)`) it.
pub async fn update(
    db: &impl Db,
    collection: Collection,
    id: Uuid,
    write: &Write<'_>,
    deleted: Option<bool>,
) -> Result<()> {
    let s = shape(collection);
    let set: String = write
        .columns
        .iter()
        .map(|c| format!(", {c} = r.{c}"))
        .collect();
    db.exec(
        &format!(
            "update {table} t set field_clocks = $3, sync_source = $4{set},
                 deleted_at = case when $5::boolean is null then t.deleted_at
                                   when $5 then coalesce(r.deleted_at, t.deleted_at, now()) end
             from jsonb_populate_record(null::{table}, $2) r where t.id = $1",
            table = s.table
        ),
        &[
            p(&id),
            p(&Value::Object(write.fields.clone())),
            p(&clocks_to_json(write.clocks)),
            p(&write.source),
            p(&deleted),
        ],
    )
    .await
    .map_err(failed(format!("replicating {} {id}", collection.name())))?;
    Ok(())
}

/// Sets question `id`'s key (a used question's key is frozen: then nothing changes).
pub async fn question_key(db: &impl Db, id: Uuid, correct: &str) -> Result<()> {
    db.exec(
        "insert into question_keys (question_id, correct) values ($1, $2)
         on conflict (question_id) do update set correct = excluded.correct
         where question_keys.correct is distinct from excluded.correct
           and not exists (select 1 from test_answers a where a.question_id = $1)",
        &[p(&id), p(&correct)],
    )
    .await
    .map_err(failed(format!("replicating the key of question {id}")))?;
    Ok(())
}

/// Gives inscription `id` the paper `question_ids` unless it has one.
pub async fn paper(db: &impl Db, id: Uuid, question_ids: &[Uuid]) -> Result<()> {
    db.exec(
        "insert into test_papers (inscription_id, question_ids) values ($1, $2)
         on conflict (inscription_id) do nothing",
        &[p(&id), p(&question_ids)],
    )
    .await
    .map_err(failed(format!("replicating the paper of inscription {id}")))?;
    Ok(())
}

/// Lets the student's access tokens (by their SHA-256, hex) open inscription `id` here too, and
/// revokes here those revoked there (a revocation is never undone).
pub async fn tokens(db: &impl Db, id: Uuid, tokens: &[(String, bool)]) -> Result<()> {
    let hashes: Vec<&str> = tokens.iter().map(|t| t.0.as_str()).collect();
    let revoked: Vec<bool> = tokens.iter().map(|t| t.1).collect();
    db.exec(
        "insert into inscription_tokens (inscription_id, token_hash, revoked_at)
         select $1, decode(h, 'hex'), case when r then now() end
         from unnest($2::text[], $3::boolean[]) as x (h, r)
         on conflict (token_hash) do update
         set revoked_at = coalesce(inscription_tokens.revoked_at, excluded.revoked_at)
         where inscription_tokens.revoked_at is null and excluded.revoked_at is not null",
        &[p(&id), p(&hashes), p(&revoked)],
    )
    .await
    .map_err(failed(format!(
        "replicating the tokens of inscription {id}"
    )))?;
    Ok(())
}

/// Stores the answers of attempt `id` (JSON array of `{question_id, choice, correct}`).
pub async fn answers(db: &impl Db, id: Uuid, answers: &Value) -> Result<()> {
    db.exec(
        "insert into test_answers (attempt_id, question_id, choice, correct)
         select $1, a.question_id, a.choice, a.correct
         from jsonb_to_recordset($2) as a (question_id uuid, choice char(1), correct boolean)
         on conflict (attempt_id, question_id) do nothing",
        &[p(&id), p(answers)],
    )
    .await
    .map_err(failed(format!("replicating the answers of attempt {id}")))?;
    Ok(())
}

/// The profile of WhatsApp number `number`, created from the inscription's details if there is
/// none (each instance has its own profile ids; the number is the person).
pub async fn profile(db: &impl Db, fields: &Map<String, Value>) -> Result<Uuid> {
    let fields = Value::Object(fields.clone());
    let row = db
        .one(
            "with r as (select * from jsonb_populate_record(null::inscriptions, $1)),
             made as (
                 insert into profiles (full_name, date_of_birth, whatsapp_number, consent_at,
                                       consent_version)
                 select full_name, date_of_birth, whatsapp_number, consent_at, consent_version
                 from r where r.erased_at is null
                 on conflict (whatsapp_number) where erased_at is null do nothing
                 returning id),
             -- an inscription erased before it got here: a profile of its own, erased too
             erased as (
                 insert into profiles (full_name, whatsapp_number, consent_at, erased_at, deleted_at)
                 select full_name, whatsapp_number, consent_at, erased_at, erased_at
                 from r where r.erased_at is not null
                 returning id)
             select coalesce((select id from made), (select id from erased),
                             (select pr.id from profiles pr, r
                              where pr.whatsapp_number = r.whatsapp_number
                                and pr.erased_at is null)) as id",
            &[p(&fields)],
        )
        .await
        .map_err(failed("finding the profile of a replicated inscription"))?;
    Ok(row.try_get("id")?)
}

/// The masterclass and profile of inscription `id`.
pub async fn person(db: &impl Db, id: Uuid) -> Result<Option<(Uuid, Uuid)>> {
    let row = db
        .opt(
            "select masterclass_id, profile_id from inscriptions where id = $1",
            &[p(&id)],
        )
        .await
        .map_err(failed(format!("reading who inscription {id} is")))?;
    row.map(|r| Ok((r.try_get("masterclass_id")?, r.try_get("profile_id")?)))
        .transpose()
}

/// The masterclass and profile of the inscription attempt `id` was taken on.
pub async fn attempt_person(db: &impl Db, id: Uuid) -> Result<Option<(Uuid, Uuid)>> {
    let row = db
        .opt(
            "select i.masterclass_id, i.profile_id
             from test_attempts a join inscriptions i on i.id = a.inscription_id where a.id = $1",
            &[p(&id)],
        )
        .await
        .map_err(failed(format!("reading whose attempt {id} is")))?;
    row.map(|r| Ok((r.try_get("masterclass_id")?, r.try_get("profile_id")?)))
        .transpose()
}

/// One person registered for one masterclass more than once (on two instances while apart)
/// becomes one inscription: see `sync_settle_inscriptions` (migration 0014).
pub async fn settle(db: &impl Db, masterclass_id: Uuid, profile_id: Uuid) -> Result<()> {
    db.all(
        "select sync_settle_inscriptions($1, $2)",
        &[p(&masterclass_id), p(&profile_id)],
    )
    .await
    .map_err(failed(format!(
        "settling the inscriptions of profile {profile_id} to masterclass {masterclass_id}"
    )))?;
    Ok(())
}

/// The inscriptions among `ids` that are erased.
pub async fn erased_among(db: &impl Db, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    let rows = db
        .all(
            "select id from inscriptions where id = any($1) and erased_at is not null",
            &[p(&ids)],
        )
        .await
        .map_err(failed("finding the erased inscriptions received"))?;
    rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
}
