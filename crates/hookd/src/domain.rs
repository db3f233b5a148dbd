//! The nouns of hookd: identifiers, parsed inputs and the records that the store keeps.
//!
//! Everything here is plain data with no I/O. Input types (`EndpointUrl`, `EventTypeName`, `Uid`,
//! `ChannelName`) can only be built through their `parse` functions, so code past the API edge never
//! re-checks strings. Time and randomness are passed in by the caller.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::retry::RetrySchedule;

mod payload;
pub use payload::{MessagePayload, PayloadError};
pub mod limits;
pub mod operational;

/// Timestamps everywhere are UTC with millisecond precision or better.
pub type Timestamp = DateTime<Utc>;

/// String-to-string metadata attached to applications and endpoints (Svix's `metadata`).
pub type Metadata = BTreeMap<String, String>;

/// An input value that failed to parse; `field` names the JSON field, `message` says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub message: String,
}

impl InvalidInput {
    fn new(message: impl Into<String>) -> Self {
        InvalidInput {
            message: message.into(),
        }
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new identifier: the prefix followed by a time-ordered random suffix.
            pub fn generate(now: Timestamp, random: u128) -> Self {
                $name(format!("{}{}", $prefix, sortable_suffix(now, random)))
            }

            /// Wraps an identifier read back from the store or from a URL path. It is not checked:
            /// an unknown id simply finds nothing.
            pub fn from_trusted(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An application (tenant) id, `app_...`.
    AppId,
    "app_"
);
id_type!(
    /// An endpoint id, `ep_...`.
    EndpointId,
    "ep_"
);
id_type!(
    /// A message id, `msg_...`; also the `webhook-id` of every delivery of the message.
    MessageId,
    "msg_"
);
id_type!(
    /// One delivery attempt, `atmpt_...`.
    AttemptId,
    "atmpt_"
);
id_type!(
    /// One message-to-endpoint delivery task, `dlv_...` (internal; not part of the Svix API).
    DeliveryId,
    "dlv_"
);
id_type!(
    /// A background task (endpoint recovery, bulk replay), `qtask_...` as in Svix.
    BackgroundTaskId,
    "qtask_"
);

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Ids made in the same process sort by creation even within one millisecond.
static MONOTONIC: AtomicU64 = AtomicU64::new(0);

/// 27 base62 characters: 64 bits of microsecond time (made strictly increasing within this
/// process) followed by 96 random bits. Fixed width, and the alphabet is in ASCII order, so ids
/// sort lexicographically by creation time; list pagination relies on that.
fn sortable_suffix(now: Timestamp, random: u128) -> String {
    let micros = now.timestamp_micros().max(0) as u64;
    let stamp = MONOTONIC
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(micros.max(last + 1))
        })
        .map(|last| micros.max(last + 1))
        .unwrap_or(micros);
    let mut value: u128 = (u128::from(stamp) << 64) | (random & 0xFFFF_FFFF_FFFF_FFFF);
    // 27 base62 digits cover 160 bits; we encode 128 bits and pad, keeping the width fixed.
    let mut digits = [b'0'; 27];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 digits are ASCII")
}

/// A caller-chosen unique name for an application or endpoint (Svix `uid`): 1-256 characters of
/// `[a-zA-Z0-9_.-]`. It may not start with an id prefix, so a path segment is never ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uid(String);

