//! Recording a batch of attempts in one call, as the recorder does: each delivery moves on
//! only under its own lease token, and each endpoint's health follows its attempts in the
//! batch's order, endpoints apart, however the batch interleaves them. And on PostgreSQL, a
//! claim waits for a due endpoint's queue row that a writer holds rather than coming back empty.

use super::*;

contract!(
    a_batch_advances_only_the_deliveries_whose_token_still_matches,
    a_batch_applies_each_endpoints_attempts_in_order,
);

/// Three deliveries recorded together, one of them under a token that is no longer its lease:
/// the other two finish, all three attempts are kept, and the third stays leased and unmoved.
async fn a_batch_advances_only_the_deliveries_whose_token_still_matches(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    for n in 0..3 {
        create(
            &store,
            new_message(&app_id, "invoice.paid", now + seconds(n)),
        )
        .await;
    }
    let at = now + seconds(5);
    let claimed = store
        .claim_due_deliveries(at, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let stale = &claimed[1];
    let records = claimed
        .iter()
        .map(|claim| {
            let token = if claim.delivery_id == stale.delivery_id {
                claim.lease_token.wrapping_add(1)
            } else {
                claim.lease_token
            };
            record(claim, token, 200, NextStep::Done, at + seconds(1))
        })
        .collect();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();

    let attempts = store
        .list_attempts(&app_id, None, AttemptFilter::default(), page(10, None))
        .await
        .unwrap();
    assert_eq!(attempts.items.len(), 3, "every attempt is kept");
    let lease_end = at + chrono::Duration::from_std(LEASE).unwrap();
    assert!(
        store
            .claim_due_deliveries(lease_end - seconds(1), LEASE, budget(10))
            .await
            .unwrap()
            .is_empty(),
        "the stale record did not end its delivery's lease"
    );
    let again = store
        .claim_due_deliveries(lease_end, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "only the stale one is left");
    assert_eq!(again[0].delivery_id, stale.delivery_id);
    assert_eq!(again[0].attempts_made, 0, "its stale attempt did not count");
}

/// Two endpoints' attempts interleaved in one batch. Endpoint A fails four times, then
/// succeeds: its count is back to zero, so a fifth failure later does not open its circuit.
/// Endpoint B fails five times: its circuit opens (a 5 s rest) and it takes nothing until then.
async fn a_batch_applies_each_endpoints_attempts_in_order(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let a = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let b = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    for n in 0..5 {
        create(
            &store,
            new_message(&app_id, "invoice.paid", now + seconds(n)),
        )
        .await;
    }
    let at = now + seconds(10);
    let claimed = store
        .claim_due_deliveries(at, LEASE, budget(20))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 10);
    let of = |endpoint: &EndpointId| -> Vec<&ClaimedDelivery> {
        claimed
            .iter()
            .filter(|c| &c.endpoint_id == endpoint)
            .collect()
    };
    let (on_a, on_b) = (of(&a), of(&b));
    let retry = NextStep::RetryAt(at + seconds(3600));
    let mut records = Vec::new();
    for n in 0..5 {
        // A: four failures, then a success; B: five failures; alternating A, B.
        let a_status = if n == 4 { 200 } else { 503 };
        let a_next = if n == 4 { NextStep::Done } else { retry };
        records.push(record(on_a[n], on_a[n].lease_token, a_status, a_next, at));
        records.push(record(on_b[n], on_b[n].lease_token, 503, retry, at));
    }
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();

    // One new delivery on each endpoint.
    create(&store, new_message(&app_id, "invoice.paid", at)).await;
    let during_rest = store
        .claim_due_deliveries(at + seconds(1), LEASE, budget(20))
        .await
        .unwrap();
    assert_eq!(during_rest.len(), 1, "B rests, A goes on");
    assert_eq!(during_rest[0].endpoint_id, a);
    // A fails once more: one failure since its success, far from opening its circuit.
    store
        .record_attempts(
            vec![record(
                &during_rest[0],
                during_rest[0].lease_token,
                503,
                retry,
                at + seconds(2),
            )],
            CircuitPolicy::default(),
        )
        .await
        .unwrap();
    create(
        &store,
        new_message(&app_id, "invoice.paid", at + seconds(2)),
    )
    .await;
    let later = store
        .claim_due_deliveries(at + seconds(3), LEASE, budget(20))
        .await
        .unwrap();
    assert_eq!(later.len(), 1, "A is not resting; B still is");
    assert_eq!(later[0].endpoint_id, a);
    let rest_over = store
        .claim_due_deliveries(at + seconds(5), LEASE, budget(20))
        .await
        .unwrap();
    assert_eq!(rest_over.len(), 1, "B's rest is over: one probe");
    assert_eq!(rest_over[0].endpoint_id, b);
}

mod postgres_claim_wait {
    use super::*;

    /// A claim that finds every due endpoint's queue row locked (here by a session standing in
    /// for a message writer whose commit is making the endpoint due) waits for the row and
    /// claims once it is free, instead of coming back empty while the writer commits.
    #[tokio::test]
    async fn postgres_a_claim_waits_for_a_due_queue_row_a_writer_holds() {
        let schema = TestSchema::create("store_contract::postgres_claim_wait").await;
        let postgres = open_postgres(&schema).await;
        let store: Arc<dyn Store> = postgres.clone();
        let now = t0();
        let app_id = new_app(&store, now).await;
        let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
        create(&store, new_message(&app_id, "invoice.paid", now)).await;

        let watcher = schema.connect().await;
        let mut holder = schema.connect().await;
        let holding = holder.transaction().await.unwrap();
        holding
            .execute(
                "SELECT 1 FROM endpoint_queue WHERE endpoint_id = $1 FOR UPDATE",
                &[&endpoint_id.as_str()],
            )
            .await
            .unwrap();
        let claim = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .claim_due_deliveries(now + seconds(1), LEASE, budget(10))
                    .await
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE application_name = $1 AND wait_event_type = 'Lock'",
                    &[&schema.name],
                )
                .await
                .unwrap()
                .get(0);
            if waiting >= 1 {
                break;
            }
            if claim.is_finished() {
                let early = claim.await.unwrap();
                panic!("the claim came back while the row was held: {early:?}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the claim never came to wait for the row"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        holding.commit().await.unwrap();
        let claimed = claim.await.unwrap().unwrap();
        assert_eq!(claimed.len(), 1, "claimed once the row was free");
        assert_eq!(claimed[0].endpoint_id, endpoint_id);
        postgres.close().await;
    }
}
