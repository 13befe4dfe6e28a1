//! Newtypes and aggregates. Raw request bodies become these types at the door; code past a
//! handler never sees an unchecked string.

pub mod masterclass;
pub mod paging;
pub mod staff;
pub mod student;
pub mod test;

/// `raw` trimmed, once its length as sent is within `max` characters. The contract's `maxLength`
/// counts the raw string's characters, so a limit checked only after trimming would accept
/// padded input the contract refuses.
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
