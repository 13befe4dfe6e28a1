//! Who is calling: staff passwords, staff JWTs, student access tokens, and the [`Caller`] whose
//! claims every request transaction hands to Postgres for row-level security.
//!
//! Authentication happens here, once; authorization on data happens in Postgres (see
//! `migrations/0002_auth.sql`). The extractors that put these to work are in
//! [`crate::http::auth`].

pub mod jwt;
pub mod password;
pub mod peer;
pub mod student_token;

use serde_json::{Value, json};
use uuid::Uuid;

/// A staff role.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Tuteur,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Tuteur => "tuteur",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Self::Admin),
            "tuteur" => Some(Self::Tuteur),
            _ => None,
        }
    }
}

/// A staff member whose token was verified and whose account is active right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffIdentity {
    pub id: Uuid,
    pub role: Role,
    pub email: String,
}

/// A student whose access token opened one inscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StudentIdentity {
    pub inscription_id: Uuid,
    pub profile_id: Uuid,
    pub masterclass_id: Uuid,
}

/// Whoever is behind a request, as Postgres policies see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    Staff(StaffIdentity),
    Student(StudentIdentity),
    /// The platform itself: an operator command (`create-admin`), a scheduled job, a verified
    /// provider webhook. Acts as an admin.
    System,
    /// An anonymous registration, which may create only the profile of this number and its
    /// inscriptions (the narrow path of `POST /api/inscriptions`).
    Registrar {
        whatsapp_number: String,
    },
    /// Another instance of the platform syncing with this one (a venue server with its cloud):
    /// reads and writes every synced row, as replication (see `sync::peer`). On the side that
    /// runs the sync, the same caller applies what was pulled, the id being its remote's.
    Peer(Uuid),
    /// A backup: reads every row of every table (one select policy per table, migration 0016),
    /// writes nothing.
    Backup,
}

impl Caller {
    /// The claims set in `request.jwt.claims` for this caller's transactions. Built from verified
    /// identities only, never copied from a token.
    pub fn claims(&self) -> Value {
        match self {
            Self::Anonymous => json!({ "role": "anon" }),
            Self::Staff(staff) => {
                json!({ "role": staff.role.as_str(), "sub": staff.id, "email": staff.email })
            }
            Self::Student(student) => json!({
                "role": "student",
                "sub": student.profile_id,
                "inscription_id": student.inscription_id,
                "masterclass_id": student.masterclass_id,
            }),
            Self::System => json!({ "role": "admin", "system": true }),
            Self::Registrar { whatsapp_number } => {
                json!({ "role": "registrar", "whatsapp_number": whatsapp_number })
            }
            Self::Peer(id) => json!({ "role": "admin", "sub": id, "replication": true }),
            Self::Backup => json!({ "role": "backup" }),
        }
    }

    /// True for staff (admin or tutor).
    pub fn is_staff(&self) -> bool {
        matches!(self, Self::Staff(_) | Self::System)
    }
}
