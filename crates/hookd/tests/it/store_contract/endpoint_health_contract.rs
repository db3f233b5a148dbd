//! Endpoint health, proven on every backend with injected time: the circuit breaker's rest and
//! its single probe (a failed probe doubles the rest), `Retry-After` rests (capped), `410 Gone`
//! disabling the endpoint and parking its pending deliveries, and disabling an endpoint that
//! has been failing for longer than the window. Every scenario drives `claim_due_deliveries` /
//! `record_attempts` with explicit `now` values; nothing sleeps.

use super::*;
use hookd::store::DisabledEndpoint;
use hookd::store::logs::DeliveryState;

contract!(
    after_the_threshold_of_failures_an_endpoint_rests_then_takes_one_probe,
    retry_after_rests_the_whole_endpoint_for_that_long_capped,
    gone_disables_the_endpoint_and_parks_its_pending_deliveries,
    an_endpoint_failing_for_longer_than_the_window_is_disabled,
);

async fn claim(store: &Arc<dyn Store>, at: Timestamp, limit: usize) -> Vec<ClaimedDelivery> {
    store
        .claim_due_deliveries(at, LEASE, budget(limit))
        .await
        .unwrap()
}

/// Records one attempt per claim, all alike, with the default circuit policy (a rest after 5
/// consecutive failures: 5 s, doubling; `Retry-After` capped at an hour).
async fn record_all(
    store: &Arc<dyn Store>,
    claims: &[ClaimedDelivery],
    status_code: u16,
    next: NextStep,
    at: Timestamp,
) -> Vec<DisabledEndpoint> {
    let records = claims
        .iter()
        .map(|claimed| record(claimed, claimed.lease_token, status_code, next, at))
        .collect();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap()
}

async fn state_of(store: &Arc<dyn Store>, app_id: &AppId, msg_id: &MessageId) -> DeliveryState {
    let destinations = store
        .list_message_destinations(app_id, msg_id, page(10, None))
        .await
        .unwrap();
    assert_eq!(destinations.items.len(), 1, "{msg_id} went to one endpoint");
    destinations.items[0].state
}

async fn is_disabled(store: &Arc<dyn Store>, app_id: &AppId, endpoint_id: &EndpointId) -> bool {
    store
        .get_endpoint(app_id, endpoint_id.as_str())
        .await
        .unwrap()
        .expect("the endpoint is kept")
        .fields
        .disabled
}

/// Five failures open the circuit: nothing is claimed for 5 s, then exactly one probe goes
/// although more are due; a failed probe rests the endpoint 10 s, a successful one closes the
/// circuit.
async fn after_the_threshold_of_failures_an_endpoint_rests_then_takes_one_probe(
    store: Arc<dyn Store>,
) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    for n in 0..10 {
        create(
            &store,
            new_message(&app_id, "invoice.paid", now + seconds(n)),
        )
        .await;
    }
    let failed_at = now + seconds(20);
    let failing = claim(&store, failed_at, 5).await;
    assert_eq!(failing.len(), 5);
    let retry = NextStep::RetryAt(failed_at + seconds(3600));
    record_all(&store, &failing, 503, retry, failed_at).await;

    let rest_ends = failed_at + seconds(5);
    assert!(
        claim(&store, rest_ends - seconds(1), 10).await.is_empty(),
        "nothing during the rest"
    );
    let probe = claim(&store, rest_ends, 10).await;
    assert_eq!(probe.len(), 1, "one probe, though five are due");
    assert!(
        claim(&store, rest_ends + seconds(1), 10).await.is_empty(),
        "no second delivery while the probe is in flight"
    );

    let probe_failed_at = rest_ends + seconds(2);
    record_all(&store, &probe, 503, retry, probe_failed_at).await;
    let longer_rest_ends = probe_failed_at + seconds(10);
    assert!(
        claim(&store, longer_rest_ends - seconds(1), 10)
            .await
            .is_empty(),
        "a failed probe doubles the rest"
    );
    let second_probe = claim(&store, longer_rest_ends, 10).await;
    assert_eq!(second_probe.len(), 1, "again a single probe");

    record_all(&store, &second_probe, 200, NextStep::Done, longer_rest_ends).await;
    assert_eq!(
        claim(&store, longer_rest_ends, 10).await.len(),
        3,
        "a successful probe closes the circuit: the rest go at once"
    );
}

