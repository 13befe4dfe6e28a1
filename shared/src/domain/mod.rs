//! Newtypes and aggregates. Raw request bodies become these types at the door; code past a
//! handler never sees an unchecked string.
//!
//! Domain types share shapes: an enum stored and sent as text has a
//! `parse` and an `as_str` of one arm a variant, a draft is a flat struct of optional fields as
//! sent (each with its schema attribute) and its parsed type the same fields checked, a secret's
//! `Debug` names the type and leaves the secret out. Each is the type's own contract; what
//! differs (the names, the values, the limits) is the content.

pub mod chat;
pub mod exam;
pub mod masterclass;
pub mod origin;
pub mod paging;
pub mod staff;
pub mod student;

use crate::error::{Error, FieldError};

/// What is wrong with a request's fields, collected so that one answer names every bad field.
/// Every parser of a draft reads its fields through it the same way: [`required`](Self::required)
/// or [`optional`](Self::optional) for each, then [`finish`](Self::finish) builds the checked
/// value from what parsed, or answers every error at once.
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    /// A field that must be present: absent is "is required"; present, `parse` decides.
    pub fn required<R: ?Sized, T>(
        &mut self,
        field: &str,
        raw: Option<&R>,
        parse: impl FnOnce(&R) -> Result<T, String>,
    ) -> Option<T> {
        match raw {
            None => {
                self.invalid(field, "is required");
                None
            }
            Some(raw) => self.check(field, parse(raw)),
        }
    }

    // `required` and `optional` share a signature: what they do with an absent field is the
    // difference.
    /// A field that may be absent (then `None`, and nothing is wrong).
    pub fn optional<R: ?Sized, T>(
        &mut self,
        field: &str,
        raw: Option<&R>,
        parse: impl FnOnce(&R) -> Result<T, String>,
    ) -> Option<T> {
        raw.and_then(|raw| self.check(field, parse(raw)))
    }

    /// The value of `result`, or its message recorded against `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.invalid(field, message)).ok()
    }

    /// Records that `field` is wrong.
    pub fn invalid(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records errors a nested parser found.
    pub fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        self.0.extend(errors);
    }

    /// The value `build` makes from the parsed fields (`None` when one is missing), if nothing
    /// was wrong; otherwise a 422 naming every error.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Error> {
        if !self.0.is_empty() {
            return Err(Error::Validation(self.0));
        }
        // A field that parsed to nothing has recorded why; this is a parser that forgot to.
        build().ok_or_else(|| Error::field("body", "is incomplete"))
    }
}

/// A UUID, as a field's parser.
pub fn uuid(raw: &str) -> Result<uuid::Uuid, String> {
    uuid::Uuid::parse_str(raw.trim()).map_err(|_| "must be a UUID".to_owned())
}

/// `raw` trimmed, once its length as sent is within `max` characters. The contract's `maxLength`
/// counts the raw string's characters, so a limit checked only after trimming would accept
/// padded input the contract refuses.
/// How many characters a text field may hold. Each limit is declared once, as a constant on the
/// type that parses the field (`Title::LENGTH`, `NewQuestion::TEXT`...): the parser checks it,
/// the OpenAPI document shows it (`http::openapi` writes every one into its schema), and the
/// question generator's validator applies the question's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length {
    /// At least this many after trimming (0: no minimum).
    pub min: usize,
    /// At most this many as sent.
    pub max: usize,
}

impl Length {
    pub const fn new(min: usize, max: usize) -> Self {
        Self { min, max }
    }

    pub const fn up_to(max: usize) -> Self {
        Self { min: 0, max }
    }

    pub fn contains(self, count: usize) -> bool {
        (self.min..=self.max).contains(&count)
    }
}

pub(crate) fn trim_within(raw: &str, max: usize) -> Result<&str, String> {
    if raw.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(raw.trim())
}

pub use masterclass::{
    Description, MasterclassDraft, MasterclassPatch, NewMasterclass, Schedule, Title,
};
pub use paging::Paging;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_name_every_error_and_build_only_when_there_is_none() {
        let mut fields = Fields::default();
        let id = fields.required("id", Some("pas un uuid"), uuid);
        let missing = fields.required::<str, uuid::Uuid>("other", None, uuid);
        let absent = fields.optional::<str, uuid::Uuid>("maybe", None, uuid);
        assert!(id.is_none() && missing.is_none() && absent.is_none());
        let Err(Error::Validation(errors)) = fields.finish(|| Some(())) else {
            panic!("two fields are wrong")
        };
        let named: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["id", "other"]);

        let mut fields = Fields::default();
        let id = fields.required("id", Some(" 7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10 "), uuid);
        assert_eq!(
            fields.finish(|| id).unwrap().to_string(),
            "7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10"
        );
    }
}
