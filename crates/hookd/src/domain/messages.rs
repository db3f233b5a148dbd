//! Messages and the attempts to deliver them, with the Svix status and trigger codes.

use serde::{Deserialize, Serialize};

use super::{AppId, AttemptId, ChannelName, EndpointId, EventTypeName, MessageId, Timestamp};
use crate::policy::outcome::FailureCode;

/// A message as stored: the payload is kept as the exact JSON text that is sent and signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub app_id: AppId,
    pub event_type: EventTypeName,
    pub event_id: Option<String>,
    /// `None` once the content has been expunged.
    pub payload: Option<String>,
    pub channels: Vec<ChannelName>,
    pub tags: Vec<String>,
    /// When delivery starts, if the sender scheduled it for later.
    pub deliver_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The content type an opaque payload (an inbound body that is not a JSON object) came
    /// with; `None` for a JSON payload, which is `application/json`.
    pub content_type: Option<String>,
}

/// Who asked for an attempt: Svix's `triggerType` integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerType {
    Scheduled = 0,
    Manual = 1,
}

impl TriggerType {
    pub fn from_code(code: i64) -> Self {
        if code == 1 {
            TriggerType::Manual
        } else {
            TriggerType::Scheduled
        }
    }
}

/// The status of an attempt or a delivery: Svix's `status` integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Success = 0,
    Pending = 1,
    Fail = 2,
    Sending = 3,
}

impl DeliveryStatus {
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => DeliveryStatus::Success,
            2 => DeliveryStatus::Fail,
            3 => DeliveryStatus::Sending,
            _ => DeliveryStatus::Pending,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            DeliveryStatus::Success => "success",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Fail => "fail",
            DeliveryStatus::Sending => "sending",
        }
    }
}

/// Where one delivery task (a message to one endpoint) stands. Unlike `DeliveryStatus`, which
/// is Svix's view of attempts, this is hookd's own: `Parked` has no Svix equivalent. How it is
/// stored is the store's business (`store::stored`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryTaskState {
    /// Delivered: finished.
    Succeeded,
    /// Waiting to be sent, being sent, or waiting for a retry.
    Pending,
    /// Out of retries: finished as failed.
    Failed,
    /// Kept, not sent: its endpoint was disabled when it fell due.
    Parked,
}

/// One recorded attempt to deliver a message to an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: AttemptId,
    pub app_id: AppId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub url: String,
    pub status: DeliveryStatus,
    /// 0 when no HTTP response arrived (timeout, refused connection, blocked target).
    pub response_status_code: u16,
    /// A bounded prefix of the response body, or a description of the transport failure.
    pub response: String,
    pub response_duration_ms: u64,
    /// A stable code for failures (`timeout`, `connect`, `http_status`, ...); `None` on success.
    pub failure_code: Option<RecordedFailureCode>,
    pub trigger_type: TriggerType,
    pub created_at: Timestamp,
    /// What was sent and what came back, for debugging.
    pub details: AttemptDetails,
}

/// The parts of an attempt kept for debugging: the request headers as sent (credentials
/// redacted), the response headers as received, and the node that made the attempt.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttemptDetails {
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub node_id: Option<String>,
}

/// An attempt's failure code as recorded. Codes are only ever added, never renamed, so every
/// code this hookd wrote is `Known`; but nodes of a PostgreSQL cluster share attempts, and during
/// a rolling upgrade (or after a downgrade) a node can read a code that a newer hookd wrote. That
/// code is kept and shown as stored rather than failing every listing that includes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedFailureCode {
    Known(FailureCode),
    /// A code this version does not know, exactly as stored.
    Unrecognized(String),
}

impl RecordedFailureCode {
    /// The stored spelling back into a code; never fails (see `Unrecognized`).
    pub fn parse(stored: &str) -> Self {
        stored
            .parse()
            .map_or_else(|_| Self::Unrecognized(stored.to_owned()), Self::Known)
    }

    /// The spelling that is stored and shown to API users.
    pub fn as_str(&self) -> &str {
        match self {
            RecordedFailureCode::Known(code) => code.as_str(),
            RecordedFailureCode::Unrecognized(code) => code,
        }
    }
}

impl From<FailureCode> for RecordedFailureCode {
    fn from(code: FailureCode) -> Self {
        RecordedFailureCode::Known(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_failure_codes_round_trip_their_stored_spelling() {
        for code in FailureCode::ALL {
            let recorded = RecordedFailureCode::parse(code.as_str());
            assert_eq!(recorded, RecordedFailureCode::Known(code));
            assert_eq!(recorded.as_str(), code.as_str());
        }
        // (stored, known as)
        let cases = [
            ("http_status", Some(FailureCode::HttpStatus)),
            ("signing_failed", Some(FailureCode::SigningFailed)),
            ("quota_exceeded", None),
            ("Timeout", None),
            ("", None),
        ];
        for (stored, known) in cases {
            let recorded = RecordedFailureCode::parse(stored);
            let expected = known.map_or_else(
                || RecordedFailureCode::Unrecognized(stored.to_owned()),
                RecordedFailureCode::Known,
            );
            assert_eq!(recorded, expected, "{stored:?}");
            assert_eq!(recorded.as_str(), stored, "{stored:?}");
        }
    }
}
