//! The records of the catalog: applications, endpoints (with their delivery options,
//! outbound credentials) and event types, and the rule that decides which
//! endpoints receive a message.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{
    AppId, ChannelName, ContentFilter, EndpointId, EndpointUrl, EventTypeName, Metadata,
    PayloadDocument, Timestamp, Uid,
};
use crate::policy::retry::RetrySchedule;

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
    /// `None` means every payload; `Some` only payloads the filter matches (hookd extension).
    pub filter: Option<ContentFilter>,
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
    /// Whether a message with this event type, these channels and this payload is delivered
    /// to the endpoint (never to a polling endpoint: its consumer reads, see `matches_filters`).
    pub fn accepts(
        &self,
        event_type: &EventTypeName,
        channels: &[ChannelName],
        payload: &PayloadDocument<'_>,
    ) -> bool {
        !self.url.is_polling()
            && !self.disabled
            && self.matches_filters(event_type, channels, payload)
    }

    /// Whether a message passes the endpoint's event-type, channel and content filters, the
    /// rule a polling endpoint's reads apply (whether it is disabled does not matter to a reader).
    pub fn matches_filters(
        &self,
        event_type: &EventTypeName,
        channels: &[ChannelName],
        payload: &PayloadDocument<'_>,
    ) -> bool {
        endpoint_accepts(
            false,
            self.event_types.as_deref(),
            self.channels.as_deref(),
            event_type,
            channels,
        ) && self
            .filter
            .as_ref()
            .is_none_or(|filter| filter.matches(payload))
    }
}

/// The part of an endpoint that decides whether it gets a message: all the fan-out reads, so
/// the ingest path does not load (and parse) whole endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct FanoutTarget {
    pub id: EndpointId,
    pub disabled: bool,
    /// A polling endpoint (`polling:`): never given a delivery, its consumer reads instead.
    pub polling: bool,
    pub event_types: Option<Vec<EventTypeName>>,
    pub channels: Option<Vec<ChannelName>>,
    /// Shared with every other read of the same filter on this node
    /// (`store::parsed_filters`): fan-out does not parse it again per message.
    pub filter: Option<Arc<ContentFilter>>,
}

impl FanoutTarget {
    /// Whether the endpoint may see a message of this event type on these channels, before its
    /// payload is looked at: sent to it, or (a polling endpoint) there for its consumer to read.
    /// What `message.precheck` (which has no payload) and the outbox's early locks go by; a
    /// content filter can only narrow this.
    pub fn accepts_kind(&self, event_type: &EventTypeName, channels: &[ChannelName]) -> bool {
        endpoint_accepts(
            self.disabled,
            self.event_types.as_deref(),
            self.channels.as_deref(),
            event_type,
            channels,
        )
    }

    /// The same rule as `EndpointFields::accepts`: the kind, then the content filter, which
    /// reads (and on first use parses) the payload only when the endpoint has a filter.
    pub fn accepts(
        &self,
        event_type: &EventTypeName,
        channels: &[ChannelName],
        payload: &PayloadDocument<'_>,
    ) -> bool {
        !self.polling
            && self.accepts_kind(event_type, channels)
            && self
                .filter
                .as_ref()
                .is_none_or(|filter| filter.matches(payload))
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

/// An event type that messages may carry.
#[derive(Debug, Clone, PartialEq)]
pub struct EventType {
    pub name: EventTypeName,
    pub fields: EventTypeFields,
    /// Changes with every write of the type (an opaque token, not a count): what a compiled
    /// enforced schema is cached under, so a change takes effect on the next message on
    /// every node.
    pub revision: i64,
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
    /// Messages of this type must match its newest schema (`domain::payload_schema`); a hookd
    /// extension (`enforceSchema`).
    pub enforce_schema: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

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
            filter: None,
            throttle_rate: None,
            metadata: Metadata::new(),
            headers: BTreeMap::new(),
            delivery: DeliveryOptions::default(),
        };
        let paid = PayloadDocument::json(r#"{"status": "paid"}"#);
        let open = PayloadDocument::json(r#"{"status": "open"}"#);
        assert!(fields.accepts(&invoice, &[], &open));
        fields.event_types = Some(vec![invoice.clone()]);
        assert!(fields.accepts(&invoice, &[], &open));
        assert!(!fields.accepts(&user, &[], &open));
        fields.filter = Some(ContentFilter::parse(serde_json::json!({"status": "paid"})).unwrap());
        assert!(fields.accepts(&invoice, &[], &paid));
        assert!(!fields.accepts(&invoice, &[], &open));
        assert!(!fields.accepts(&user, &[], &paid));
        fields.channels = Some(vec![eu.clone()]);
        assert!(!fields.accepts(&invoice, &[], &paid));
        assert!(fields.accepts(&invoice, std::slice::from_ref(&eu), &paid));
        fields.disabled = true;
        assert!(!fields.accepts(&invoice, std::slice::from_ref(&eu), &paid));
        // A polling endpoint is never sent to; its reads apply the filters alone.
        fields.disabled = false;
        fields.url = EndpointUrl::parse(EndpointUrl::POLLING).unwrap();
        assert!(!fields.accepts(&invoice, std::slice::from_ref(&eu), &paid));
        assert!(fields.matches_filters(&invoice, std::slice::from_ref(&eu), &paid));
        assert!(!fields.matches_filters(&invoice, std::slice::from_ref(&eu), &open));
        assert!(!fields.matches_filters(&user, std::slice::from_ref(&eu), &paid));
        assert!(!fields.matches_filters(&invoice, &[], &paid));
    }
}
