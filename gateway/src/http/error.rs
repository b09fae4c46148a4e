//! The one place where errors become HTTP responses: a GraphQL-over-HTTP error body with a
//! stable `extensions.code`, and the matching status.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use schema::error_code::ErrorCode;
use serde_json::json;

use crate::auth::AuthError;

pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// Errors that end a request before GraphQL execution.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request is not a valid GraphQL-over-HTTP request: {0}")]
    BadRequest(String),
    #[error("the GraphQL document does not parse: {0}")]
    Parse(String),
    #[error("only queries may be sent with GET; use POST")]
    MutationOverGet,
    #[error("this role has no schema")]
    NoSchema,
    #[error("the audit log cannot be written, so no answer can be given; try again later")]
    AuditUnavailable,
    #[error("{0}")]
    Limit(#[from] schema::limits::LimitError),
    #[error("{0}")]
    BadUserInput(String),
    #[error("the answer would be larger than {limit} bytes; ask for fewer rows or fields")]
    ResponseTooLarge { limit: usize },
    #[error("rate limit of {} {} per minute exceeded; try again in {} s", .0.limit, .0.what, retry_seconds(.0))]
    RateLimited(super::rate_limit::Exceeded),
    #[error("internal error")]
    Internal,
    #[error("the gateway is busy with expensive operations; try again shortly")]
    Busy,
    #[error("the gateway is shutting down and this request did not finish in time; try again")]
    ShuttingDown,
}

fn retry_seconds(e: &super::rate_limit::Exceeded) -> u64 {
    e.retry_after.as_secs_f64().ceil().max(1.0) as u64
}

impl RequestError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RequestError::Auth(e) => e.code(),
            RequestError::BodyTooLarge(_) => ErrorCode::RequestTooLarge,
            RequestError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            RequestError::BadRequest(_) => ErrorCode::BadRequest,
            RequestError::Parse(_) => ErrorCode::GraphqlParseFailed,
            RequestError::MutationOverGet => ErrorCode::MethodNotAllowed,
            RequestError::NoSchema => ErrorCode::Forbidden,
            RequestError::AuditUnavailable => ErrorCode::AuditUnavailable,
            RequestError::Limit(e) => e.code(),
            RequestError::BadUserInput(_) => ErrorCode::BadUserInput,
            RequestError::ResponseTooLarge { .. } => ErrorCode::ResponseTooLarge,
            RequestError::RateLimited(_) => ErrorCode::RateLimited,
            RequestError::Internal => ErrorCode::InternalError,
            RequestError::Busy => ErrorCode::ServiceUnavailable,
            RequestError::ShuttingDown => ErrorCode::ShuttingDown,
        }
    }

    /// The status the code owns (`ErrorCode::request_status`).
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().request_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Whether this refusal comes before execution for a reason that is counted rather than
    /// audited one by one (no token, a bad token, a rate limit).
    pub fn is_counted_refusal(&self) -> bool {
        match self {
            RequestError::Auth(AuthError::ScopeNotInRole(_)) => false,
            RequestError::Auth(_) | RequestError::RateLimited(_) => true,
            _ => false,
        }
    }

    pub fn response(&self, request_id: &str) -> HttpResponse {
        let mut extensions = json!({ "code": self.code().as_str(), "requestId": request_id });
        match self {
            RequestError::Limit(e) => {
                for (key, value) in e.details() {
                    extensions[key] = json!(value);
                }
            }
            RequestError::ResponseTooLarge { limit } => extensions["limit"] = json!(limit),
            RequestError::RateLimited(e) => {
                extensions["retryAfter"] = json!(retry_seconds(e));
                extensions["limit"] = json!(e.limit);
            }
            _ => {}
        }
        let body = json!({
            "errors": [{
                "message": self.to_string(),
                "extensions": extensions
            }]
        });
        let mut response = HttpResponse::build(self.status());
        response
            .content_type(GRAPHQL_RESPONSE)
            .insert_header(("x-request-id", request_id));
        match self {
            RequestError::Auth(_) => {
                // A refused token (revoked, expired, …) also loses the keep-alive connection
                // it came on: the client must connect again, with a valid token.
                response.force_close();
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"pora\""),
                ));
            }
            RequestError::MutationOverGet => {
                response.insert_header((header::ALLOW, HeaderValue::from_static("POST")));
            }
            RequestError::AuditUnavailable => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            RequestError::Busy => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            RequestError::ShuttingDown => {
                // Another replica (or this one, restarted) takes the retry.
                response.force_close();
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            RequestError::RateLimited(e) => {
                let seconds = retry_seconds(e).to_string();
                response
                    .insert_header((header::RETRY_AFTER, seconds.clone()))
                    .insert_header(("RateLimit-Limit", e.limit.to_string()))
                    .insert_header(("RateLimit-Remaining", "0"))
                    .insert_header(("RateLimit-Reset", seconds));
            }
            _ => {}
        }
        response.body(body.to_string())
    }
}