/// A failure that carries `Retry-After` rests the whole endpoint that long, however many of its
/// deliveries are due; a longer one is capped at the policy's `max_pause` (an hour). Other
/// endpoints go on.
async fn retry_after_rests_the_whole_endpoint_for_that_long_capped(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let short = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let long = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    for n in 0..3 {
        create(
            &store,
            new_message(&app_id, "invoice.paid", now + seconds(n)),
        )
        .await;
    }
    let at = now + seconds(10);
    let first = claim(&store, at, 2).await;
    assert_eq!(first.len(), 2, "one of each endpoint: the fair order");
    let records = first
        .iter()
        .map(|claimed| {
            let mut failed = record(
                claimed,
                claimed.lease_token,
                429,
                NextStep::RetryAt(at + seconds(1)),
                at,
            );
            failed.retry_after = Some(if claimed.endpoint_id == short {
                Duration::from_secs(120)
            } else {
                Duration::from_secs(10 * 3600)
            });
            failed
        })
        .collect();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();

    let endpoints = |claims: &[ClaimedDelivery]| -> Vec<EndpointId> {
        claims
            .iter()
            .map(|claimed| claimed.endpoint_id.clone())
            .collect()
    };
    assert!(
        claim(&store, at + seconds(119), 10).await.is_empty(),
        "both rest although six deliveries are due"
    );
    let after_short = claim(&store, at + seconds(120), 10).await;
    assert_eq!(after_short.len(), 3, "the short rest is over");
    assert!(endpoints(&after_short).iter().all(|id| *id == short));
    record_all(&store, &after_short, 200, NextStep::Done, at + seconds(121)).await;
    assert!(
        claim(&store, at + seconds(3599), 10).await.is_empty(),
        "the long rest holds for the cap"
    );
    let after_cap = claim(&store, at + seconds(3600), 10).await;
    assert_eq!(after_cap.len(), 3, "ten hours were capped at one");
    assert!(endpoints(&after_cap).iter().all(|id| *id == long));
}

/// `410 Gone` disables the endpoint and parks its pending deliveries: kept (the message and
/// its state are still there), not sent. One in flight at that moment is parked once its lease
/// runs out, instead of being sent again.
async fn gone_disables_the_endpoint_and_parks_its_pending_deliveries(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let mut messages = Vec::new();
    for n in 0..4 {
        let message = new_message(&app_id, "invoice.paid", now + seconds(n));
        messages.push(create(&store, message).await.0);
    }
    let at = now + seconds(10);
    let in_flight = claim(&store, at, 2).await;
    assert_eq!(in_flight.len(), 2);
    let mut gone = record(
        &in_flight[0],
        in_flight[0].lease_token,
        410,
        NextStep::GiveUp,
        at + seconds(1),
    );
    gone.disable_endpoint = true;
    let disabled = store
        .record_attempts(vec![gone], CircuitPolicy::default())
        .await
        .unwrap();
    assert_eq!(
        disabled,
        vec![DisabledEndpoint {
            app_id: app_id.clone(),
            endpoint_id: endpoint_id.clone(),
            failing_since: Some(at + seconds(1)),
        }]
    );
    assert!(is_disabled(&store, &app_id, &endpoint_id).await);

    let (gone_msg, leased_msg) = (&in_flight[0].msg_id, &in_flight[1].msg_id);
    let waiting: Vec<&MessageId> = messages
        .iter()
        .filter(|msg_id| *msg_id != gone_msg && *msg_id != leased_msg)
        .collect();
    assert_eq!(
        state_of(&store, &app_id, gone_msg).await,
        DeliveryState::Failed
    );
    assert_eq!(
        state_of(&store, &app_id, leased_msg).await,
        DeliveryState::Sending
    );
    for msg_id in &waiting {
        assert_eq!(
            state_of(&store, &app_id, msg_id).await,
            DeliveryState::Parked
        );
    }

    let after_lease = at + seconds(31);
    assert!(
        claim(&store, after_lease, 10).await.is_empty(),
        "nothing of a disabled endpoint is sent"
    );
    assert_eq!(
        state_of(&store, &app_id, leased_msg).await,
        DeliveryState::Parked,
        "the lapsed lease's delivery is parked, not sent"
    );
    for msg_id in &messages {
        assert!(
            store
                .get_message(&app_id, msg_id.as_str())
                .await
                .unwrap()
                .is_some(),
            "parking deletes nothing"
        );
    }
    let dead_letters = store
        .list_dead_letters(&app_id, Default::default(), page(10, None))
        .await
        .unwrap();
    let parked = dead_letters
        .items
        .iter()
        .filter(|letter| letter.parked)
        .count();
    assert_eq!(
        (dead_letters.items.len(), parked),
        (4, 3),
        "the given-up one and three parked"
    );
}

