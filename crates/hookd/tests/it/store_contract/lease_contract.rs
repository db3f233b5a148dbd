//! Lease renewal scenarios: a live worker's heartbeat keeps its short leases, a stale token
//! renews nothing, and (PostgreSQL) a node started under a dead node's name gets its leases
//! back at once.

use super::*;
use hookd::store::HeldLease;
use hookd::store::prelude::*;

contract!(a_renewed_lease_holds_and_a_stale_token_renews_nothing);

const SHORT_LEASE: Duration = Duration::from_secs(6);

fn held(claim: &ClaimedDelivery) -> HeldLease {
    HeldLease {
        delivery_id: claim.delivery_id.clone(),
        lease_token: claim.lease_token,
    }
}

async fn a_renewed_lease_holds_and_a_stale_token_renews_nothing(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    create(&store, new_message(&app_id, "invoice.paid", now)).await;

    let first = store
        .claim_due_deliveries(now, SHORT_LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let renewed = store
        .renew_leases(vec![held(&first[0])], now + seconds(10))
        .await
        .unwrap();
    assert_eq!(renewed, vec![first[0].delivery_id.clone()]);
    let during = store
        .claim_due_deliveries(now + seconds(8), SHORT_LEASE, budget(10))
        .await
        .unwrap();
    assert!(
        during.is_empty(),
        "the renewed lease holds past its first end"
    );

    // Not renewed again: the lease runs out, and another claim takes the delivery.
    let after = store
        .claim_due_deliveries(now + seconds(11), SHORT_LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].delivery_id, first[0].delivery_id);
    let stale = store
        .renew_leases(vec![held(&first[0])], now + seconds(30))
        .await
        .unwrap();
    assert!(stale.is_empty(), "a stale token renews nothing");
    let still_held = store
        .claim_due_deliveries(now + seconds(16), SHORT_LEASE, budget(10))
        .await
        .unwrap();
    assert!(still_held.is_empty(), "the new lease runs until +17 s");
    let lapsed = store
        .claim_due_deliveries(now + seconds(18), SHORT_LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(
        lapsed.len(),
        1,
        "the stale renewal did not extend the new lease"
    );

    // A recorded delivery has no lease left to renew.
    store
        .record_attempts(
            vec![record(
                &lapsed[0],
                lapsed[0].lease_token,
                200,
                NextStep::Done,
                now + seconds(19),
            )],
            CircuitPolicy::default(),
        )
        .await
        .unwrap();
    let finished = store
        .renew_leases(vec![held(&lapsed[0])], now + seconds(40))
        .await
        .unwrap();
    assert!(finished.is_empty());
}

#[tokio::test]
async fn postgres_a_node_started_under_a_dead_nodes_name_releases_its_leases() {
    let schema = TestSchema::create("store_contract::lease_contract::node_restart").await;
    let now = t0();
    let dead = PostgresStore::open(&schema.url, "node-a").await.unwrap();
    let dead: Arc<dyn Store> = Arc::new(dead);
    let app_id = new_app(&dead, now).await;
    new_endpoint(&dead, &app_id, endpoint_fields(None), now).await;
    create(&dead, new_message(&app_id, "invoice.paid", now)).await;
    let claimed = dead
        .claim_due_deliveries(now, SHORT_LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // node-a dies without releasing anything.
    drop(dead);

    let other = PostgresStore::open(&schema.url, "node-b").await.unwrap();
    let leased = other
        .claim_due_deliveries(now + seconds(1), SHORT_LEASE, budget(10))
        .await
        .unwrap();
    assert!(
        leased.is_empty(),
        "another node's start leaves the lease alone"
    );

    let restarted = PostgresStore::open(&schema.url, "node-a").await.unwrap();
    let released = restarted
        .claim_due_deliveries(now + seconds(1), SHORT_LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(released.len(), 1, "node-a's new run released its old lease");
    assert_eq!(released[0].delivery_id, claimed[0].delivery_id);
    other.close().await;
    restarted.close().await;
}
