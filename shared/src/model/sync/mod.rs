//! The sync protocol's records as the store keeps them and instances exchange them: the wire
//! types ([`wire`]), hybrid logical clocks ([`hlc`]) and the per-field merge ([`merge`]), clocks
//! and fields as stored ([`codec`]), and the peers and runs of instance sync ([`peers`]). The
//! protocol itself (push, pull, a run) is `sync`'s.

pub mod codec;
pub mod hlc;
pub mod merge;
pub mod peers;
pub mod wire;

pub use codec::{Fields, clocks_from_json, clocks_to_json, millis};
pub use hlc::{Clock, Hlc};
pub use wire::*;
