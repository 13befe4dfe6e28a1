//! The French texts of every message, in one place. Each template names its variables; rendering
//! with one missing is an error (a 422 at the API), never a message with a hole in it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{OffsetDateTime, UtcOffset};

use crate::error::{Error, FieldError};

/// The kinds of message the platform sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    RegistrationConfirmed,
    PreTestResult,
    PostTestInvitation,
    PostTestResult,
    Reminder,
    Custom,
    /// A question of a test taken in the chat (with, first, what the last reply did).
    TestQuestion,
    /// Anything else said in a test taken in the chat (no test open, already taken, expiry).
    TestChat,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegistrationConfirmed => "registration_confirmed",
            Self::PreTestResult => "pre_test_result",
            Self::PostTestInvitation => "post_test_invitation",
            Self::PostTestResult => "post_test_result",
            Self::Reminder => "reminder",
            Self::Custom => "custom",
            Self::TestQuestion => "test_question",
            Self::TestChat => "test_chat",
        }
    }

    /// The template: text with `{variable}` placeholders.
    pub fn template(self) -> &'static str {
        match self {
            Self::RegistrationConfirmed => {
                "Bonjour {prenom}, votre inscription à la masterclass « {masterclass} » du {date} est confirmée. \
                 Pensez à faire le test de début avant la séance : répondez TEST à ce message pour le passer \
                 ici même, sans internet. À bientôt !"
            }
            Self::PreTestResult => {
                "Bonjour {prenom}, merci d'avoir passé le test de début de la masterclass « {masterclass} ». \
                 Votre score : {score}/{max_score}. Rendez-vous le {date} !"
            }
            Self::PostTestInvitation => {
                "Bonjour {prenom}, la masterclass « {masterclass} » est terminée. Faites maintenant le test de fin \
                 pour mesurer vos progrès : répondez TEST à ce message pour le passer ici même."
            }
            Self::PostTestResult => {
                "Bonjour {prenom}, votre résultat au test de fin de la masterclass « {masterclass} » : \
                 {score}/{max_score} (test de début : {pre_score}/{max_score}, progression : {gain}). \
                 Merci pour votre participation !"
            }
            Self::Reminder => {
                "Bonjour {prenom}, rappel : la masterclass « {masterclass} » a lieu le {date}. Nous vous attendons ! \
                 Pas encore fait le test de début ? Répondez TEST à ce message."
            }
            Self::Custom => "{text}",
            Self::TestQuestion => {
                "{intro}Question {numero}/{total} : {question}\n\n{choix}\n\n\
                 Répondez A, B, C ou D. RETOUR : question précédente."
            }
            Self::TestChat => "{text}",
        }
    }
}

/// Fills `message_type`'s template from `data` (an object of strings and numbers).
pub fn render(message_type: MessageType, data: &Value) -> Result<String, Error> {
    let template = message_type.template();
    let mut out = String::with_capacity(template.len() + 64);
    let mut missing = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + end];
        match data.get(name) {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Number(n)) => out.push_str(&n.to_string()),
            _ => missing.push(FieldError::new(
                format!("data.{name}"),
                "is required by this message",
            )),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(Error::Validation(missing))
    }
}

/// Gabon's time zone (West Africa Time, UTC+1, no daylight saving).
pub const GABON: UtcOffset = match UtcOffset::from_hms(1, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("a valid offset"),
};

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// `5 décembre 2026 à 09h00`, in Libreville's time.
pub fn french_date(at: OffsetDateTime) -> String {
    let local = at.to_offset(GABON);
    format!(
        "{} {} {} à {:02}h{:02}",
        local.day(),
        MONTHS[usize::from(u8::from(local.month())) - 1],
        local.year(),
        local.hour(),
        local.minute()
    )
}

/// The first word of a full name, for greetings.
pub fn first_name(full_name: &str) -> &str {
    full_name.split_whitespace().next().unwrap_or(full_name)
}

/// A gain as shown to students: `+3`, `0`, `-1`.
pub fn signed(gain: i32) -> String {
    if gain > 0 {
        format!("+{gain}")
    } else {
        gain.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn a_template_is_filled_from_its_data() {
        let text = render(
            MessageType::PostTestResult,
            &json!({ "prenom": "Awa", "masterclass": "Créer son entreprise", "score": 8, "max_score": 10,
                     "pre_score": 5, "gain": "+3" }),
        )
        .unwrap();
        assert!(text.starts_with("Bonjour Awa, votre résultat"), "{text}");
        assert!(
            text.contains("8/10 (test de début : 5/10, progression : +3)"),
            "{text}"
        );
        assert!(!text.contains('{'));
    }

    #[test]
    fn a_missing_variable_is_named_and_nothing_is_rendered() {
        let Err(Error::Validation(errors)) =
            render(MessageType::Reminder, &json!({ "prenom": "Awa" }))
        else {
            panic!("expected a validation error")
        };
        let fields: Vec<_> = errors.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["data.masterclass", "data.date"]);
    }

    #[test]
    fn dates_are_french_in_libreville_time() {
        assert_eq!(
            french_date(datetime!(2026-12-05 08:00 UTC)),
            "5 décembre 2026 à 09h00"
        );
        assert_eq!(first_name("  Awa Ndong"), "Awa");
        assert_eq!(signed(3), "+3");
        assert_eq!(signed(-1), "-1");
    }
}
