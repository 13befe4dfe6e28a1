//! Reading rows into types, and naming what failed.

use tokio_postgres::Row;

use crate::error::{Error, Result, on_constraint};

/// A type read from a row by column name (never by position, so a reordered `select` cannot
/// swap two fields of the same type).
///
/// A row that maps field by field (each field a column of its name, or `#[from_row(rename)]`)
/// derives `postgres_from_row::FromRow` where the type is declared; this trait covers those, and
/// is written by hand only where a field needs reading (an enum stored as text, a few columns
/// that make one value).
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self>;
}

impl<T: postgres_from_row::FromRow> FromRow for T {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(T::try_from_row(row)?)
    }
}

/// Reads every row of `rows` as `T`.
pub fn all<T: FromRow>(rows: &[Row]) -> Result<Vec<T>> {
    rows.iter().map(T::from_row).collect()
}

/// Turns a failed query into the platform's error, naming what was being done and to which row
/// (`"updating staff account 5c1e…"`): constraint violations become 409/422 answers, an
/// unavailable database a 503, anything else a 500 whose log line says which query failed.
pub fn failed(doing: impl std::fmt::Display) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |err| on_constraint(err, doing.to_string())
}
