//! The inbound gateway's part of the store contract: sources, and the durable receipt of a
//! request at an ingest URL.
//!
//! The promise that matters is `receive_inbound_request`: the request record, its dedupe key
//! and the message it forwards (with one delivery per ingest endpoint) commit in one
//! transaction, so a provider answered 2xx has its event on disk, and a request whose dedupe
//! key was already seen within the window is recorded as a duplicate and forwards nothing.
//! Creating a source creates its internal application in the same transaction; deleting one
//! deletes that application (its endpoints, messages and deliveries) with it.

use async_trait::async_trait;

use super::{NewMessage, Page, PageRequest, StoreError};
use crate::domain::inbound::{
    AppForward, InboundRequestRecord, RejectReason, Source, SourceFields, Verdict,
};
use crate::domain::{InboundRequestId, MessageId, SourceId, Timestamp};

/// A new source and the first token of its ingest URL.
#[derive(Debug, Clone)]
pub struct NewSource {
    pub id: SourceId,
    pub fields: SourceFields,
    pub token: String,
    pub now: Timestamp,
}

/// A request received at an ingest URL, judged, ready to be recorded.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub id: InboundRequestId,
    pub source_id: SourceId,
    pub received_at: Timestamp,
    /// Already redacted.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub decision: ReceiptDecision,
}

/// What the operation decided before the write.
#[derive(Debug, Clone)]
pub enum ReceiptDecision {
    /// Record it as rejected; forward nothing.
    Reject(RejectReason),
    /// Forward it as `message` (and as `app_message`, a message of the source's
    /// `forwardToApp` application, when that application still exists), unless `dedupe_key`
    /// was seen at or after `dedupe_since`.
    Forward {
        message: Box<NewMessage>,
        app_message: Option<AppMessage>,
        dedupe_key: Option<String>,
        dedupe_since: Timestamp,
    },
}

/// What the operation decided for the source's `forwardToApp` application.
#[derive(Debug, Clone)]
pub enum AppMessage {
    /// Also commit this message of the application, if it still exists.
    Forward(Box<NewMessage>),
    /// Do not, for this reason (recorded with the request).
    Skip(AppForward),
}

/// What `receive_inbound_request` committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Recorded as rejected for this reason.
    Rejected(RejectReason),
    /// Forwarded as `msg_id` with this many deliveries.
    Forwarded {
        msg_id: MessageId,
        deliveries: usize,
        app_forward: Option<AppForward>,
    },
    /// Seen before within the window; the first request's message.
    Duplicate { msg_id: MessageId },
}

impl ReceiptOutcome {
    /// The verdict the request is recorded with.
    pub fn verdict(&self) -> Verdict {
        match self {
            ReceiptOutcome::Rejected(reason) => Verdict::Rejected(*reason),
            ReceiptOutcome::Forwarded { .. } => Verdict::Accepted,
            ReceiptOutcome::Duplicate { .. } => Verdict::Duplicate,
        }
    }

    /// The message the request is tied to: the one it was forwarded as, or the earlier one it
    /// duplicates.
    pub fn msg_id(&self) -> Option<&MessageId> {
        match self {
            ReceiptOutcome::Rejected(_) => None,
            ReceiptOutcome::Forwarded { msg_id, .. } | ReceiptOutcome::Duplicate { msg_id } => {
                Some(msg_id)
            }
        }
    }

    /// The columns `app_msg_id` and `app_forward_error` of the request record.
    pub(crate) fn app_forward_columns(&self) -> (Option<&str>, Option<&'static str>) {
        match self {
            ReceiptOutcome::Forwarded {
                app_forward: Some(AppForward::Forwarded(msg_id)),
                ..
            } => (Some(msg_id.as_str()), None),
            ReceiptOutcome::Forwarded {
                app_forward: Some(reason),
                ..
            } => (None, reason.error_code()),
            _ => (None, None),
        }
    }
}

