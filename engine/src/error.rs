//! The engine's one error type. It carries a transport-free [`ErrorKind`] that the API maps to
//! an HTTP status in a single `match`, a message safe to show to the client, and an optional
//! cause chain that is logged at the boundary but never sent to the client.

use std::fmt;

/// What went wrong, independent of any transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is malformed or fails validation (HTTP 400/422).
    Invalid,
    /// The input is well formed but cannot be processed as given (HTTP 422).
    Unprocessable,
    /// The thing does not exist, or belongs to another organization (HTTP 404).
    NotFound,
    /// The request conflicts with the current state (HTTP 409).
    Conflict,
    /// Missing or bad credentials (HTTP 401).
    Unauthorized,
    /// Authenticated, but not allowed to touch this (HTTP 403).
    Forbidden,
    /// The body or file is too large (HTTP 413).
    TooLarge,
    /// The media type is not supported (HTTP 415).
    UnsupportedMediaType,
    /// A rate limit or quota is exhausted (HTTP 429); `retry_after_secs` says when to retry.
    RateLimited { retry_after_secs: u64 },
    /// A dependency is down; retrying later may help (HTTP 503).
    Unavailable,
    /// A bug or an unexpected failure (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// Tells whether retrying the same operation later can succeed.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::RateLimited { .. })
    }
}

/// An error with a kind, a client-safe message and an optional cause.
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnsupportedMediaType, message)
    }

    pub fn rate_limited(retry_after_secs: u64, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::RateLimited { retry_after_secs }, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Attaches the underlying cause (logged, never shown to clients).
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message that may be shown to a client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message followed by every cause, for logs.
    pub fn chain(&self) -> String {
        let mut out = self.message.clone();
        let mut next: Option<&(dyn std::error::Error + 'static)> =
            self.source.as_deref().map(|e| e as _);
        while let Some(cause) = next {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            next = cause.source();
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.chain())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Error::not_found("not found").with_source(err),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::unavailable("the database is unavailable").with_source(err)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::conflict("that already exists").with_source(err)
            }
            _ => Error::internal("a database operation failed").with_source(err),
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a client-safe message to a foreign error, keeping it as the cause.
pub trait ResultExt<T> {
    fn or_internal(self, message: &str) -> Result<T>;
}

impl<T, E> ResultExt<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn or_internal(self, message: &str) -> Result<T> {
        self.map_err(|e| Error::internal(message.to_owned()).with_source(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_includes_causes_but_the_message_does_not() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::internal("saving failed").with_source(io);
        assert_eq!(err.message(), "saving failed");
        assert_eq!(err.chain(), "saving failed: disk on fire");
    }

    #[test]
    fn unavailable_and_rate_limited_are_transient() {
        assert!(ErrorKind::Unavailable.is_transient());
        assert!(ErrorKind::RateLimited {
            retry_after_secs: 1
        }
        .is_transient());
        assert!(!ErrorKind::Invalid.is_transient());
    }
}
