//! Masterclasses: a free course with a schedule and, once uploaded, a PDF handout.
//!
//! Domain types share shapes: an enum stored and sent as text has a
//! `parse` and an `as_str` of one arm a variant, a draft is a flat struct of optional fields as
//! sent (each with its schema attribute) and its parsed type the same fields checked, a secret's
//! `Debug` names the type and leaves the secret out. Each is the type's own contract; what
//! differs (the names, the values, the limits) is the content.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

use super::Fields;
use crate::error::{Error, FieldError};

/// A masterclass title: trimmed, 3 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub const LENGTH: super::Length = super::Length::new(3, 200);

    pub fn parse(raw: &str) -> Result<Self, String> {
        let title = super::trim_within(raw, Self::LENGTH.max)?;
        if title.chars().count() < Self::LENGTH.min {
            return Err(format!("must be at least {} characters", Self::LENGTH.min));
        }
        if title.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A masterclass description: trimmed, at most 5000 characters (line breaks allowed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub const LENGTH: super::Length = super::Length::up_to(5000);

    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = super::trim_within(raw, Self::LENGTH.max)?;
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err("must not contain control characters".into());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// When a masterclass runs: it ends after it starts, and lasts at most 14 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
}

impl Schedule {
    pub const MAX_LENGTH: Duration = Duration::days(14);

    pub fn new(starts_at: OffsetDateTime, ends_at: OffsetDateTime) -> Result<Self, FieldError> {
        if ends_at <= starts_at {
            return Err(FieldError::new("ends_at", "must be after starts_at"));
        }
        if ends_at - starts_at > Self::MAX_LENGTH {
            return Err(FieldError::new(
                "ends_at",
                "a masterclass lasts at most 14 days",
            ));
        }
        Ok(Self { starts_at, ends_at })
    }

    pub fn starts_at(&self) -> OffsetDateTime {
        self.starts_at
    }

    pub fn ends_at(&self) -> OffsetDateTime {
        self.ends_at
    }
}

/// The request body for creating or changing a masterclass, as sent. Every field is optional
/// here so that all missing and malformed fields are reported at once by the parsers below.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MasterclassDraft {
    // Limits: `Title::LENGTH` (written into the document by `http::openapi`).
    #[schema(example = "Créer et gérer son entreprise au Gabon")]
    pub title: Option<String>,
    // Limits: `Description::LENGTH`.
    pub description: Option<String>,
    /// RFC 3339 timestamp with offset, e.g. `2026-12-05T09:00:00+01:00`.
    #[schema(format = DateTime, example = "2026-12-05T09:00:00+01:00")]
    pub starts_at: Option<String>,
    #[schema(format = DateTime, example = "2026-12-05T13:00:00+01:00")]
    pub ends_at: Option<String>,
    pub published: Option<bool>,
}

/// A checked new masterclass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMasterclass {
    pub title: Title,
    pub description: Description,
    pub schedule: Schedule,
    pub published: bool,
}

/// A checked partial change. The schedule is checked against the stored one when applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterclassPatch {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub starts_at: Option<OffsetDateTime>,
    pub ends_at: Option<OffsetDateTime>,
    pub published: Option<bool>,
}

/// An RFC 3339 timestamp with an offset, in the years 2000 to 2100.
fn time(raw: &str) -> Result<OffsetDateTime, String> {
    match OffsetDateTime::parse(raw.trim(), &Rfc3339) {
        Ok(t) if (2000..=2100).contains(&t.year()) => Ok(t),
        Ok(_) => Err("must be between the years 2000 and 2100".into()),
        Err(_) => Err("must be an RFC 3339 timestamp with an offset".into()),
    }
}

impl MasterclassPatch {
    /// Parses the fields that are present; absent fields stay unchanged.
    pub fn parse(draft: &MasterclassDraft) -> Result<Self, Error> {
        let mut fields = Fields::default();
        let patch = Self {
            title: fields.optional("title", draft.title.as_deref(), Title::parse),
            description: fields.optional(
                "description",
                draft.description.as_deref(),
                Description::parse,
            ),
            starts_at: fields.optional("starts_at", draft.starts_at.as_deref(), time),
            ends_at: fields.optional("ends_at", draft.ends_at.as_deref(), time),
            published: draft.published,
        };
        fields.finish(|| Some(patch))
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl NewMasterclass {
    /// Parses a creation request: title, starts_at and ends_at are required.
    pub fn parse(draft: &MasterclassDraft) -> Result<Self, Error> {
        let mut fields = Fields::default();
        let title = fields.required("title", draft.title.as_deref(), Title::parse);
        let description = fields.optional(
            "description",
            draft.description.as_deref(),
            Description::parse,
        );
        let starts_at = fields.required("starts_at", draft.starts_at.as_deref(), time);
        let ends_at = fields.required("ends_at", draft.ends_at.as_deref(), time);
        let (title, starts_at, ends_at) = fields.finish(|| Some((title?, starts_at?, ends_at?)))?;
        let schedule = Schedule::new(starts_at, ends_at).map_err(|e| Error::Validation(vec![e]))?;
        Ok(Self {
            title,
            description: description.unwrap_or_default(),
            schedule,
            published: draft.published.unwrap_or(false),
        })
    }
}

/// A stored masterclass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masterclass {
    pub id: uuid::Uuid,
    pub title: String,
    pub description: String,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
    pub published: bool,
    pub pdf: Option<StoredPdf>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The confirmed PDF handout of a masterclass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPdf {
    pub key: String,
    pub size: i64,
    pub uploaded_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(title: &str, starts: &str, ends: &str) -> MasterclassDraft {
        MasterclassDraft {
            title: Some(title.into()),
            starts_at: Some(starts.into()),
            ends_at: Some(ends.into()),
            ..Default::default()
        }
    }

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_title_keeps_its_accents_and_loses_its_outer_spaces() {
        let title = Title::parse("  Créer son entreprise à Libreville ").unwrap();
        assert_eq!(title.as_str(), "Créer son entreprise à Libreville");
    }

    #[test]
    fn a_title_is_counted_in_characters_not_bytes() {
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert!(Title::parse(&"é".repeat(201)).is_err());
        assert!(Title::parse("ab").is_err());
    }

    #[test]
    fn every_missing_and_bad_field_is_named_at_once() {
        let bad = MasterclassDraft {
            title: Some("x".into()),
            ends_at: Some("demain".into()),
            ..Default::default()
        };
        let mut named = fields(NewMasterclass::parse(&bad).unwrap_err());
        named.sort();
        assert_eq!(named, ["ends_at", "starts_at", "title"]);
    }

    #[test]
    fn a_masterclass_must_end_after_it_starts() {
        let err = NewMasterclass::parse(&draft(
            "Gestion",
            "2026-12-05T10:00:00Z",
            "2026-12-05T09:00:00Z",
        ))
        .unwrap_err();
        assert_eq!(fields(err), ["ends_at"]);
    }

    #[test]
    fn a_valid_draft_parses_with_offsets_kept_as_instants() {
        let new = NewMasterclass::parse(&draft(
            "Gestion",
            "2026-12-05T09:00:00+01:00",
            "2026-12-05T12:00:00+01:00",
        ))
        .unwrap();
        assert_eq!(
            new.schedule.ends_at() - new.schedule.starts_at(),
            Duration::hours(3)
        );
        assert!(!new.published);
    }
}
