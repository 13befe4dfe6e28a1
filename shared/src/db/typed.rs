//! Statements in one round trip each: the SQL text goes with each parameter's type and value
//! (`query_typed`), so Postgres parses, binds and runs it at once. `Client::query` would first
//! prepare the statement to learn the types (a second round trip), and `prepare_cached` would
//! leave named statements that a transaction-mode pooler cannot keep on one server connection.
//!
//! Every query of the data layer goes through [`Db`], with its parameters written `p(&value)`:
//! the type comes from the Rust type ([`Param`]), so it is never written twice.

use std::future::Future;

use time::{Date, OffsetDateTime};
use tokio_postgres::{Error, GenericClient, Row, types::ToSql, types::Type};
use uuid::Uuid;

/// A parameter and its Postgres type.
pub type Typed<'a> = (&'a (dyn ToSql + Sync), Type);

/// `value` with the Postgres type of its Rust type.
pub fn p<T: Param>(value: &T) -> Typed<'_> {
    (value, T::TYPE)
}

/// A Rust type sent as a parameter, and the Postgres type it is sent as.
pub trait Param: ToSql + Sync {
    const TYPE: Type;
}

/// A type whose arrays are parameters too (`Vec<T>`, `&[T]`), as `ARRAY`.
pub trait Element: Param {
    const ARRAY: Type;
}

macro_rules! params {
    ($($rust:ty => $pg:ident $(, [] => $array:ident)?);* $(;)?) => {
        $(impl Param for $rust {
            const TYPE: Type = Type::$pg;
        }
        $(impl Element for $rust {
            const ARRAY: Type = Type::$array;
        })?)*
    };
}

params! {
    bool => BOOL, [] => BOOL_ARRAY;
    i16 => INT2, [] => INT2_ARRAY;
    i32 => INT4, [] => INT4_ARRAY;
    i64 => INT8, [] => INT8_ARRAY;
    f64 => FLOAT8, [] => FLOAT8_ARRAY;
    String => TEXT, [] => TEXT_ARRAY;
    &str => TEXT, [] => TEXT_ARRAY;
    Uuid => UUID, [] => UUID_ARRAY;
    OffsetDateTime => TIMESTAMPTZ, [] => TIMESTAMPTZ_ARRAY;
    Date => DATE, [] => DATE_ARRAY;
    serde_json::Value => JSONB, [] => JSONB_ARRAY;
    &serde_json::Value => JSONB, [] => JSONB_ARRAY;
    Vec<u8> => BYTEA;
    &[u8] => BYTEA;
}

impl<T: Param> Param for Option<T> {
    const TYPE: Type = T::TYPE;
}

impl<T: Element> Element for Option<T> {
    const ARRAY: Type = T::ARRAY;
}

impl<T: Element> Param for Vec<T> {
    const TYPE: Type = T::ARRAY;
}

impl<T: Element> Param for &[T] {
    const TYPE: Type = T::ARRAY;
}

/// A connection or a transaction, running typed statements.
pub trait Db: Sync {
    // The four ways to run a statement share one signature but for what they answer: the
    // answer's type is the point of each.
    /// Every row.
    fn all<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Typed<'a>],
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a;
    /// Exactly one row (an error otherwise).
    fn one<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Typed<'a>],
    ) -> impl Future<Output = Result<Row, Error>> + Send + 'a;
    /// At most one row (more is an error).
    fn opt<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Typed<'a>],
    ) -> impl Future<Output = Result<Option<Row>, Error>> + Send + 'a;
    /// How many rows the statement wrote.
    fn exec<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Typed<'a>],
    ) -> impl Future<Output = Result<u64, Error>> + Send + 'a;
    /// Statements without parameters or results (savepoints), in one round trip.
    fn batch<'a>(&'a self, sql: &'a str) -> impl Future<Output = Result<(), Error>> + Send + 'a;
}

/// Runs `sql` and counts the rows it affected (`query_typed_raw` reports it once drained).
async fn exec_on(
    db: &(impl GenericClient + Sync),
    sql: &str,
    params: &[Typed<'_>],
) -> Result<u64, Error> {
    use futures::TryStreamExt;
    let stream = db
        .query_typed_raw(sql, params.iter().map(|(value, ty)| (*value, ty.clone())))
        .await?;
    let mut stream = std::pin::pin!(stream);
    while stream.try_next().await?.is_some() {}
    Ok(stream.rows_affected().unwrap_or(0))
}

macro_rules! db_via {
    ($($client:ty => |$this:ident| $inner:expr),* $(,)?) => {
        $(impl Db for $client {
            fn all<'a>(&'a self, sql: &'a str, params: &'a [Typed<'a>])
                -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a {
                let $this = self;
                GenericClient::query_typed($inner, sql, params)
            }
            fn one<'a>(&'a self, sql: &'a str, params: &'a [Typed<'a>])
                -> impl Future<Output = Result<Row, Error>> + Send + 'a {
                let $this = self;
                GenericClient::query_typed_one($inner, sql, params)
            }
            fn opt<'a>(&'a self, sql: &'a str, params: &'a [Typed<'a>])
                -> impl Future<Output = Result<Option<Row>, Error>> + Send + 'a {
                let $this = self;
                GenericClient::query_typed_opt($inner, sql, params)
            }
            fn exec<'a>(&'a self, sql: &'a str, params: &'a [Typed<'a>])
                -> impl Future<Output = Result<u64, Error>> + Send + 'a {
                let $this = self;
                exec_on($inner, sql, params)
            }
            fn batch<'a>(&'a self, sql: &'a str)
                -> impl Future<Output = Result<(), Error>> + Send + 'a {
                let $this = self;
                GenericClient::batch_execute($inner, sql)
            }
        })*
    };
}

db_via! {
    tokio_postgres::Client => |db| db,
    tokio_postgres::Transaction<'_> => |db| db,
    deadpool_postgres::Transaction<'_> => |db| &**db,
    deadpool_postgres::Client => |db| &***db,
}
