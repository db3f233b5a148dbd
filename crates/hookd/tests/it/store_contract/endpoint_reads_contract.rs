//! The reads behind Svix's `message.precheck`, `endpoint.get_attempt_stats` and
//! `message_attempt.list_attempted_messages`: the application's fan-out targets, an endpoint's
//! attempt counts in a window, and the messages an endpoint was sent with their latest state.

use super::*;

use hookd::domain::HourWindow;
use hookd::store::endpoint_logs::AttemptCounts;

contract!(
    fanout_targets_are_every_endpoint_as_fan_out_reads_it,
    endpoint_attempts_are_counted_by_outcome_in_a_window,
);

async fn fanout_targets_are_every_endpoint_as_fan_out_reads_it(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let other_app = new_app(&store, now).await;
    assert!(store.list_fanout_targets(&app_id).await.unwrap().is_empty());
    let mut filtered = endpoint_fields(None);
    filtered.event_types = Some(vec![event("invoice.paid")]);
    filtered.channels = Some(vec![ChannelName::parse("eu").unwrap()]);
    let filtered_id = new_endpoint(&store, &app_id, filtered, now).await;
    let mut disabled = endpoint_fields(None);
    disabled.disabled = true;
    let disabled_id = new_endpoint(&store, &app_id, disabled, now).await;
    new_endpoint(&store, &other_app, endpoint_fields(None), now).await;

    let mut targets = store.list_fanout_targets(&app_id).await.unwrap();
    targets.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut expected = vec![
        hookd::domain::FanoutTarget {
            id: filtered_id,
            disabled: false,
            event_types: Some(vec![event("invoice.paid")]),
            channels: Some(vec![ChannelName::parse("eu").unwrap()]),
        },
        hookd::domain::FanoutTarget {
            id: disabled_id,
            disabled: true,
            event_types: None,
            channels: None,
        },
    ];
    expected.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert_eq!(
        targets, expected,
        "only this application's, filters as stored"
    );
}

async fn endpoint_attempts_are_counted_by_outcome_in_a_window(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let other = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let window = |start: Option<Timestamp>, end: Option<Timestamp>| HourWindow { start, end };
    let counts = |success, fail| AttemptCounts { success, fail };
    let all = window(None, None);
    assert_eq!(
        store
            .count_endpoint_attempts(&endpoint_id, all)
            .await
            .unwrap(),
        counts(0, 0)
    );
    for _ in 0..3 {
        create(&store, new_message(&app_id, "invoice.paid", now)).await;
    }
    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(100))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 6);
    let mine: Vec<&ClaimedDelivery> = claimed
        .iter()
        .filter(|claim| claim.endpoint_id == endpoint_id)
        .collect();
    let later = now + seconds(2 * 3600);
    let records = vec![
        record(mine[0], mine[0].lease_token, 200, NextStep::Done, now),
        record(mine[1], mine[1].lease_token, 204, NextStep::Done, now),
        record(mine[2], mine[2].lease_token, 500, NextStep::GiveUp, later),
    ];
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();

    let count = |window| {
        let store = &store;
        let endpoint_id = &endpoint_id;
        async move {
            store
                .count_endpoint_attempts(endpoint_id, window)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(all).await, counts(2, 1));
    assert_eq!(
        count(window(Some(now), None)).await,
        counts(2, 1),
        "start inclusive"
    );
    assert_eq!(
        count(window(Some(now + seconds(1)), None)).await,
        counts(0, 1)
    );
    assert_eq!(
        count(window(None, Some(later))).await,
        counts(2, 0),
        "end exclusive"
    );
    assert_eq!(
        count(window(None, Some(later + seconds(1)))).await,
        counts(2, 1)
    );
    assert_eq!(
        store.count_endpoint_attempts(&other, all).await.unwrap(),
        counts(0, 0),
        "another endpoint's attempts are not counted"
    );
}
