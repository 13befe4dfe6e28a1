//! Newtypes and aggregates. Raw request bodies become these types at the door; code past a
//! handler never sees an unchecked string.

pub mod masterclass;
pub mod paging;
pub mod staff;
pub mod student;
pub mod test;

pub use masterclass::{
    Description, MasterclassDraft, MasterclassPatch, NewMasterclass, Schedule, Title,
};
pub use paging::Paging;
