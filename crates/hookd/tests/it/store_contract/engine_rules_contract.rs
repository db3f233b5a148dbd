//! The engine's claim rules, proven on every backend with injected time: an endpoint's
//! `maxInFlight` counted over the live leases of every node, FIFO on an `ordered` endpoint, and
//! the endpoint's and application's `throttleRate` token buckets. Every scenario drives
//! `claim_due_deliveries` / `record_attempts` / `renew_leases` with explicit `now` values;
//! nothing sleeps.

use super::*;

mod two_nodes {
    use super::*;
    use hookd::store::HeldLease;

    contract_two_nodes!(max_in_flight_counts_the_live_leases_of_every_node);

    /// Two nodes with different budgets claim from one endpoint whose `maxInFlight` is 2: what
    /// the first holds counts against the second until it is recorded or its lease runs out.
    async fn max_in_flight_counts_the_live_leases_of_every_node(
        node_a: Arc<dyn Store>,
        node_b: Arc<dyn Store>,
    ) {
        let now = t0();
        let app_id = new_app(&node_a, now).await;
        let mut fields = endpoint_fields(None);
        fields.delivery.max_in_flight = Some(2);
        new_endpoint(&node_a, &app_id, fields, now).await;
        for n in 0..6 {
            create(
                &node_a,
                new_message(&app_id, "invoice.paid", now + millis(n)),
            )
            .await;
        }
        let at = now + seconds(1);
        let first = claim(&node_a, at, budget(10)).await;
        assert_eq!(first.len(), 2, "the endpoint's maxInFlight, not the budget");
        let other_budget = ClaimBudget {
            limit: 50,
            default_max_in_flight: 1000,
            ..ClaimBudget::default()
        };
        assert!(
            claim(&node_b, at + seconds(1), other_budget.clone())
                .await
                .is_empty(),
            "the other node sees the first node's live leases"
        );

        // One is recorded: its slot is free for the other node, and only that one.
        record_all(&node_a, &first[..1], 200, NextStep::Done, at + seconds(2)).await;
        let second = claim(&node_b, at + seconds(2), other_budget.clone()).await;
        assert_eq!(second.len(), 1, "one lease of the first node is still live");
        assert!(
            claim(&node_a, at + seconds(3), budget(10)).await.is_empty(),
            "both slots are held again, one by each node"
        );

        // The first node's remaining lease runs out (it died): its slot is free again, while
        // the second node's lease, taken later, still counts.
        let lapsed = at + seconds(30);
        let third = claim(&node_b, lapsed, other_budget.clone()).await;
        assert_eq!(third.len(), 1, "only the lapsed lease's slot");
        assert!(claim(&node_a, lapsed, budget(10)).await.is_empty());

        // The second node's heartbeat renews its older lease (which would end at +2 s): it
        // keeps counting past its first end.
        let heartbeat = vec![HeldLease {
            delivery_id: second[0].delivery_id.clone(),
            lease_token: second[0].lease_token,
        }];
        let renewed = node_b
            .renew_leases(heartbeat, lapsed + seconds(60))
            .await
            .unwrap();
        assert_eq!(renewed, vec![second[0].delivery_id.clone()]);
        assert!(
            claim(&node_a, lapsed + seconds(5), budget(10))
                .await
                .is_empty(),
            "a renewed lease still counts"
        );

        // Recording the rest frees both slots.
        record_all(&node_b, &second, 200, NextStep::Done, lapsed + seconds(6)).await;
        record_all(&node_b, &third, 200, NextStep::Done, lapsed + seconds(6)).await;
        assert_eq!(
            claim(&node_a, lapsed + seconds(6), budget(10)).await.len(),
            2
        );
    }
}

contract!(
    an_ordered_endpoint_sends_a_message_only_after_the_one_before_it_finished,
    an_endpoint_throttle_postpones_claims_to_the_next_token,
    an_application_throttle_is_shared_by_its_endpoints,
);

fn millis(ms: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(ms)
}

async fn claim(store: &Arc<dyn Store>, at: Timestamp, budget: ClaimBudget) -> Vec<ClaimedDelivery> {
    store.claim_due_deliveries(at, LEASE, budget).await.unwrap()
}

/// Records one attempt for each claim, all with the same status and next step.
async fn record_all(
    store: &Arc<dyn Store>,
    claims: &[ClaimedDelivery],
    status_code: u16,
    next: NextStep,
    at: Timestamp,
) {
    let records = claims
        .iter()
        .map(|claimed| record(claimed, claimed.lease_token, status_code, next, at))
        .collect();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();
}

fn messages_of(claims: &[ClaimedDelivery]) -> Vec<MessageId> {
    claims
        .iter()
        .map(|claimed| claimed.msg_id.clone())
        .collect()
}