/// The stored `app_msg_id` and `app_forward_error` back into what became of the app forward.
pub(crate) fn app_forward_from(
    app_msg_id: Option<String>,
    error: Option<&str>,
) -> Option<AppForward> {
    match (app_msg_id, error) {
        (Some(msg_id), _) => Some(AppForward::Forwarded(MessageId::from_trusted(msg_id))),
        (None, Some(code)) => AppForward::from_error_code(code),
        (None, None) => None,
    }
}

/// The stored codes of a request's verdict; the only place they are written down.
pub(crate) mod verdict_code {
    pub const ACCEPTED: i16 = 0;
    pub const DUPLICATE: i16 = 1;
    pub const REJECTED: i16 = 2;
}

/// A stored verdict and reason back into a `Verdict`; `None` if the row is corrupt.
pub(crate) fn verdict_from(code: i16, reason: Option<&str>) -> Option<Verdict> {
    match code {
        verdict_code::ACCEPTED => Some(Verdict::Accepted),
        verdict_code::DUPLICATE => Some(Verdict::Duplicate),
        verdict_code::REJECTED => RejectReason::from_code(reason?).map(Verdict::Rejected),
        _ => None,
    }
}

/// The stored code and reason of a verdict.
pub(crate) fn verdict_columns(verdict: &Verdict) -> (i16, Option<&'static str>) {
    match verdict {
        Verdict::Accepted => (verdict_code::ACCEPTED, None),
        Verdict::Duplicate => (verdict_code::DUPLICATE, None),
        Verdict::Rejected(reason) => (verdict_code::REJECTED, Some(reason.code())),
    }
}

/// Sources and received requests, on every backend.
#[async_trait]
pub trait InboundStore: Send + Sync {
    /// Creates the source and its internal application. `Conflict` if the uid is taken.
    async fn create_source(&self, source: NewSource) -> Result<Source, StoreError>;
    /// The source with this id or uid.
    async fn get_source(&self, id_or_uid: &str) -> Result<Option<Source>, StoreError>;
    /// The source whose current token is `token`, or whose previous token is and was rotated
    /// out less than its grace period before `now`.
    async fn find_source_by_token(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<Source>, StoreError>;
    async fn list_sources(&self, page: PageRequest) -> Result<Page<Source>, StoreError>;
    /// Replaces the source's fields; `None` if it is gone. `Conflict` if the uid is taken.
    async fn update_source(
        &self,
        id: &SourceId,
        fields: SourceFields,
        now: Timestamp,
    ) -> Result<Option<Source>, StoreError>;
    /// Deletes the source, its requests and its internal application.
    async fn delete_source(&self, id: &SourceId) -> Result<bool, StoreError>;
    /// Makes `token` the current token; the old one stays valid until `previous_valid_until`.
    async fn rotate_source_token(
        &self,
        id: &SourceId,
        token: String,
        previous_valid_until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Source>, StoreError>;
    /// Records the request and, for `Forward`, its dedupe key and message, in one transaction.
    async fn receive_inbound_request(
        &self,
        request: ReceivedRequest,
    ) -> Result<ReceiptOutcome, StoreError>;
    /// A page of the source's received requests, newest first by default.
    async fn list_inbound_requests(
        &self,
        source_id: &SourceId,
        page: PageRequest,
    ) -> Result<Page<InboundRequestRecord>, StoreError>;
    /// Deletes up to `limit` request records received before `requests_before` (their bodies
    /// are content, kept no longer than message payloads) and up to `limit` dedupe keys seen
    /// before `keys_before` (older than any window); returns how many rows went.
    async fn purge_inbound_before(
        &self,
        requests_before: Timestamp,
        keys_before: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;
    /// One received request of the source.
    async fn get_inbound_request(
        &self,
        source_id: &SourceId,
        id: &InboundRequestId,
    ) -> Result<Option<InboundRequestRecord>, StoreError>;
}
