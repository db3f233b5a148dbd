//! PostgreSQL only, where several nodes share the queue: a lease renewal never waits for a
//! delivery row another transaction holds (it answers the lease busy), and a recorded success
//! on an endpoint that is not ordered leaves its queue row alone (the row every node's claims
//! and message writers wait for).

use super::*;

use hookd::store::HeldLease;

fn held(claim: &ClaimedDelivery) -> HeldLease {
    HeldLease {
        delivery_id: claim.delivery_id.clone(),
        lease_token: claim.lease_token,
    }
}

/// Three leases renewed while another session holds the first one's row (as this node's own
/// record of a finished attempt does while it waits for a queue row): the renewal comes back
/// without waiting, the held one busy, the free one renewed, the one with a stale token lost.
#[tokio::test]
async fn postgres_a_renewal_answers_a_held_row_busy_without_waiting() {
    let schema = TestSchema::create("store_contract::postgres_renewal_busy").await;
    let postgres = open_postgres(&schema).await;
    let store: Arc<dyn Store> = postgres.clone();
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

    let mut holder = schema.connect().await;
    let holding = holder.transaction().await.unwrap();
    holding
        .execute(
            "SELECT 1 FROM delivery WHERE id = $1 FOR NO KEY UPDATE",
            &[&claimed[0].delivery_id.as_str()],
        )
        .await
        .unwrap();
    let mut stale = held(&claimed[2]);
    stale.lease_token = stale.lease_token.wrapping_add(1);
    let leases = vec![held(&claimed[0]), held(&claimed[1]), stale];
    // Not a timing threshold: a renewal that waits for the held row never comes back while it
    // is held, and ten seconds only bounds how long the test takes to say so.
    let renewed = tokio::time::timeout(
        Duration::from_secs(10),
        store.renew_leases_unless_busy(leases, at + seconds(20)),
    )
    .await
    .expect("the renewal waited for the row another transaction holds")
    .unwrap();
    assert_eq!(renewed.renewed, vec![claimed[1].delivery_id.clone()]);
    assert_eq!(renewed.busy, vec![claimed[0].delivery_id.clone()]);
    holding.commit().await.unwrap();

    // Once the row is free, the busy lease renews as usual.
    let renewed = store
        .renew_leases_unless_busy(vec![held(&claimed[0])], at + seconds(20))
        .await
        .unwrap();
    assert_eq!(renewed.renewed, vec![claimed[0].delivery_id.clone()]);
    assert!(renewed.busy.is_empty());
    postgres.close().await;
}

/// A success and a retry recorded together on an endpoint that is not ordered: the queue entry
/// comes down to the retry's time, not to the success's (which makes nothing due).
#[tokio::test]
async fn postgres_a_recorded_success_does_not_make_its_endpoint_due() {
    let schema = TestSchema::create("store_contract::postgres_success_not_due").await;
    let postgres = open_postgres(&schema).await;
    let store: Arc<dyn Store> = postgres.clone();
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    for n in 0..2 {
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
    assert_eq!(claimed.len(), 2);
    let retry_at = at + seconds(3);
    let records = vec![
        record(
            &claimed[0],
            claimed[0].lease_token,
            200,
            NextStep::Done,
            at + seconds(1),
        ),
        record(
            &claimed[1],
            claimed[1].lease_token,
            500,
            NextStep::RetryAt(retry_at),
            at + seconds(1),
        ),
    ];
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();
    assert_eq!(store.next_due_at().await.unwrap(), Some(retry_at));
    postgres.close().await;
}
