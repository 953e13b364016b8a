//! The one error type every service's app layer returns.
//!
//! The user-facing `message` is kept apart from the internal `detail`: the detail (and the
//! source chain) is logged, never sent to the client.

use std::fmt;

/// What went wrong, independent of transport. Each kind maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Gone,
    PayloadTooLarge,
    UnsupportedMediaType,
    RangeNotSatisfiable,
    OverLimit,
    Internal,
    NotImplemented,
    Unavailable,
}

impl ErrorKind {
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ErrorKind::BadRequest => S::BAD_REQUEST,
            ErrorKind::Unauthenticated => S::UNAUTHORIZED,
            ErrorKind::Forbidden => S::FORBIDDEN,
            ErrorKind::NotFound => S::NOT_FOUND,
            ErrorKind::MethodNotAllowed => S::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => S::CONFLICT,
            ErrorKind::Gone => S::GONE,
            ErrorKind::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => S::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::RangeNotSatisfiable => S::RANGE_NOT_SATISFIABLE,
            ErrorKind::OverLimit => S::PAYLOAD_TOO_LARGE,
            ErrorKind::Internal => S::INTERNAL_SERVER_ERROR,
            ErrorKind::NotImplemented => S::NOT_IMPLEMENTED,
            ErrorKind::Unavailable => S::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error with a message safe to show the user and an optional internal detail.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    /// Shown to the client in the service's fault body.
    pub message: String,
    /// Logged only.
    pub detail: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            detail: None,
        }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, m)
    }
    pub fn unauthenticated(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, m)
    }
    pub fn over_limit(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::OverLimit, m)
    }
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, m)
    }
    /// An internal error: the client sees a generic message, the detail is logged.
    pub fn internal(detail: impl fmt::Display) -> Self {
        Error {
            kind: ErrorKind::Internal,
            message: "An unexpected error prevented the server from fulfilling your request."
                .into(),
            detail: Some(detail.to_string()),
        }
    }
    pub fn with_detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }
    pub fn status(&self) -> http::StatusCode {
        self.kind.status()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Error::not_found("Could not find the requested resource."),
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::conflict(
                "Conflict occurred attempting to store the resource: it already exists.",
            )
            .with_detail(e),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                Error::unavailable("The database is not available.").with_detail(e)
            }
            _ => Error::internal(e),
        }
    }
}
