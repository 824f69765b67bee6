//! Errors are split in two: what a client may see (a stable code and a safe message) and what
//! only the logs may see. Every internal failure is logged here, once, and leaves as `INTERNAL`.

use std::fmt;

use async_graphql::ErrorExtensions;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The stable `extensions.code` values of `shared/DESIGN.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadUserInput,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::BadUserInput,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error whose message is safe to show to any client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The input field at fault, for `BAD_USER_INPUT`.
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::BadUserInput,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "authentication required")
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "you are not allowed to do this")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn rate_limited() -> Self {
        Self::new(ErrorCode::RateLimited, "too many attempts, try again later")
    }

    pub fn unavailable() -> Self {
        Self::new(ErrorCode::Unavailable, "service temporarily unavailable")
    }

    /// Logs the real cause and returns the opaque error a client may see.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }
}

// ApiError deliberately implements neither Display nor std::error::Error: async-graphql turns
// any Display type into an error by printing it, which is how internal text leaks to clients.
// Resolvers return `Result<_, ApiError>`, and this is the only way into a GraphQL error.
impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        let field = err.field.clone();
        async_graphql::Error::new(err.message).extend_with(|_, ext| {
            ext.set("code", err.code.as_str());
            if let Some(field) = &field {
                ext.set("field", field.as_str());
            }
        })
    }
}

/// The JSON body of an error on the REST routes: `{"error": {"code": ..., "message": ...}}`.
#[derive(Serialize)]
struct RestErrorBody<'a> {
    error: RestError<'a>,
}

#[derive(Serialize)]
struct RestError<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = RestErrorBody {
            error: RestError {
                code: self.code.as_str(),
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        (self.code.http_status(), axum::Json(body)).into_response()
    }
}

/// Gives every error in a GraphQL response a code. Errors raised by the GraphQL engine itself
/// (syntax, validation, argument coercion) carry none, and they are all the client's doing.
pub fn ensure_error_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", ErrorCode::BadUserInput.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::internal("connection refused to 10.0.0.3:5432 with password hunter2");
        assert_eq!(err.code, ErrorCode::Internal);
        assert_eq!(err.message, "internal error");
    }

    #[test]
    fn graphql_errors_carry_code_and_field() {
        let gql: async_graphql::Error = ApiError::bad_input("email", "not an email address").into();
        let ext = gql.extensions.expect("extensions");
        assert_eq!(
            ext.get("code").map(|v| v.to_string()),
            Some("\"BAD_USER_INPUT\"".into())
        );
        assert_eq!(
            ext.get("field").map(|v| v.to_string()),
            Some("\"email\"".into())
        );
    }
}
