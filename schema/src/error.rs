//! Errors of query resolution, and their GraphQL form.
//!
//! Every error a resolver returns carries a stable `extensions.code`. Database and internal
//! errors reach the client only as "internal error" plus the request id; the cause goes to
//! the log under that id.

use async_graphql::ErrorExtensions;

pub use crate::error_code::ErrorCode;
use sea_orm::{DbErr, RuntimeErr};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("database error: {0}")]
    Database(DbErr),
    /// The database cannot be reached (down, restarting, pool exhausted): worth a retry.
    #[error("the database is unavailable; try again later")]
    Unavailable(DbErr),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{0}")]
    BadInput(String),
    #[error("rate limit exceeded for this operation; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// No such row, or none the caller may see: the two are never told apart.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// The row is not in a state that allows this (a transition out of order).
    #[error("{0}")]
    Conflict(String),
    /// The audit event of a write could not be stored, so the write was rolled back.
    #[error("the audit log cannot be written, so nothing was written; try again later")]
    AuditUnavailable(DbErr),
    /// A refusal with its own stable code (e.g. `TOKEN_LIFETIME_TOO_LONG`), answered 403.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
}

impl From<DbErr> for QueryError {
    fn from(e: DbErr) -> Self {
        if is_unavailable(&e) {
            QueryError::Unavailable(e)
        } else {
            QueryError::Database(e)
        }
    }
}

/// Whether a database error means "cannot reach the database" rather than "bad statement".
pub fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                Sqlx::Io(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed
                | Sqlx::Tls(_)
                | Sqlx::Protocol(_) => true,
                // 08: connection exception, 57: operator intervention, 3D000: no such database.
                Sqlx::Database(d) => d
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c == "3D000"),
                _ => false,
            }
        }
        _ => false,
    }
}

impl QueryError {
    /// The stable `extensions.code`.
    pub fn code(&self) -> ErrorCode {
        match self {
            QueryError::Database(_) | QueryError::Internal(_) => ErrorCode::InternalError,
            QueryError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            QueryError::AuditUnavailable(_) => ErrorCode::AuditUnavailable,
            QueryError::BadInput(_) => ErrorCode::BadUserInput,
            QueryError::RateLimited { .. } => ErrorCode::RateLimited,
            QueryError::NotFound(_) => ErrorCode::NotFound,
            QueryError::Forbidden(_) => ErrorCode::Forbidden,
            QueryError::Conflict(_) => ErrorCode::Conflict,
            QueryError::Refused { code, .. } => *code,
        }
    }

    /// The error as a client sees it. Internal causes are logged, never returned.
    pub fn to_graphql(&self, request_id: &str) -> async_graphql::Error {
        let code = self.code();
        let message = match self {
            _ if !code.shows_message() => {
                tracing::error!(request_id, error = %self, "request failed");
                "internal error".to_owned()
            }
            QueryError::Unavailable(cause) => {
                tracing::error!(request_id, error = %cause, "database unavailable");
                self.to_string()
            }
            QueryError::AuditUnavailable(cause) => {
                tracing::error!(request_id, error = %cause, "write rolled back: no audit event");
                self.to_string()
            }
            other => other.to_string(),
        };
        let request_id = request_id.to_owned();
        let retry_after = match self {
            QueryError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", code.as_str());
            e.set("requestId", request_id.clone());
            if let Some(seconds) = retry_after {
                e.set("retryAfter", seconds);
            }
        })
    }
}
