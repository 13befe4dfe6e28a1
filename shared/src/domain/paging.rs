//! Offset paging for listings: `?limit=&offset=`, bounded so no request can ask for everything.

use serde::Deserialize;

use crate::http::{Error, FieldError};

/// Raw query parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PagingQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

impl Paging {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 200;

    pub fn parse(query: &PagingQuery) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let limit = query.limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                format!("must be between 1 and {}", Self::MAX_LIMIT),
            ));
        }
        let offset = query.offset.unwrap_or(0);
        if offset < 0 {
            errors.push(FieldError::new("offset", "must not be negative"));
        }
        if errors.is_empty() {
            Ok(Self { limit, offset })
        } else {
            Err(Error::Validation(errors))
        }
    }
}
