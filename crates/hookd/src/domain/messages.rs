//! Messages and the attempts to deliver them, with the Svix status and trigger codes.

use serde::{Deserialize, Serialize};

use super::{AppId, AttemptId, ChannelName, EndpointId, EventTypeName, MessageId, Timestamp};

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
    pub failure_code: Option<String>,
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
