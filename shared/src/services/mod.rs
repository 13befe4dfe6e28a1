//! Use cases: what a route does, expressed with the domain types, the queries and the store.
//! Handlers parse the request, call one of these, and render the result.

pub mod exams;
pub mod generation;
pub mod masterclasses;
pub mod photos;
pub mod questions;
pub mod registration;
pub mod staff;
pub mod students;
