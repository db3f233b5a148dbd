//! The reads behind Svix's `message.precheck`, `endpoint.get_attempt_stats` and
//! `message_attempt.list_attempted_messages`: the application's fan-out targets, an endpoint's
//! attempt counts in a window, and the messages an endpoint was sent with their latest state.

use super::*;

use hookd::domain::HourWindow;
use hookd::store::endpoint_logs::{AttemptCounts, EndpointMessageFilter};
use hookd::store::logs::DeliveryState;

contract!(
    fanout_targets_are_every_endpoint_as_fan_out_reads_it,
    endpoint_attempts_are_counted_by_outcome_in_a_window,
    endpoint_messages_list_with_their_latest_state,
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
            polling: false,
            event_types: Some(vec![event("invoice.paid")]),
            channels: Some(vec![ChannelName::parse("eu").unwrap()]),
            filter: None,
        },
        hookd::domain::FanoutTarget {
            id: disabled_id,
            disabled: true,
            polling: false,
            event_types: None,
            channels: None,
            filter: None,
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

async fn endpoint_messages_list_with_their_latest_state(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let mut only_paid = endpoint_fields(None);
    only_paid.event_types = Some(vec![event("invoice.paid")]);
    let other = new_endpoint(&store, &app_id, only_paid, now).await;
    let (paid, _) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    let mut on_eu = new_message(&app_id, "invoice.voided", now + seconds(1));
    on_eu.channels = vec![ChannelName::parse("eu").unwrap()];
    let (voided, _) = create(&store, on_eu).await;
    let (waiting, _) = create(
        &store,
        new_message(&app_id, "invoice.sent", now + seconds(2)),
    )
    .await;

    // Succeed the first, fail the second for good, and leave the third leased (sending).
    let claimed = store
        .claim_due_deliveries(now + seconds(3), LEASE, budget(100))
        .await
        .unwrap();
    let claim_of = |msg: &MessageId| {
        claimed
            .iter()
            .find(|claim| &claim.msg_id == msg && claim.endpoint_id == endpoint_id)
            .unwrap()
    };
    let records = vec![
        record(
            claim_of(&paid),
            claim_of(&paid).lease_token,
            200,
            NextStep::Done,
            now,
        ),
        record(
            claim_of(&voided),
            claim_of(&voided).lease_token,
            500,
            NextStep::GiveUp,
            now,
        ),
    ];
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();

    let list = |filter: EndpointMessageFilter, request: PageRequest| {
        let store = &store;
        let app_id = &app_id;
        let endpoint_id = &endpoint_id;
        async move {
            store
                .list_endpoint_messages(app_id, endpoint_id, filter, request)
                .await
                .unwrap()
        }
    };
    let newest_first = |limit, iterator| PageRequest {
        limit,
        iterator,
        order: Order::Descending,
    };
    let all = list(EndpointMessageFilter::default(), newest_first(10, None)).await;
    let states: Vec<(MessageId, DeliveryState)> = all
        .items
        .iter()
        .map(|item| (item.message.id.clone(), item.state))
        .collect();
    assert_eq!(
        states,
        vec![
            (waiting.clone(), DeliveryState::Sending),
            (voided.clone(), DeliveryState::Failed),
            (paid.clone(), DeliveryState::Success),
        ]
    );
    assert!(all.done);
    assert!(
        all.items[0].next_attempt_at.is_some(),
        "a pending one has its due time"
    );
    assert_eq!(all.items[1].next_attempt_at, None);
    assert_eq!(
        all.items[2].message.payload.as_deref(),
        Some(r#"{"amount":42}"#)
    );

    // Paged by message id, both ways.
    let first = list(EndpointMessageFilter::default(), newest_first(2, None)).await;
    assert_eq!(first.items.len(), 2);
    assert!(!first.done);
    let second = list(
        EndpointMessageFilter::default(),
        newest_first(2, first.iterator),
    )
    .await;
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].message.id, paid);
    let back = list(
        EndpointMessageFilter::default(),
        newest_first(2, second.prev_iterator),
    )
    .await;
    assert_eq!(back.items.len(), 2);
    assert_eq!(back.items[0].message.id, waiting);

    let by_status = |status| EndpointMessageFilter {
        status: Some(status),
        ..EndpointMessageFilter::default()
    };
    let ids = |page: Page<hookd::store::endpoint_logs::EndpointMessage>| -> Vec<MessageId> {
        page.items.into_iter().map(|item| item.message.id).collect()
    };
    assert_eq!(
        ids(list(by_status(DeliveryStatus::Success), newest_first(10, None)).await),
        vec![paid.clone()]
    );
    assert_eq!(
        ids(list(by_status(DeliveryStatus::Fail), newest_first(10, None)).await),
        vec![voided.clone()]
    );
    assert_eq!(
        ids(list(by_status(DeliveryStatus::Sending), newest_first(10, None)).await),
        vec![waiting.clone()]
    );
    assert!(ids(list(by_status(DeliveryStatus::Pending), newest_first(10, None)).await).is_empty());
    let canceled = EndpointMessageFilter {
        only_canceled: true,
        ..EndpointMessageFilter::default()
    };
    assert!(ids(list(canceled, newest_first(10, None)).await).is_empty());
    let on_channel = EndpointMessageFilter {
        messages: MessageFilter {
            channel: Some(ChannelName::parse("eu").unwrap()),
            ..MessageFilter::default()
        },
        ..EndpointMessageFilter::default()
    };
    assert_eq!(
        ids(list(on_channel, newest_first(10, None)).await),
        vec![voided.clone()]
    );
    let typed_and_timed = EndpointMessageFilter {
        messages: MessageFilter {
            event_types: Some(vec![event("invoice.paid"), event("invoice.sent")]),
            after: Some(now),
            ..MessageFilter::default()
        },
        ..EndpointMessageFilter::default()
    };
    assert_eq!(
        ids(list(typed_and_timed, newest_first(10, None)).await),
        vec![waiting.clone()]
    );

    // Only the endpoint's own messages: the other one was sent only the paid invoice.
    let others = store
        .list_endpoint_messages(
            &app_id,
            &other,
            EndpointMessageFilter::default(),
            newest_first(10, None),
        )
        .await
        .unwrap();
    assert_eq!(ids(others), vec![paid]);
}