/// Delivery n+1 of an ordered endpoint is not claimed while delivery n is in flight, waits
/// for a retry, or is leased by a worker that died; it is claimed once n succeeded or was
/// given up.
async fn an_ordered_endpoint_sends_a_message_only_after_the_one_before_it_finished(
    store: Arc<dyn Store>,
) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let mut fields = endpoint_fields(None);
    fields.delivery.ordered = true;
    new_endpoint(&store, &app_id, fields, now).await;
    let mut messages = Vec::new();
    for n in 0..3 {
        let message = new_message(&app_id, "invoice.paid", now + millis(n));
        messages.push(create(&store, message).await.0);
    }

    let first = claim(&store, now + seconds(1), budget(10)).await;
    assert_eq!(messages_of(&first), messages[..1], "only the head");
    assert!(
        claim(&store, now + seconds(2), budget(10)).await.is_empty(),
        "nothing while the head is in flight"
    );
    let retry_at = now + seconds(60);
    record_all(
        &store,
        &first,
        503,
        NextStep::RetryAt(retry_at),
        now + seconds(3),
    )
    .await;
    assert!(
        claim(&store, now + seconds(30), budget(10))
            .await
            .is_empty(),
        "the second message does not overtake a head waiting for its retry"
    );
    let retried = claim(&store, retry_at, budget(10)).await;
    assert_eq!(messages_of(&retried), messages[..1]);
    record_all(&store, &retried, 200, NextStep::Done, retry_at).await;

    let second = claim(&store, retry_at, budget(10)).await;
    assert_eq!(
        messages_of(&second),
        messages[1..2],
        "the next once the head succeeded"
    );
    // The worker holding the second one dies: the third still waits, and the second is
    // claimed again when its lease runs out.
    assert!(
        claim(&store, retry_at + seconds(29), budget(10))
            .await
            .is_empty()
    );
    let reclaimed = claim(&store, retry_at + seconds(31), budget(10)).await;
    assert_eq!(messages_of(&reclaimed), messages[1..2]);
    let gave_up_at = retry_at + seconds(32);
    record_all(&store, &reclaimed, 500, NextStep::GiveUp, gave_up_at).await;

    let third = claim(&store, gave_up_at, budget(10)).await;
    assert_eq!(
        messages_of(&third),
        messages[2..],
        "the next once the one before was given up"
    );
}

/// An endpoint with `throttleRate` 20 holds two tokens and earns one every 50 ms: a claim
/// takes at most what the bucket holds, and an empty bucket postpones the endpoint to the time
/// its next token is there.
async fn an_endpoint_throttle_postpones_claims_to_the_next_token(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let mut fields = endpoint_fields(None);
    fields.throttle_rate = Some(20);
    new_endpoint(&store, &app_id, fields, now).await;
    for n in 0..8 {
        create(
            &store,
            new_message(&app_id, "invoice.paid", now + millis(n)),
        )
        .await;
    }
    let at = now + seconds(1);
    assert_eq!(
        claim(&store, at, budget(10)).await.len(),
        2,
        "a full bucket"
    );
    assert!(claim(&store, at, budget(10)).await.is_empty(), "empty now");
    assert_eq!(
        store.next_due_at().await.unwrap(),
        Some(at + millis(50)),
        "postponed to the next token"
    );
    assert!(claim(&store, at + millis(49), budget(10)).await.is_empty());
    assert_eq!(claim(&store, at + millis(50), budget(10)).await.len(), 1);
    assert!(
        claim(&store, at + millis(60), budget(10)).await.is_empty(),
        "the token was spent"
    );
    assert_eq!(
        claim(&store, at + seconds(60), budget(10)).await.len(),
        2,
        "a minute's rest fills the bucket, no more"
    );
}

/// An application's `throttleRate` is one bucket for all its endpoints; another application is
/// not held back by it.
async fn an_application_throttle_is_shared_by_its_endpoints(store: Arc<dyn Store>) {
    let now = t0();
    let throttled = AppId::generate(now, rand::random());
    let fields = ApplicationFields {
        throttle_rate: Some(20),
        ..app_fields(None, "throttled")
    };
    store
        .create_application(throttled.clone(), fields, now)
        .await
        .unwrap();
    let free = new_app(&store, now).await;
    let mut throttled_endpoints = Vec::new();
    for _ in 0..2 {
        throttled_endpoints
            .push(new_endpoint(&store, &throttled, endpoint_fields(None), now).await);
    }
    let free_endpoint = new_endpoint(&store, &free, endpoint_fields(None), now).await;
    for n in 0..3 {
        create(
            &store,
            new_message(&throttled, "invoice.paid", now + millis(n)),
        )
        .await;
        create(&store, new_message(&free, "invoice.paid", now + millis(n))).await;
    }
    let from = |claims: &[ClaimedDelivery], endpoints: &[EndpointId]| {
        claims
            .iter()
            .filter(|claimed| endpoints.contains(&claimed.endpoint_id))
            .count()
    };

    let at = now + seconds(1);
    let first = claim(&store, at, budget(100)).await;
    assert_eq!(
        from(&first, &throttled_endpoints),
        2,
        "two tokens for both endpoints together"
    );
    assert_eq!(
        from(&first, std::slice::from_ref(&free_endpoint)),
        3,
        "the other application is not throttled"
    );
    assert!(claim(&store, at, budget(100)).await.is_empty());
    assert!(claim(&store, at + millis(49), budget(100)).await.is_empty());
    let next = claim(&store, at + millis(50), budget(100)).await;
    assert_eq!(from(&next, &throttled_endpoints), 1, "one token in 50 ms");
    assert_eq!(next.len(), 1);
    let rest = claim(&store, at + seconds(60), budget(100)).await;
    assert_eq!(
        from(&rest, &throttled_endpoints),
        2,
        "the bucket holds two, however long it rested"
    );
}
