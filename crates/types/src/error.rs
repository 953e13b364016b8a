//! The one error type every service's app layer returns, independent of transport.
//!
//! What the user sees (`message`) is kept apart from what the operator needs: the internal
//! `detail` and the `source` chain are logged (see [`Error::report`]), never sent to the
//! client. The HTTP status of each kind and the fault bodies are api-common's
//! (`api_common::fault`); this crate knows nothing of HTTP.

use std::{error::Error as StdError, fmt, sync::Arc};

use crate::{id::Id, kind::Kind, ParseIdError};

pub mod sql;

#[cfg(feature = "axum")]
mod axum;

/// What went wrong, independent of transport. api-common maps each kind to one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Nothing the client accepts can be served (a microversion out of range).
    NotAcceptable,
    RangeNotSatisfiable,
    /// A conditional request's precondition (`If-Match`) does not hold.
    PreconditionFailed,
    /// A body without a length where one is required (Swift's 411).
    LengthRequired,
    /// Well-formed, but its content contradicts what it claims (Swift's 422: a body
    /// whose MD5 is not its `ETag`).
    Unprocessable,
    OverLimit,
    Internal,
    NotImplemented,
    Unavailable,
}

/// The resource a not-found or conflict error is about, for callers that decide on it
/// (answer 404 instead of 403, retry with another id) without reading the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The kind's name ([`Kind::NAME`]).
    pub kind: &'static str,
    pub id: String,
}

/// The source of an error, shared so that [`Error`] stays `Clone`.
pub type Source = Arc<dyn StdError + Send + Sync + 'static>;

/// An error with a message safe to show the user, and what the log needs besides.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    /// Shown to the client in the service's fault body.
    pub message: String,
    /// Logged only: what the code knew when it failed ("column images.status").
    pub detail: Option<String>,
    /// Set by the typed constructors ([`Error::not_found_id`], [`Error::conflict_id`]).
    pub resource: Option<Box<Resource>>,
    /// The service's own name for this error, where its fault body carries one (Neutron's
    /// `NeutronError.type`: `NetworkNotFound`, `IpAddressAlreadyAllocated`).
    pub code: Option<&'static str>,
    /// Logged only: the error this one was caused by, with its own chain.
    source: Option<Source>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Glance's and Keystone's words for a server-side failure.
const INTERNAL_MESSAGE: &str =
    "An unexpected error prevented the server from fulfilling your request.";

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            detail: None,
            resource: None,
            code: None,
            source: None,
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

    /// No resource of kind `K` has this id, in the owning service's words
    /// ([`Kind::not_found_message`]: "No image found with ID ...", "Could not find
    /// project: ...").
    pub fn not_found_id<K: Kind>(id: &Id<K>) -> Self {
        Self::about(ErrorKind::NotFound, K::not_found_message(id.as_str()), id)
    }

    /// A resource of kind `K` with this id already exists ([`Kind::conflict_message`]).
    pub fn conflict_id<K: Kind>(id: &Id<K>) -> Self {
        Self::about(ErrorKind::Conflict, K::conflict_message(id.as_str()), id)
    }

    fn about<K: Kind>(kind: ErrorKind, message: String, id: &Id<K>) -> Self {
        Error {
            resource: Some(Box::new(Resource {
                kind: K::NAME,
                id: id.to_string(),
            })),
            ..Self::new(kind, message)
        }
    }

    /// An internal error: the client sees a generic message, the detail is logged.
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Internal, INTERNAL_MESSAGE).with_detail(detail)
    }

    /// An internal error caused by `source`: the client sees a generic message, the
    /// source and its chain are logged.
    pub fn internal_from(source: impl StdError + Send + Sync + 'static) -> Self {
        Self::new(ErrorKind::Internal, INTERNAL_MESSAGE).with_source(source)
    }

    /// Name the error as the owning service does ([`Error::code`]).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    /// Keep `source` as the cause (for the log): its text never reaches the message.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The same error with another user-facing message, for a service that words a kind
    /// differently from its owner (Nova's "Image ... could not be found.").
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// This error and its causes, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> {
        std::iter::successors(Some(self as &(dyn StdError + 'static)), |e| (*e).source())
    }

    /// The whole chain on one line, for the log: `NotFound: message (detail): cause: ...`.
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }
}

/// [`Error::report`]: the error and every cause, separated by `: `.
///
/// A cause whose text already ends the previous one is left out: some errors (sqlx's
/// among them) paste their source into their own message and return it as `source()`
/// too.
pub struct Report<'a>(&'a Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut previous: Option<String> = None;
        for e in self.0.chain() {
            let text = e.to_string();
            match &previous {
                Some(p) if p.ends_with(&text) => continue,
                Some(_) => write!(f, ": {text}")?,
                None => f.write_str(&text)?,
            }
            previous = Some(text);
        }
        Ok(())
    }
}

/// Only this error, not its causes: they are [`std::error::Error::source`]'s, so that
/// `anyhow` and [`Error::report`] print each once.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// A malformed id from a client is a bad request. Where a malformed id means "no such
/// resource" (a path parameter), the service answers [`Error::not_found`] itself.
impl From<ParseIdError> for Error {
    fn from(e: ParseIdError) -> Self {
        Error::bad_request(format!(
            "Invalid {} id {:?}: {}.",
            e.kind, e.input, e.reason
        ))
    }
}

#[cfg(test)]
mod tests;
