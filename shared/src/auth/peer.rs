//! Sync peers' secrets: made by the remote when an admin creates a peer, shown once, stored as
//! their SHA-256 (as student tokens are), and presented by the peer as a bearer token.

use super::student_token;

/// Every peer secret starts with this, so it is told apart from other tokens.
pub const PREFIX: &str = "msp_";

/// A new secret, in clear: only ever in the response that creates the peer.
pub fn generate() -> String {
    student_token::random(PREFIX)
}

/// The stored form of a presented secret.
pub fn hash(secret: &str) -> Vec<u8> {
    student_token::hash(secret)
}
