//! Types that cross the store boundary: the rows and views `db` returns and the filters it
//! reads them with, shown by the use cases above it, and the sync protocol's records, clocks
//! and merge rules ([`sync`]). They stand below `db`, so that a query
//! never imports the layer that calls it.

pub mod audit;
pub mod outbox;
pub mod privacy;
pub mod stats;
pub mod students;
pub mod sync;
