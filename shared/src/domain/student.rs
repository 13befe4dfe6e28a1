//! Students as registration requests describe them, parsed at the door.
//!
//! Domain types share shapes: an enum stored and sent as text has a
//! `parse` and an `as_str` of one arm a variant, a draft is a flat struct of optional fields as
//! sent (each with its schema attribute) and its parsed type the same fields checked, a secret's
//! `Debug` names the type and leaves the secret out. Each is the type's own contract; what
//! differs (the names, the values, the limits) is the content.

use phonenumber::{Mode, country};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, format_description::well_known::Iso8601};
use uuid::Uuid;

use super::{Fields, staff::PersonName};
use crate::error::Error;

/// A WhatsApp number in E.164 form (`+24106123456`), parsed by libphonenumber's rules with Gabon
/// as the default region, so local forms (`06 12 34 56`) are understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub const LENGTH: super::Length = super::Length::up_to(32);

    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = super::trim_within(raw, Self::LENGTH.max)?;
        if raw.is_empty() {
            return Err("must be a phone number".into());
        }
        let number = phonenumber::parse(Some(country::Id::GA), raw)
            .map_err(|_| "is not a phone number".to_owned())?;
        if !phonenumber::is_valid(&number) {
            return Err("is not a valid phone number for its country".into());
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    /// The E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but the last three digits hidden, for logs.
    pub fn masked(&self) -> String {
        let digits = self.0.len();
        format!(
            "{}{}",
            "*".repeat(digits.saturating_sub(3)),
            &self.0[digits.saturating_sub(3)..]
        )
    }
}

/// A date of birth: a real date, for someone between 10 and 100 years old today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateOfBirth(Date);

impl DateOfBirth {
    pub fn parse(raw: &str, today: Date) -> Result<Self, String> {
        let date = Date::parse(raw.trim(), &Iso8601::DATE)
            .map_err(|_| "must be a date as YYYY-MM-DD".to_owned())?;
        let age = today.year()
            - date.year()
            - i32::from((today.month(), today.day()) < (date.month(), date.day()));
        if !(10..=100).contains(&age) {
            return Err("must be a date of birth between 10 and 100 years ago".into());
        }
        Ok(Self(date))
    }

    pub fn date(self) -> Date {
        self.0
    }
}

/// `POST /api/inscriptions`, as sent.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationDraft {
    #[schema(required = true, nullable = false, format = Uuid, example = "7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10")]
    pub masterclass_id: Option<String>,
    // Limits: `PersonName::LENGTH`.
    #[schema(required = true, example = "Awa Ndong")]
    pub full_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(required = true, nullable = false, format = Date, example = "2001-04-12")]
    pub date_of_birth: Option<String>,
    // Limits: `Phone::LENGTH`.
    #[schema(
        required = true,
        pattern = r"^\+?[0-9 ()./-]{6,31}$",
        example = "+241 06 12 34 56"
    )]
    pub whatsapp_number: Option<String>,
    /// Must be `true`: the student accepts the privacy notice.
    #[schema(required = true, nullable = false, example = true)]
    pub consent: Option<bool>,
    /// Optional PRE test answers, keyed by question id, as for `POST /api/tests/PRE`.
    #[schema(value_type = Option<std::collections::BTreeMap<String, crate::domain::exam::Choice>>)]
    pub pre_test: Option<std::collections::BTreeMap<String, String>>,
}

/// A checked registration.
#[derive(Debug, Clone)]
pub struct Registration {
    pub masterclass_id: Uuid,
    pub full_name: PersonName,
    pub date_of_birth: DateOfBirth,
    pub whatsapp_number: Phone,
    pub pre_test: Option<super::exam::Answers>,
}

impl Registration {
    pub fn parse(draft: &RegistrationDraft, now: OffsetDateTime) -> Result<Self, Error> {
        let mut fields = Fields::default();
        let masterclass_id = fields.required(
            "masterclass_id",
            draft.masterclass_id.as_deref(),
            super::uuid,
        );
        let full_name = fields.required("full_name", draft.full_name.as_deref(), |raw| {
            PersonName::parse(raw).and_then(|name| {
                if name.as_str().chars().count() < 2 {
                    Err("must be at least 2 characters".into())
                } else {
                    Ok(name)
                }
            })
        });
        let date_of_birth =
            fields.required("date_of_birth", draft.date_of_birth.as_deref(), |raw| {
                DateOfBirth::parse(raw, now.date())
            });
        let whatsapp_number =
            fields.required("whatsapp_number", draft.whatsapp_number.as_ref(), |raw| {
                Phone::parse(raw)
            });
        fields.required("consent", draft.consent.as_ref(), |given| {
            if *given {
                Ok(())
            } else {
                Err("must be true: registration needs consent to the privacy notice".to_owned())
            }
        });
        let pre_test =
            draft
                .pre_test
                .as_ref()
                .and_then(|raw| match super::exam::Answers::parse(raw) {
                    Ok(answers) => Some(answers),
                    Err(bad) => {
                        fields.extend(super::exam::answers_sent_as("pre_test", bad));
                        None
                    }
                });
        fields.finish(|| {
            Some(Self {
                masterclass_id: masterclass_id?,
                full_name: full_name?,
                date_of_birth: date_of_birth?,
                whatsapp_number: whatsapp_number?,
                pre_test,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn local_and_international_gabonese_numbers_become_e164() {
        for raw in [
            "+241 06 61 23 45",
            "06 61 23 45",
            "+24106612345",
            "077 12 34 56",
        ] {
            let phone = Phone::parse(raw);
            assert!(phone.is_ok(), "{raw}: {phone:?}");
            assert!(phone.unwrap().as_str().starts_with("+241"), "{raw}");
        }
        assert_eq!(
            Phone::parse("+33 6 12 34 56 78").unwrap().as_str(),
            "+33612345678"
        );
    }

    #[test]
    fn impossible_numbers_are_refused() {
        for raw in ["", "12", "06 12", "not a number", "+241 99 99 99 99 99 99"] {
            assert!(Phone::parse(raw).is_err(), "{raw}");
        }
        assert_eq!(
            Phone::parse("+24106612345").unwrap().masked(),
            "*********345"
        );
    }

    #[test]
    fn a_date_of_birth_is_a_real_date_in_a_sane_range() {
        let today = date!(2026 - 11 - 21);
        assert!(DateOfBirth::parse("2001-04-12", today).is_ok());
        assert!(DateOfBirth::parse("2001-02-30", today).is_err());
        assert!(DateOfBirth::parse("2020-01-01", today).is_err());
        assert!(DateOfBirth::parse("1900-01-01", today).is_err());
        assert!(DateOfBirth::parse("12/04/2001", today).is_err());
    }

    #[test]
    fn every_bad_registration_field_is_named() {
        let draft = RegistrationDraft {
            masterclass_id: Some("nope".into()),
            full_name: Some(" ".into()),
            date_of_birth: Some("2001-13-01".into()),
            whatsapp_number: Some("123".into()),
            consent: Some(false),
            pre_test: None,
        };
        let Err(Error::Validation(errors)) =
            Registration::parse(&draft, datetime!(2026-11-21 10:00 UTC))
        else {
            panic!("expected a validation error")
        };
        let mut fields: Vec<_> = errors.into_iter().map(|e| e.field).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "consent",
                "date_of_birth",
                "full_name",
                "masterclass_id",
                "whatsapp_number"
            ]
        );
    }
}
