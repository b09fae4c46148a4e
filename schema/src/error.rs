//! Errors of query resolution, and their GraphQL form.
//!
//! Every error a resolver returns carries a stable `extensions.code`. Database and internal
//! errors reach the client only as "internal error" plus the request id; the cause goes to
//! the log under that id.

use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{0}")]
    BadInput(String),
    #[error("rate limit exceeded for this operation; try again later")]
    RateLimited,
}

impl QueryError {
    /// The stable `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Database(_) | QueryError::Internal(_) => "INTERNAL_ERROR",
            QueryError::BadInput(_) => "BAD_USER_INPUT",
            QueryError::RateLimited => "RATE_LIMITED",
        }
    }

    /// The error as a client sees it. Internal causes are logged, never returned.
    pub fn to_graphql(&self, request_id: &str) -> async_graphql::Error {
        let code = self.code();
        let message = match self {
            QueryError::Database(_) | QueryError::Internal(_) => {
                tracing::error!(request_id, error = %self, "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let request_id = request_id.to_owned();
        async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", code);
            e.set("requestId", request_id.clone());
        })
    }
}
