//! Every `extensions.code` the gateway answers with, in one place: its name, the HTTP status of
//! a request refused with it, what it does to the status when it comes from inside an
//! operation, and whether its message is the caller's to read. `docs/errors.md` lists them
//! (a test compares the two).

/// What an error raised inside an operation does to the HTTP status of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InOperation {
    /// A field error next to the other data: 200.
    FieldError,
    /// Refuses the operation: 403 when nothing else was answered.
    Refusal,
    /// The server's trouble, not the request's: 503, retry later.
    Unavailable,
    /// Over a limit: 429 with `Retry-After`.
    RateLimited,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $status:literal, $in_operation:ident; )*) => {
        /// A stable error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as clients see it (`TOKEN_EXPIRED`).
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            /// The HTTP status of a request refused with this code before execution.
            pub fn request_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// What this code does to the status when an operation raises it.
            pub fn in_operation(self) -> InOperation {
                match self { $(ErrorCode::$variant => InOperation::$in_operation,)* }
            }
        }
    };
}

error_codes! {
    /// No `Authorization: Bearer` header.
    TokenMissing = "TOKEN_MISSING", 401, Refusal;
    TokenInvalid = "TOKEN_INVALID", 401, Refusal;
    TokenExpired = "TOKEN_EXPIRED", 401, Refusal;
    TokenNotYetValid = "TOKEN_NOT_YET_VALID", 401, Refusal;
    TokenIssuerInvalid = "TOKEN_ISSUER_INVALID", 401, Refusal;
    TokenAudienceInvalid = "TOKEN_AUDIENCE_INVALID", 401, Refusal;
    /// A role the policy does not have (401 on a request's token, 403 at `issueToken`).
    TokenRoleUnknown = "TOKEN_ROLE_UNKNOWN", 401, Refusal;
    TokenScopeNotInRole = "TOKEN_SCOPE_NOT_IN_ROLE", 403, Refusal;
    RouterTokenInvalid = "ROUTER_TOKEN_INVALID", 401, Refusal;
    TokenRevoked = "TOKEN_REVOKED", 401, Refusal;
    TokenStatusUnavailable = "TOKEN_STATUS_UNAVAILABLE", 503, Unavailable;
    TokenLifetimeTooLong = "TOKEN_LIFETIME_TOO_LONG", 403, Refusal;
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", 415, Refusal;
    RequestTooLarge = "REQUEST_TOO_LARGE", 413, Refusal;
    BadRequest = "BAD_REQUEST", 400, Refusal;
    GraphqlParseFailed = "GRAPHQL_PARSE_FAILED", 400, Refusal;
    GraphqlValidationFailed = "GRAPHQL_VALIDATION_FAILED", 400, FieldError;
    MaxInputDepthLimit = "MAX_INPUT_DEPTH_LIMIT", 400, Refusal;
    CostEstimatedTooExpensive = "COST_ESTIMATED_TOO_EXPENSIVE", 400, Refusal;
    MaxAliasesLimit = "MAX_ALIASES_LIMIT", 400, Refusal;
    MaxRootFieldsLimit = "MAX_ROOT_FIELDS_LIMIT", 400, Refusal;
    OperationResolutionFailure = "OPERATION_RESOLUTION_FAILURE", 400, Refusal;
    ResponseTooLarge = "RESPONSE_TOO_LARGE", 400, Refusal;
    MethodNotAllowed = "METHOD_NOT_ALLOWED", 405, Refusal;
    /// The caller's input cannot be used (a field error inside an operation).
    BadUserInput = "BAD_USER_INPUT", 400, FieldError;
    /// No such row, or none the caller may see: never told apart.
    NotFound = "NOT_FOUND", 404, FieldError;
    Forbidden = "FORBIDDEN", 403, Refusal;
    /// A transition out of order.
    Conflict = "CONFLICT", 409, FieldError;
    RateLimited = "RATE_LIMITED", 429, RateLimited;
    AuditUnavailable = "AUDIT_UNAVAILABLE", 503, Unavailable;
    ServiceUnavailable = "SERVICE_UNAVAILABLE", 503, Unavailable;
    ShuttingDown = "SHUTTING_DOWN", 503, Unavailable;
    /// Anything unexpected: the cause is logged under the request id, never shown.
    InternalError = "INTERNAL_ERROR", 500, FieldError;
}

impl ErrorCode {
    /// The code named `name`, if it is one.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        Self::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// Whether the error's own message is shown to the caller; otherwise the answer says
    /// "internal error" and the cause goes to the log.
    pub fn shows_message(self) -> bool {
        self != ErrorCode::InternalError
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