/// An endpoint is disabled when an attempt fails and it has been failing, without a success,
/// since the window's start or earlier; a success starts the count again.
async fn an_endpoint_failing_for_longer_than_the_window_is_disabled(store: Arc<dyn Store>) {
    const WINDOW: i64 = 3600;
    let now = t0();
    let app_id = new_app(&store, now).await;
    let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let (failing_msg, _) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    let mut later = new_message(&app_id, "invoice.paid", now);
    later.deliver_at = Some(now + seconds(100 * 86_400));
    let (later_msg, _) = create(&store, later).await;

    // Each attempt fails and is retried at the next time in the list.
    let start = now + seconds(10);
    let times = [start, start + seconds(WINDOW - 1), start + seconds(WINDOW)];
    let mut outcomes = Vec::new();
    for (index, at) in times.iter().enumerate() {
        let claimed = claim(&store, *at, 10).await;
        assert_eq!(claimed.len(), 1, "attempt {index}");
        let next = times
            .get(index + 1)
            .map_or(NextStep::GiveUp, |next| NextStep::RetryAt(*next));
        let mut failed = record(&claimed[0], claimed[0].lease_token, 500, next, *at);
        failed.disable_if_failing_since = Some(*at - seconds(WINDOW));
        outcomes.push(
            store
                .record_attempts(vec![failed], CircuitPolicy::default())
                .await
                .unwrap(),
        );
    }
    assert!(
        outcomes[0].is_empty(),
        "the first failure starts the window"
    );
    assert!(outcomes[1].is_empty(), "a second short of the window");
    assert_eq!(
        outcomes[2],
        vec![DisabledEndpoint {
            app_id: app_id.clone(),
            endpoint_id: endpoint_id.clone(),
            failing_since: Some(start),
        }],
        "failing for the whole window"
    );
    assert!(is_disabled(&store, &app_id, &endpoint_id).await);
    assert_eq!(
        state_of(&store, &app_id, &failing_msg).await,
        DeliveryState::Failed
    );
    assert_eq!(
        state_of(&store, &app_id, &later_msg).await,
        DeliveryState::Parked,
        "its pending delivery is parked"
    );

    // Another endpoint fails as long, but one success in between started its window again.
    let other = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let base = start + seconds(WINDOW);
    let (_, _) = create(&store, new_message(&app_id, "invoice.paid", base)).await;
    let first = claim(&store, base, 10).await;
    assert_eq!(first.len(), 1);
    let mut failed = record(
        &first[0],
        first[0].lease_token,
        500,
        NextStep::RetryAt(base + seconds(WINDOW)),
        base,
    );
    failed.disable_if_failing_since = Some(base - seconds(WINDOW));
    store
        .record_attempts(vec![failed], CircuitPolicy::default())
        .await
        .unwrap();
    let mut ok = new_message(&app_id, "invoice.paid", base);
    ok.deliver_at = Some(base + seconds(10));
    create(&store, ok).await;
    let succeeded = claim(&store, base + seconds(10), 10).await;
    assert_eq!(succeeded.len(), 1);
    record_all(&store, &succeeded, 200, NextStep::Done, base + seconds(10)).await;
    let last = claim(&store, base + seconds(WINDOW), 10).await;
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].endpoint_id, other);
    let at = base + seconds(WINDOW);
    let mut failed = record(&last[0], last[0].lease_token, 500, NextStep::GiveUp, at);
    failed.disable_if_failing_since = Some(at - seconds(WINDOW));
    let disabled = store
        .record_attempts(vec![failed], CircuitPolicy::default())
        .await
        .unwrap();
    assert!(disabled.is_empty(), "failing only since the last attempt");
    assert!(!is_disabled(&store, &app_id, &other).await);
}
