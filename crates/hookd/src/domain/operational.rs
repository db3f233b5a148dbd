//! Operational events: what hookd reports about itself (Svix's `endpoint.*` and
//! `message.attempt.*`) to the endpoints an operator registers under
//! `/api/v1/operational-webhook/endpoint`, and their payloads.
//!
//! Plain data, no I/O. Each event becomes a message of the internal application
//! `OPERATIONAL_APP_ID` (whose endpoints are the operational endpoints), written by the store in
//! the same transaction as the change that raised it (`store::outbox`), so events are as durable
//! as the change, and are signed, retried and logged like any other message. Events about the
//! internal application itself are never raised, so a failing operational endpoint cannot feed
//! itself.

use serde_json::{Value, json};

use super::{AppId, Attempt, EndpointId, MessageId, Timestamp, Uid};

/// The internal application that holds operational endpoints and events.
pub const OPERATIONAL_APP_ID: &str = "app_operational";

/// `message.attempt.failing` is sent on this failed attempt of a message (as Svix does).
pub const FAILING_AFTER_ATTEMPTS: u32 = 4;

/// One event hookd reports about itself.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationalEvent {
    EndpointCreated(EndpointRef),
    EndpointUpdated(EndpointRef),
    EndpointDeleted(EndpointRef),
    EndpointDisabled {
        endpoint: EndpointRef,
        failing_since: Option<Timestamp>,
    },
    AttemptFailing(AttemptRef),
    AttemptExhausted(AttemptRef),
    AttemptRecovered(AttemptRef),
}

/// The endpoint an event is about.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointRef {
    pub app_id: AppId,
    pub app_uid: Option<Uid>,
    pub endpoint_id: EndpointId,
    pub endpoint_uid: Option<Uid>,
}

/// The message, endpoint and last attempt an attempt event is about.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRef {
    pub app_id: AppId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub last_attempt: Attempt,
}

impl AttemptRef {
    pub fn of(attempt: &Attempt) -> Self {
        AttemptRef {
            app_id: attempt.app_id.clone(),
            msg_id: attempt.msg_id.clone(),
            endpoint_id: attempt.endpoint_id.clone(),
            last_attempt: attempt.clone(),
        }
    }
}

impl OperationalEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            OperationalEvent::EndpointCreated(_) => "endpoint.created",
            OperationalEvent::EndpointUpdated(_) => "endpoint.updated",
            OperationalEvent::EndpointDeleted(_) => "endpoint.deleted",
            OperationalEvent::EndpointDisabled { .. } => "endpoint.disabled",
            OperationalEvent::AttemptFailing(_) => "message.attempt.failing",
            OperationalEvent::AttemptExhausted(_) => "message.attempt.exhausted",
            OperationalEvent::AttemptRecovered(_) => "message.attempt.recovered",
        }
    }

    /// The payload in Svix's shape: `{"type", "timestamp", "data"}`.
    pub fn payload(&self, now: Timestamp) -> Value {
        let data = match self {
            OperationalEvent::EndpointCreated(endpoint)
            | OperationalEvent::EndpointUpdated(endpoint)
            | OperationalEvent::EndpointDeleted(endpoint) => endpoint_data(endpoint),
            OperationalEvent::EndpointDisabled {
                endpoint,
                failing_since,
            } => {
                let mut data = endpoint_data(endpoint);
                data["failSince"] = json!(failing_since);
                data["trigger"] = json!("automatic");
                data
            }
            OperationalEvent::AttemptFailing(attempt)
            | OperationalEvent::AttemptExhausted(attempt)
            | OperationalEvent::AttemptRecovered(attempt) => json!({
                "appId": attempt.app_id,
                "msgId": attempt.msg_id,
                "endpointId": attempt.endpoint_id,
                "lastAttempt": {
                    "id": attempt.last_attempt.id,
                    "timestamp": attempt.last_attempt.created_at,
                    "responseStatusCode": attempt.last_attempt.response_status_code,
                    "responseDurationMs": attempt.last_attempt.response_duration_ms,
                },
            }),
        };
        json!({"type": self.event_type(), "timestamp": now, "data": data})
    }

    /// Whether the event is about the internal application itself: such events are never
    /// raised.
    pub fn concerns_operational_app(&self) -> bool {
        let app_id = match self {
            OperationalEvent::EndpointCreated(endpoint)
            | OperationalEvent::EndpointUpdated(endpoint)
            | OperationalEvent::EndpointDeleted(endpoint)
            | OperationalEvent::EndpointDisabled { endpoint, .. } => &endpoint.app_id,
            OperationalEvent::AttemptFailing(attempt)
            | OperationalEvent::AttemptExhausted(attempt)
            | OperationalEvent::AttemptRecovered(attempt) => &attempt.app_id,
        };
        app_id.as_str() == OPERATIONAL_APP_ID
    }
}

fn endpoint_data(endpoint: &EndpointRef) -> Value {
    json!({
        "appId": endpoint.app_id,
        "appUid": endpoint.app_uid,
        "endpointId": endpoint.endpoint_id,
        "endpointUid": endpoint.endpoint_uid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AttemptId, DeliveryStatus, TriggerType};
    use chrono::{TimeZone, Utc};

    fn attempt(app: &str) -> Attempt {
        Attempt {
            id: AttemptId::from_trusted("atmpt_1"),
            app_id: AppId::from_trusted(app),
            msg_id: MessageId::from_trusted("msg_1"),
            endpoint_id: EndpointId::from_trusted("ep_1"),
            url: "https://example.com".into(),
            status: DeliveryStatus::Fail,
            response_status_code: 500,
            response: String::new(),
            response_duration_ms: 12,
            failure_code: None,
            trigger_type: TriggerType::Scheduled,
            created_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            details: Default::default(),
        }
    }

    fn endpoint(app: &str) -> EndpointRef {
        EndpointRef {
            app_id: AppId::from_trusted(app),
            app_uid: None,
            endpoint_id: EndpointId::from_trusted("ep_1"),
            endpoint_uid: None,
        }
    }

    #[test]
    fn payloads_have_svix_shape() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let payload =
            OperationalEvent::AttemptExhausted(AttemptRef::of(&attempt("app_1"))).payload(now);
        assert_eq!(payload["type"], "message.attempt.exhausted");
        assert_eq!(payload["data"]["msgId"], "msg_1");
        assert_eq!(payload["data"]["lastAttempt"]["responseStatusCode"], 500);
        let disabled = OperationalEvent::EndpointDisabled {
            endpoint: endpoint("app_1"),
            failing_since: Some(now),
        }
        .payload(now);
        assert_eq!(disabled["type"], "endpoint.disabled");
        assert_eq!(disabled["data"]["trigger"], "automatic");
        assert_eq!(disabled["data"]["failSince"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn events_about_the_operational_app_are_recognised() {
        let cases = [
            (
                OperationalEvent::AttemptExhausted(AttemptRef::of(&attempt(OPERATIONAL_APP_ID))),
                true,
            ),
            (
                OperationalEvent::AttemptExhausted(AttemptRef::of(&attempt("app_1"))),
                false,
            ),
            (
                OperationalEvent::EndpointCreated(endpoint(OPERATIONAL_APP_ID)),
                true,
            ),
            (OperationalEvent::EndpointDeleted(endpoint("app_1")), false),
        ];
        for (event, expected) in cases {
            assert_eq!(event.concerns_operational_app(), expected, "{event:?}");
        }
    }
}
