//! Operational webhooks: the events hookd sends about itself (Svix's `endpoint.*` and
//! `message.attempt.*`) to the endpoints an operator registers under
//! `/api/v1/operational-webhook/endpoint`.
//!
//! They ride on the ordinary engine. Operational endpoints are endpoints of one internal
//! application (`OPERATIONAL_APP_ID`, hidden from `/app`), and each event is a message in it, so
//! events are stored durably, fanned out by event type, signed with each operational endpoint's
//! secret, retried and logged like any other message. This module builds the events (pure) and
//! queues them; it never sends anything itself. Events about the internal application are never
//! raised, so a failing operational endpoint cannot feed itself.

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::domain::MessagePayload;
use crate::domain::{
    AppId, ApplicationFields, Attempt, EndpointId, EventTypeName, MessageId, Metadata, Timestamp,
    TriggerType, Uid,
};
use crate::store::{
    AttemptRecord, DisabledEndpoint, MessageInsert, NewMessage, NextStep, Store, StoreError,
};

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

    fn concerns_operational_app(&self) -> bool {
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

/// The attempt events a batch of recorded attempts raises: failing on the fourth failure of a
/// message, exhausted when its retries ran out, recovered on a success after it was failing.
pub fn attempt_events(records: &[AttemptRecord]) -> Vec<OperationalEvent> {
    records
        .iter()
        .filter(|record| record.attempt.trigger_type == TriggerType::Scheduled)
        .filter_map(|record| {
            let reference = AttemptRef {
                app_id: record.attempt.app_id.clone(),
                msg_id: record.attempt.msg_id.clone(),
                endpoint_id: record.attempt.endpoint_id.clone(),
                last_attempt: record.attempt.clone(),
            };
            match record.next {
                NextStep::GiveUp => Some(OperationalEvent::AttemptExhausted(reference)),
                NextStep::RetryAt(_) if record.attempt_number == FAILING_AFTER_ATTEMPTS => {
                    Some(OperationalEvent::AttemptFailing(reference))
                }
                NextStep::Done if record.attempt_number > FAILING_AFTER_ATTEMPTS => {
                    Some(OperationalEvent::AttemptRecovered(reference))
                }
                _ => None,
            }
        })
        .collect()
}

/// The `endpoint.disabled` events for endpoints the store disabled.
pub fn disabled_events(disabled: Vec<DisabledEndpoint>) -> Vec<OperationalEvent> {
    disabled
        .into_iter()
        .map(|endpoint| OperationalEvent::EndpointDisabled {
            endpoint: EndpointRef {
                app_id: endpoint.app_id,
                app_uid: None,
                endpoint_id: endpoint.endpoint_id,
                endpoint_uid: None,
            },
            failing_since: endpoint.failing_since,
        })
        .collect()
}

/// Creates the internal application on first start.
pub async fn ensure_application(store: &dyn Store, now: Timestamp) -> anyhow::Result<()> {
    if store.get_application(OPERATIONAL_APP_ID).await?.is_none() {
        let fields = ApplicationFields {
            uid: None,
            name: "hookd operational webhooks".into(),
            throttle_rate: None,
            metadata: Metadata::new(),
        };
        match store
            .create_application(AppId::from_trusted(OPERATIONAL_APP_ID), fields, now)
            .await
        {
            // Another node starting at the same moment created it first.
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Queues events as messages of the internal application. A failure is logged, not returned:
/// the operation that raised the event has already happened and must not fail because of it.
pub async fn emit(store: &dyn Store, wake: &Notify, events: Vec<OperationalEvent>, now: Timestamp) {
    let mut queued = false;
    for event in events {
        if event.concerns_operational_app() {
            continue;
        }
        let event_type =
            EventTypeName::parse(event.event_type()).expect("operational event types are valid");
        let message = NewMessage {
            id: MessageId::generate(now, rand::random()),
            app_id: AppId::from_trusted(OPERATIONAL_APP_ID),
            event_type,
            event_id: None,
            payload: MessagePayload::parse(&event.payload(now).to_string())
                .expect("hookd builds operational payloads as JSON objects"),
            channels: Vec::new(),
            tags: Vec::new(),
            deliver_at: None,
            now,
        };
        match store.create_message(message).await {
            Ok(MessageInsert::Created { deliveries, .. }) => queued |= deliveries > 0,
            Ok(MessageInsert::Duplicate(_)) => {}
            Err(error) => {
                tracing::error!(%error, event = event.event_type(), "queueing an operational event failed");
            }
        }
    }
    if queued {
        wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AttemptId, DeliveryId, DeliveryStatus};
    use chrono::{TimeZone, Utc};

    fn record(
        attempt_number: u32,
        next: NextStep,
        trigger: TriggerType,
        app: &str,
    ) -> AttemptRecord {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        AttemptRecord {
            delivery_id: DeliveryId::from_trusted("dlv_1"),
            lease_token: 1,
            attempt_number,
            attempt: Attempt {
                id: AttemptId::from_trusted("atmpt_1"),
                app_id: AppId::from_trusted(app),
                msg_id: MessageId::from_trusted("msg_1"),
                endpoint_id: EndpointId::from_trusted("ep_1"),
                url: "https://example.com".into(),
                status: if next == NextStep::Done {
                    DeliveryStatus::Success
                } else {
                    DeliveryStatus::Fail
                },
                response_status_code: 500,
                response: String::new(),
                response_duration_ms: 12,
                failure_code: None,
                trigger_type: trigger,
                created_at: at,
                details: Default::default(),
            },
            next,
            disable_endpoint: false,
            disable_if_failing_since: None,
            retry_after: None,
        }
    }

    fn check(record: AttemptRecord, expected: Option<&str>) {
        let events = attempt_events(std::slice::from_ref(&record));
        let types: Vec<&str> = events.iter().map(OperationalEvent::event_type).collect();
        assert_eq!(
            types,
            expected.into_iter().collect::<Vec<_>>(),
            "{record:?}"
        );
    }

    #[test]
    fn attempt_events_follow_svix() {
        let retry = NextStep::RetryAt(Utc::now());
        let scheduled = TriggerType::Scheduled;
        check(record(1, retry, scheduled, "app_1"), None);
        check(
            record(4, retry, scheduled, "app_1"),
            Some("message.attempt.failing"),
        );
        check(record(5, retry, scheduled, "app_1"), None);
        check(
            record(3, NextStep::GiveUp, scheduled, "app_1"),
            Some("message.attempt.exhausted"),
        );
        check(record(2, NextStep::Done, scheduled, "app_1"), None);
        check(
            record(5, NextStep::Done, scheduled, "app_1"),
            Some("message.attempt.recovered"),
        );
        // A manual resend is not part of the schedule and raises nothing.
        check(
            record(1, NextStep::GiveUp, TriggerType::Manual, "app_1"),
            None,
        );
    }

    #[test]
    fn payloads_have_svix_shape() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let event = attempt_events(&[record(3, NextStep::GiveUp, TriggerType::Scheduled, "app_1")])
            .remove(0);
        let payload = event.payload(now);
        assert_eq!(payload["type"], "message.attempt.exhausted");
        assert_eq!(payload["data"]["msgId"], "msg_1");
        assert_eq!(payload["data"]["lastAttempt"]["responseStatusCode"], 500);
        let disabled = disabled_events(vec![DisabledEndpoint {
            app_id: AppId::from_trusted("app_1"),
            endpoint_id: EndpointId::from_trusted("ep_1"),
            failing_since: Some(now),
        }])
        .remove(0)
        .payload(now);
        assert_eq!(disabled["type"], "endpoint.disabled");
        assert_eq!(disabled["data"]["trigger"], "automatic");
        assert_eq!(disabled["data"]["failSince"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn events_about_the_operational_app_are_not_raised() {
        let event = attempt_events(&[record(
            3,
            NextStep::GiveUp,
            TriggerType::Scheduled,
            OPERATIONAL_APP_ID,
        )])
        .remove(0);
        assert!(event.concerns_operational_app());
    }
}
