//! `OpError`: what an operation can fail with, by what the caller should do about it. It names
//! no status code; `api/error.rs` maps it to HTTP.

use crate::domain::payload_schema::PayloadRejection;
use crate::store::{ChangeRefused, StoreError};

/// Everything an operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The addressed record does not exist (or is not visible to this principal's kind).
    #[error("{0}")]
    NotFound(&'static str),
    /// The principal may not do this: another application's records, or an admin-only
    /// operation.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A unique value is taken.
    #[error("{0}")]
    Conflict(String),
    /// The message's content was expunged or purged, so there is nothing to send again (Svix
    /// refuses a resend the same way).
    #[error("{0}")]
    PayloadMissing(&'static str),
    /// One input value breaks a rule that only the operation can check (it needs the clock, the
    /// resolver or the record's state).
    #[error("{}", .0.message)]
    Invalid(InvalidField),
    /// The message's payload does not match its event type's enforced schema.
    #[error("the payload does not match the schema of its event type")]
    PayloadRejected(PayloadRejection),
    /// The caller's own change function refused to apply to the current record; its error is
    /// handed back untouched.
    #[error(transparent)]
    Refused(ChangeRefused),
    /// The store failed.
    #[error("store failure")]
    Store(#[source] StoreError),
    /// A broken invariant inside hookd (such as an endpoint without a secret).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Where an input value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPlace {
    Body,
    Path,
    Query,
}

/// One input value that an operation refused: where it is (`Body`, `["deliverAt"]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    pub place: InputPlace,
    pub path: Vec<String>,
    pub message: String,
}

impl OpError {
    /// A refused value of the request body, at `path` below it.
    pub fn invalid_body(path: &[&str], message: impl Into<String>) -> Self {
        Self::invalid(InputPlace::Body, path, message)
    }

    /// A refused segment of the path, by its name (`app_id`).
    pub fn invalid_path(name: &str, message: impl Into<String>) -> Self {
        Self::invalid(InputPlace::Path, &[name], message)
    }

    fn invalid(place: InputPlace, path: &[&str], message: impl Into<String>) -> Self {
        OpError::Invalid(InvalidField {
            place,
            path: path.iter().map(|part| (*part).to_owned()).collect(),
            message: message.into(),
        })
    }
}

impl From<StoreError> for OpError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(message) => OpError::Conflict(message),
            StoreError::NotFound(what) => OpError::NotFound(what),
            other => OpError::Store(other),
        }
    }
}