impl Uid {
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        if value.is_empty() || value.len() > 256 {
            return Err(InvalidInput::new("uid must be 1 to 256 characters long"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(InvalidInput::new(
                "uid may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        limits::check_path_segment(value, "uid")?;
        let id_prefixes = [AppId::PREFIX, EndpointId::PREFIX, MessageId::PREFIX];
        if id_prefixes.iter().any(|prefix| value.starts_with(prefix)) {
            return Err(InvalidInput::new(
                "uid may not start with an id prefix (app_, ep_, msg_)",
            ));
        }
        Ok(Uid(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An event type name such as `invoice.paid`: 1-256 characters of `[a-zA-Z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventTypeName(String);

impl EventTypeName {
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        if value.is_empty() || value.len() > 256 {
            return Err(InvalidInput::new(
                "event type name must be 1 to 256 characters long",
            ));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(InvalidInput::new(
                "event type name may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        limits::check_path_segment(value, "event type name")?;
        Ok(EventTypeName(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A channel name, used to route messages to the endpoints that subscribe to it: 1-128
/// characters of `[a-zA-Z0-9_.:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelName(String);

impl ChannelName {
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        if value.is_empty() || value.len() > 128 {
            return Err(InvalidInput::new(
                "channel must be 1 to 128 characters long",
            ));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'))
        {
            return Err(InvalidInput::new(
                "channel may contain only letters, digits, '_', '.', ':' and '-'",
            ));
        }
        Ok(ChannelName(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An endpoint URL that is syntactically valid http(s) with a host. Whether the target address
/// is allowed (the SSRF guard) depends on server policy and is checked separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        if value.len() > 2048 {
            return Err(InvalidInput::new("url must be at most 2048 characters"));
        }
        let url = url::Url::parse(value)
            .map_err(|error| InvalidInput::new(format!("invalid url: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InvalidInput::new("url scheme must be http or https"));
        }
        if url.host().is_none() {
            return Err(InvalidInput::new("url must have a host"));
        }
        Ok(EndpointUrl(url))
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// An application: the tenant whose customers own endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: AppId,
    pub uid: Option<Uid>,
    pub name: String,
    pub throttle_rate: Option<u32>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The writable fields of an application; create and full update take the same shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationFields {
    pub uid: Option<Uid>,
    pub name: String,
    pub throttle_rate: Option<u32>,
    pub metadata: Metadata,
}

/// An endpoint: a URL that receives an application's messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub app_id: AppId,
    pub fields: EndpointFields,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The writable fields of an endpoint (everything but the secret, which has its own calls).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointFields {
    pub uid: Option<Uid>,
    pub url: EndpointUrl,
    pub description: String,
    pub version: u32,
    pub disabled: bool,
    /// `None` means every event type; `Some` lists the only ones delivered.
    pub event_types: Option<Vec<EventTypeName>>,
    /// `None` means every message; `Some` means only messages on one of these channels.
    pub channels: Option<Vec<ChannelName>>,
    pub throttle_rate: Option<u32>,
    pub metadata: Metadata,
    /// Extra headers sent with every delivery to this endpoint.
    pub headers: BTreeMap<String, String>,
    /// How deliveries to this endpoint are scheduled and authenticated (hookd extensions).
    pub delivery: DeliveryOptions,
}

/// Per-endpoint delivery settings beyond Svix's model; every field has a server-wide default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeliveryOptions {
    /// Most attempts in flight to this endpoint at once (per node); `None` uses the server's.
    pub max_in_flight: Option<u32>,
    /// FIFO delivery: a message is sent only after the one before it succeeded or was given up.
    pub ordered: bool,
    /// Replaces the server's retry schedule for this endpoint.
    pub retry_schedule: Option<RetrySchedule>,
    /// Credentials sent in the `Authorization` header of every delivery.
    pub auth: Option<OutboundAuth>,
}

/// Credentials hookd presents to an endpoint. They are stored to be sent, and never rendered
/// back in full by the API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OutboundAuth {
    Basic { username: String, password: String },
    Bearer { token: String },
}

impl OutboundAuth {
    /// The `Authorization` header value.
    pub fn header_value(&self) -> String {
        use base64::Engine as _;
        match self {
            OutboundAuth::Basic { username, password } => {
                let pair = format!("{username}:{password}");
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
            OutboundAuth::Bearer { token } => format!("Bearer {token}"),
        }
    }
}

impl fmt::Debug for OutboundAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            OutboundAuth::Bearer { .. } => f.write_str("Bearer { .. }"),
        }
    }
}

impl EndpointFields {
    /// Whether a message with this event type and these channels is delivered to the endpoint.
    pub fn accepts(&self, event_type: &EventTypeName, channels: &[ChannelName]) -> bool {
        endpoint_accepts(
            self.disabled,
            self.event_types.as_deref(),
            self.channels.as_deref(),
            event_type,
            channels,
        )
    }
}

/// The part of an endpoint that decides whether it gets a message: all the fan-out reads, so
/// the ingest path does not load (and parse) whole endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct FanoutTarget {
    pub id: EndpointId,
    pub disabled: bool,
    pub event_types: Option<Vec<EventTypeName>>,
    pub channels: Option<Vec<ChannelName>>,
}

impl FanoutTarget {
    /// The same rule as `EndpointFields::accepts`.
    pub fn accepts(&self, event_type: &EventTypeName, channels: &[ChannelName]) -> bool {
        endpoint_accepts(
            self.disabled,
            self.event_types.as_deref(),
            self.channels.as_deref(),
            event_type,
            channels,
        )
    }
}

/// An enabled endpoint gets a message when its event-type filter (if any) names the message's
/// type and its channel filter (if any) shares a channel with the message.
fn endpoint_accepts(
    disabled: bool,
    event_types: Option<&[EventTypeName]>,
    wanted_channels: Option<&[ChannelName]>,
    event_type: &EventTypeName,
    channels: &[ChannelName],
) -> bool {
    let type_matches = event_types.is_none_or(|types| types.contains(event_type));
    let channel_matches = wanted_channels
        .is_none_or(|wanted| channels.iter().any(|channel| wanted.contains(channel)));
    !disabled && type_matches && channel_matches
}

/// One signing secret of an endpoint. The current secret has no expiry; a rotated-out secret
/// keeps signing until `expires_at` so receivers can roll over without dropping deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSecret {
    pub key: String,
    pub expires_at: Option<Timestamp>,
}

/// An event type that messages may carry.
#[derive(Debug, Clone, PartialEq)]
pub struct EventType {
    pub name: EventTypeName,
    pub fields: EventTypeFields,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventTypeFields {
    pub description: String,
    pub deprecated: bool,
    pub archived: bool,
    pub schemas: Option<serde_json::Value>,
    pub feature_flag: Option<String>,
    pub group_name: Option<String>,
}

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

/// What a background task does. The names are Svix's `BackgroundTaskType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackgroundTaskKind {
    /// `endpoint.recover`: re-queue what ended failed or parked for one endpoint.
    EndpointRecover,
    /// `endpoint.replay`: queue what was never queued for one endpoint (`replay-missing`).
    EndpointReplayMissing,
    /// `endpoint.bulk-replay`: hookd's replay by filter (`POST /app/{app}/replay`).
    BulkReplay,
}

impl BackgroundTaskKind {
    pub fn name(self) -> &'static str {
        match self {
            BackgroundTaskKind::EndpointRecover => "endpoint.recover",
            BackgroundTaskKind::EndpointReplayMissing => "endpoint.replay",
            BackgroundTaskKind::BulkReplay => "endpoint.bulk-replay",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            BackgroundTaskKind::EndpointRecover,
            BackgroundTaskKind::EndpointReplayMissing,
            BackgroundTaskKind::BulkReplay,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

/// Where a background task stands. The names are Svix's `BackgroundTaskStatus` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackgroundTaskStatus {
    Running,
    Finished,
    Failed,
}

impl BackgroundTaskStatus {
    pub fn name(self) -> &'static str {
        match self {
            BackgroundTaskStatus::Running => "running",
            BackgroundTaskStatus::Finished => "finished",
            BackgroundTaskStatus::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            BackgroundTaskStatus::Running,
            BackgroundTaskStatus::Finished,
            BackgroundTaskStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.name() == name)
    }
}

/// Which message/endpoint pairs a replay queues again, judged by the pair's latest delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaySelection {
    /// The latest delivery ran out of retries (status 2).
    Failed,
    /// The latest delivery is parked behind a disabled endpoint (status 9).
    Parked,
    /// Either of the above (re-queued), or waiting for a retry (made due now): what
    /// `endpoint.recover` catches up on.
    FailedParkedOrRetrying,
    /// Any finished delivery, successful or not (pending ones are left alone).
    AnyFinished,
    /// Messages that were never queued to the endpoint although it accepts them
    /// (`replay-missing`; needs an endpoint).
    NeverQueued,
    /// The latest delivery is still pending (being retried): never replayed, only counted, so
    /// that a dry run can say what it leaves out.
    StillRetrying,
}

impl ReplaySelection {
    pub fn code(self) -> i64 {
        match self {
            ReplaySelection::Failed => 2,
            ReplaySelection::Parked => 9,
            ReplaySelection::FailedParkedOrRetrying => 29,
            ReplaySelection::AnyFinished => 0,
            ReplaySelection::NeverQueued => -1,
            ReplaySelection::StillRetrying => 1,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        [
            ReplaySelection::Failed,
            ReplaySelection::Parked,
            ReplaySelection::FailedParkedOrRetrying,
            ReplaySelection::AnyFinished,
            ReplaySelection::NeverQueued,
            ReplaySelection::StillRetrying,
        ]
        .into_iter()
        .find(|selection| selection.code() == code)
    }

    /// The delivery statuses (`delivery.status`) whose pairs are selected. A pending delivery
    /// counts only when it is waiting for a retry: attempted before, and not leased.
    pub fn delivery_statuses(self) -> &'static [i64] {
        match self {
            ReplaySelection::Failed => &[2],
            ReplaySelection::Parked => &[9],
            ReplaySelection::FailedParkedOrRetrying => &[2, 9, 1],
            ReplaySelection::AnyFinished => &[0, 2, 9],
            ReplaySelection::NeverQueued => &[],
            ReplaySelection::StillRetrying => &[1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_uid(input: &str, ok: bool) {
        assert_eq!(Uid::parse(input).is_ok(), ok, "uid {input:?}");
    }

    #[test]
    fn uids() {
        check_uid("my-app_1.2", true);
        check_uid("", false);
        check_uid("has space", false);
        check_uid("slash/no", false);
        check_uid("app_lookalike", false);
        check_uid("ep_lookalike", false);
        check_uid("apples", true);
        check_uid(&"a".repeat(256), true);
        check_uid(&"a".repeat(257), false);
        // URLs drop these segments: `/app/X/endpoint/..` would address the application.
        check_uid(".", false);
        check_uid("..", false);
        check_uid("...", true);
    }

    #[test]
    fn event_type_names_that_a_url_would_drop_are_refused() {
        for (name, ok) in [(".", false), ("..", false), ("invoice.paid", true)] {
            assert_eq!(EventTypeName::parse(name).is_ok(), ok, "{name:?}");
        }
    }

    fn check_url(input: &str, ok: bool) {
        assert_eq!(EndpointUrl::parse(input).is_ok(), ok, "url {input:?}");
    }

    #[test]
    fn endpoint_urls() {
        check_url("https://example.com/hook", true);
        check_url("http://127.0.0.1:9000/", true);
        check_url("ftp://example.com/", false);
        check_url("not a url", false);
        check_url("file:///etc/passwd", false);
        check_url("https://", false);
    }

    #[test]
    fn ids_are_prefixed_fixed_width_and_sorted_by_creation() {
        let now = Utc::now();
        let first = MessageId::generate(now, u128::MAX);
        let second = MessageId::generate(now, 0);
        assert!(first.as_str().starts_with("msg_"));
        assert_eq!(first.as_str().len(), 4 + 27);
        assert!(first < second, "{first} should sort before {second}");
    }

    #[test]
    fn outbound_auth_headers() {
        let basic = OutboundAuth::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        // The example of RFC 7617.
        assert_eq!(basic.header_value(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(!format!("{basic:?}").contains("sesame"));
        let bearer = OutboundAuth::Bearer {
            token: "t0k".into(),
        };
        assert_eq!(bearer.header_value(), "Bearer t0k");
        assert!(!format!("{bearer:?}").contains("t0k"));
    }

    #[test]
    fn endpoint_filters() {
        let invoice = EventTypeName::parse("invoice.paid").unwrap();
        let user = EventTypeName::parse("user.created").unwrap();
        let eu = ChannelName::parse("eu").unwrap();
        let mut fields = EndpointFields {
            uid: None,
            url: EndpointUrl::parse("https://example.com").unwrap(),
            description: String::new(),
            version: 1,
            disabled: false,
            event_types: None,
            channels: None,
            throttle_rate: None,
            metadata: Metadata::new(),
            headers: BTreeMap::new(),
            delivery: DeliveryOptions::default(),
        };
        assert!(fields.accepts(&invoice, &[]));
        fields.event_types = Some(vec![invoice.clone()]);
        assert!(fields.accepts(&invoice, &[]));
        assert!(!fields.accepts(&user, &[]));
        fields.channels = Some(vec![eu.clone()]);
        assert!(!fields.accepts(&invoice, &[]));
        assert!(fields.accepts(&invoice, std::slice::from_ref(&eu)));
        fields.disabled = true;
        assert!(!fields.accepts(&invoice, &[eu]));
    }
}
