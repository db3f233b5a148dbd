//! The outbox: which operational events a write raises, and the message each becomes.
//!
//! A write that raises an event writes it in its own transaction (each backend's `outbox.rs`
//! inserts the messages this module builds), so the event commits with the change or not at
//! all; nothing is queued after the fact. This is the one place that decides which writes raise
//! which events:
//! - creating, changing (update, read-modify-write) and deleting an endpoint raise
//!   `endpoint.created`, `endpoint.updated` and `endpoint.deleted`;
//! - recording attempts raises `message.attempt.failing` on the fourth failure of a message,
//!   `message.attempt.exhausted` when its retries ran out, `message.attempt.recovered` on a
//!   success after it was failing, and `endpoint.disabled` for each endpoint the record disabled.
//!
//! Events about the internal application itself are never raised (`event_message` drops them).

use super::{AttemptRecord, DisabledEndpoint, NewMessage, NextStep};
use crate::domain::operational::{
    AttemptRef, EndpointRef, FAILING_AFTER_ATTEMPTS, OPERATIONAL_APP_ID, OperationalEvent,
};
use crate::domain::{AppId, EventTypeName, MessageId, MessagePayload, Timestamp, TriggerType};

/// The attempt events a batch of recorded attempts raises.
pub(crate) fn attempt_events(records: &[AttemptRecord]) -> Vec<OperationalEvent> {
    records
        .iter()
        .filter(|record| record.attempt.trigger_type == TriggerType::Scheduled)
        .filter_map(|record| {
            let reference = AttemptRef::of(&record.attempt);
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

/// The event type of `disabled_events`, for a write that must know before it disables anything
/// where such an event would go.
pub(crate) const ENDPOINT_DISABLED: &str = "endpoint.disabled";

/// The `endpoint.disabled` events for the endpoints a `record_attempts` write disabled; they
/// follow that write's attempt events.
pub(crate) fn disabled_events(disabled: &[DisabledEndpoint]) -> Vec<OperationalEvent> {
    disabled
        .iter()
        .map(|endpoint| OperationalEvent::EndpointDisabled {
            endpoint: EndpointRef {
                app_id: endpoint.app_id.clone(),
                app_uid: None,
                endpoint_id: endpoint.endpoint_id.clone(),
                endpoint_uid: None,
            },
            failing_since: endpoint.failing_since,
        })
        .collect()
}

/// When a batch of attempt records happened, for its events: the latest attempt's start.
pub(crate) fn recorded_at(records: &[AttemptRecord]) -> Option<Timestamp> {
    records.iter().map(|record| record.attempt.created_at).max()
}

/// The message of the internal application that carries `event`, or `None` for an event about
/// that application itself.
pub(crate) fn event_message(event: &OperationalEvent, now: Timestamp) -> Option<NewMessage> {
    if event.concerns_operational_app() {
        return None;
    }
    Some(NewMessage {
        id: MessageId::generate(now, rand::random()),
        app_id: AppId::from_trusted(OPERATIONAL_APP_ID),
        event_type: EventTypeName::parse(event.event_type())
            .expect("operational event types are valid"),
        event_id: None,
        payload: MessagePayload::parse(&event.payload(now).to_string())
            .expect("hookd builds operational payloads as JSON objects"),
        channels: Vec::new(),
        tags: Vec::new(),
        deliver_at: None,
        recipients: crate::domain::Recipients::Matching,
        now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Attempt, AttemptId, DeliveryId, DeliveryStatus, EndpointId};
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
    fn a_disabled_endpoint_follows_the_attempt_events() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let records = [record(3, NextStep::GiveUp, TriggerType::Scheduled, "app_1")];
        let disabled = [DisabledEndpoint {
            app_id: AppId::from_trusted("app_1"),
            endpoint_id: EndpointId::from_trusted("ep_1"),
            failing_since: Some(now),
        }];
        let mut events = attempt_events(&records);
        events.extend(disabled_events(&disabled));
        let types: Vec<&str> = events.iter().map(OperationalEvent::event_type).collect();
        assert_eq!(types, ["message.attempt.exhausted", ENDPOINT_DISABLED]);
        assert_eq!(
            events[1].payload(now)["data"]["failSince"],
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(recorded_at(&records), Some(now));
    }

    #[test]
    fn events_about_the_operational_app_make_no_message() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let cases = [(OPERATIONAL_APP_ID, false), ("app_1", true)];
        for (app, raised) in cases {
            let event = attempt_events(&[record(3, NextStep::GiveUp, TriggerType::Scheduled, app)])
                .remove(0);
            let message = event_message(&event, now);
            assert_eq!(message.is_some(), raised, "{app}");
            if let Some(message) = message {
                assert_eq!(message.app_id.as_str(), OPERATIONAL_APP_ID);
                assert_eq!(message.event_type.as_str(), "message.attempt.exhausted");
                assert_eq!(message.now, now);
            }
        }
    }
}
