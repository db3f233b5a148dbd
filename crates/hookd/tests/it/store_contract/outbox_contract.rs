//! The outbox: a write that raises an operational event commits the event (a message of the
//! internal application, with a delivery to each subscribed operational endpoint) with it, and
//! a write that fails raises nothing. Commits that add deliveries notify `deliveries_added`.

use super::*;
use hookd::domain::Endpoint;
use hookd::domain::operational::OPERATIONAL_APP_ID;
use hookd::store::{ChangeRefused, Modified};

contract!(
    endpoint_writes_commit_their_events,
    a_failed_endpoint_write_raises_nothing,
    recorded_attempts_commit_their_events,
    commits_that_add_deliveries_wake_the_engine,
);

/// The internal application with one operational endpoint subscribed to every event.
async fn operational_endpoint(store: &Arc<dyn Store>, now: Timestamp) -> EndpointId {
    let app_id = AppId::from_trusted(OPERATIONAL_APP_ID);
    store
        .create_application(app_id.clone(), app_fields(None, "operational"), now)
        .await
        .unwrap();
    new_endpoint(store, &app_id, endpoint_fields(None), now).await
}

/// The events committed so far, oldest first: (type, payload `data`).
async fn events(store: &Arc<dyn Store>) -> Vec<(String, serde_json::Value)> {
    let page = store
        .list_messages(
            &AppId::from_trusted(OPERATIONAL_APP_ID),
            MessageFilter::default(),
            page(100, None),
        )
        .await
        .unwrap();
    page.items
        .into_iter()
        .map(|message| {
            let payload: serde_json::Value =
                serde_json::from_str(message.payload.as_deref().unwrap()).unwrap();
            (
                message.event_type.as_str().to_owned(),
                payload["data"].clone(),
            )
        })
        .collect()
}

fn types(events: &[(String, serde_json::Value)]) -> Vec<&str> {
    events.iter().map(|(kind, _)| kind.as_str()).collect()
}

/// The operational endpoint's due deliveries, by message.
async fn operational_deliveries(
    store: &Arc<dyn Store>,
    operational: &EndpointId,
    at: Timestamp,
) -> Vec<MessageId> {
    store
        .claim_due_deliveries(at, LEASE, budget(100))
        .await
        .unwrap()
        .into_iter()
        .filter(|claim| &claim.endpoint_id == operational)
        .map(|claim| claim.msg_id)
        .collect()
}

fn renamed(description: &'static str) -> hookd::store::EndpointChange {
    Box::new(move |current: &Endpoint| {
        let mut fields = current.fields.clone();
        fields.description = description.to_owned();
        Ok(fields)
    })
}

async fn endpoint_writes_commit_their_events(store: Arc<dyn Store>) {
    let now = t0();
    let operational = operational_endpoint(&store, now).await;
    assert!(
        events(&store).await.is_empty(),
        "the operational endpoint itself is not announced"
    );
    let app_id = AppId::generate(now, rand::random());
    store
        .create_application(app_id.clone(), app_fields(Some("acme"), "acme"), now)
        .await
        .unwrap();
    let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(Some("main")), now).await;
    let modified = store
        .modify_endpoint(&app_id, "main", renamed("renamed"), now)
        .await
        .unwrap();
    assert!(matches!(modified, Modified::Saved(_)), "{modified:?}");
    saved(
        replace_endpoint(
            &store,
            &app_id,
            &endpoint_id,
            endpoint_fields(Some("main")),
            now,
        )
        .await,
    );
    assert!(
        store
            .delete_endpoint(&app_id, &endpoint_id, now)
            .await
            .unwrap()
    );

    let events = events(&store).await;
    assert_eq!(
        types(&events),
        [
            "endpoint.created",
            "endpoint.updated",
            "endpoint.updated",
            "endpoint.deleted"
        ]
    );
    for (_, data) in &events {
        assert_eq!(data["appId"], app_id.as_str());
        assert_eq!(data["appUid"], "acme");
        assert_eq!(data["endpointId"], endpoint_id.as_str());
        assert_eq!(data["endpointUid"], "main");
    }
    let delivered = operational_deliveries(&store, &operational, now + seconds(1)).await;
    assert_eq!(
        delivered.len(),
        4,
        "each event is queued for the operational endpoint"
    );
}

async fn a_failed_endpoint_write_raises_nothing(store: Arc<dyn Store>) {
    let now = t0();
    operational_endpoint(&store, now).await;
    let app_id = new_app(&store, now).await;
    let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(Some("main")), now).await;
    assert_eq!(types(&events(&store).await), ["endpoint.created"]);

    let taken_uid = store
        .create_endpoint(
            &app_id,
            NewEndpoint {
                id: EndpointId::generate(now, rand::random()),
                fields: endpoint_fields(Some("main")),
                secret: test_secret(3),
                now,
            },
        )
        .await;
    assert!(
        matches!(taken_uid, Err(StoreError::Conflict(_))),
        "{taken_uid:?}"
    );
    let missing_app = store
        .create_endpoint(
            &AppId::generate(now, rand::random()),
            NewEndpoint {
                id: EndpointId::generate(now, rand::random()),
                fields: endpoint_fields(None),
                secret: test_secret(4),
                now,
            },
        )
        .await;
    assert!(
        matches!(missing_app, Err(StoreError::NotFound(_))),
        "{missing_app:?}"
    );
    let refused: hookd::store::EndpointChange =
        Box::new(|_: &Endpoint| Err(ChangeRefused("no".into())));
    let modified = store
        .modify_endpoint(&app_id, endpoint_id.as_str(), refused, now)
        .await
        .unwrap();
    assert!(matches!(modified, Modified::Refused(_)), "{modified:?}");
    let modified = store
        .modify_endpoint(&app_id, "nobody", renamed("x"), now)
        .await
        .unwrap();
    assert!(matches!(modified, Modified::Missing), "{modified:?}");
    let unknown = EndpointId::generate(now, rand::random());
    let replaced = replace_endpoint(&store, &app_id, &unknown, endpoint_fields(None), now).await;
    assert!(matches!(replaced, Ok(Modified::Missing)), "{replaced:?}");
    assert!(!store.delete_endpoint(&app_id, &unknown, now).await.unwrap());

    assert_eq!(
        types(&events(&store).await),
        ["endpoint.created"],
        "no failed write left an event"
    );
}

async fn recorded_attempts_commit_their_events(store: Arc<dyn Store>) {
    let now = t0();
    let operational = operational_endpoint(&store, now).await;
    let app_id = new_app(&store, now).await;
    let gone = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let (msg_id, _) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    // This claim also takes the delivery of `endpoint.created` to the operational endpoint.
    let (claimed, announcing): (Vec<ClaimedDelivery>, Vec<ClaimedDelivery>) = store
        .claim_due_deliveries(now, LEASE, budget(100))
        .await
        .unwrap()
        .into_iter()
        .partition(|claim| claim.endpoint_id == gone);
    assert_eq!((claimed.len(), announcing.len()), (1, 1));
    // The receiver answered 410 Gone: out of retries, and the endpoint is disabled.
    let mut gave_up = record(
        &claimed[0],
        claimed[0].lease_token,
        410,
        NextStep::GiveUp,
        now,
    );
    gave_up.disable_endpoint = true;
    let disabled = store
        .record_attempts(vec![gave_up], CircuitPolicy::default())
        .await
        .unwrap();
    assert_eq!(disabled.len(), 1);

    let events = events(&store).await;
    assert_eq!(
        &types(&events)[1..],
        ["message.attempt.exhausted", "endpoint.disabled"]
    );
    assert_eq!(events[1].1["msgId"], msg_id.as_str());
    assert_eq!(events[1].1["lastAttempt"]["responseStatusCode"], 410);
    assert_eq!(events[2].1["endpointId"], gone.as_str());
    let delivered = operational_deliveries(&store, &operational, now + seconds(1)).await;
    assert_eq!(delivered.len(), 2, "both attempt events are queued");
}

/// Waits briefly for a wake-up: whether one was pending or arrives.
async fn woken(store: &Arc<dyn Store>) -> bool {
    let wake = store.deliveries_added();
    tokio::time::timeout(Duration::from_millis(300), wake.notified())
        .await
        .is_ok()
}

async fn commits_that_add_deliveries_wake_the_engine(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    while woken(&store).await {}
    let (_, deliveries) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    assert_eq!(deliveries, 0);
    assert!(
        !woken(&store).await,
        "a message with no delivery wakes nothing"
    );

    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    assert!(
        !woken(&store).await,
        "an endpoint with no operational endpoint to tell wakes nothing"
    );
    let (msg_id, deliveries) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    assert_eq!(deliveries, 1);
    assert!(
        woken(&store).await,
        "a new message's delivery wakes the engine"
    );

    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(100))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let endpoint_id = claimed[0].endpoint_id.clone();
    store
        .enqueue_resend(&app_id, &msg_id, &endpoint_id, now)
        .await
        .unwrap();
    assert!(woken(&store).await, "a resend wakes the engine");
    store.replay_message(&app_id, &msg_id, now).await.unwrap();
    assert!(woken(&store).await, "a replay wakes the engine");

    operational_endpoint(&store, now).await;
    while woken(&store).await {}
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    assert!(
        woken(&store).await,
        "an endpoint.created queued for an operational endpoint wakes the engine"
    );
}

/// PostgreSQL only: the order in which a recording transaction takes `endpoint_queue` rows.
/// The scenario needs a third session holding a row lock, which only PostgreSQL has.
mod postgres_lock_order {
    use super::*;

    /// Waits until `sessions` sessions of the test's schema wait for a lock.
    async fn until_waiting(watcher: &tokio_postgres::Client, schema: &str, sessions: i64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE application_name = $1 AND wait_event_type = 'Lock'",
                    &[&schema],
                )
                .await
                .unwrap()
                .get(0);
            if waiting >= sessions {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{waiting} of {sessions} sessions came to wait for a lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Recording an attempt that raises an operational event takes the operational endpoint's
    /// queue row in the same sorted pass as its own endpoint's. Before, it took it last, after
    /// the endpoint rows: a batch recording for the operational endpoint and the same endpoint
    /// (which sorts the operational one first) then held that row and waited for the first
    /// batch's, which waited for it, and PostgreSQL aborted one of them as a deadlock.
    #[tokio::test]
    async fn postgres_attempt_events_take_queue_rows_in_one_sorted_pass() {
        // Out of retries: raises `message.attempt.exhausted` for the operational endpoint.
        let exhausted = |claim: &ClaimedDelivery, now| {
            record(claim, claim.lease_token, 500, NextStep::GiveUp, now)
        };
        two_batches_crossing_queue_rows("attempt_events", exhausted).await;
    }

    /// The same for `endpoint.disabled`, which is known only once the endpoint rows are held:
    /// the operational endpoints' queue rows it may go to are locked in the sorted pass.
    #[tokio::test]
    async fn postgres_a_disabling_attempt_locks_the_operational_queue_rows_first() {
        // 410 Gone with retries left: no attempt event, but the endpoint is disabled.
        let gone = |claim: &ClaimedDelivery, now: Timestamp| {
            let mut gone = record(
                claim,
                claim.lease_token,
                410,
                NextStep::RetryAt(now + seconds(60)),
                now,
            );
            gone.disable_endpoint = true;
            gone
        };
        two_batches_crossing_queue_rows("disabled_events", gone).await;
    }

    /// Two record batches whose queue rows cross: the first records `first_record` for the
    /// customer endpoint, whose operational event goes to the operational endpoint, and stops at
    /// its health update (a third session holds the endpoint row); the second records for the
    /// operational endpoint and the customer endpoint, in that (sorted) order. Both commit.
    async fn two_batches_crossing_queue_rows(
        scenario: &str,
        first_record: impl FnOnce(&ClaimedDelivery, Timestamp) -> AttemptRecord,
    ) {
        let name = format!("store_contract::postgres_lock_order::{scenario}");
        let schema = TestSchema::create(&name).await;
        let postgres = open_postgres(&schema).await;
        let store: Arc<dyn Store> = postgres.clone();
        let now = t0();
        // The operational endpoint's id sorts before the customer endpoint's.
        let mut ids = [
            EndpointId::generate(now, rand::random()),
            EndpointId::generate(now, rand::random()),
        ];
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let [operational, customer] = ids;
        let internal = AppId::from_trusted(OPERATIONAL_APP_ID);
        store
            .create_application(internal.clone(), app_fields(None, "operational"), now)
            .await
            .unwrap();
        let app_id = new_app(&store, now).await;
        for (app, id) in [(&internal, &operational), (&app_id, &customer)] {
            store
                .create_endpoint(
                    app,
                    NewEndpoint {
                        id: id.clone(),
                        fields: endpoint_fields(None),
                        secret: test_secret(1),
                        now,
                    },
                )
                .await
                .unwrap();
        }
        create(&store, new_message(&app_id, "invoice.paid", now)).await;
        create(&store, new_message(&app_id, "invoice.paid", now)).await;
        // The customer endpoint's two deliveries, and the operational one's `endpoint.created`.
        let claimed = store
            .claim_due_deliveries(now, LEASE, budget(100))
            .await
            .unwrap();
        let of = |endpoint: &EndpointId| -> Vec<&ClaimedDelivery> {
            claimed
                .iter()
                .filter(|claim| &claim.endpoint_id == endpoint)
                .collect()
        };
        let (to_customer, to_operational) = (of(&customer), of(&operational));
        assert_eq!((to_customer.len(), to_operational.len()), (2, 1));

        // A third session holds the customer endpoint's row, so the first batch stops at its
        // health update with whatever queue rows it has taken by then.
        let watcher = schema.connect().await;
        let mut holder = schema.connect().await;
        let holding = holder.transaction().await.unwrap();
        holding
            .execute(
                "SELECT 1 FROM endpoint WHERE id = $1 FOR NO KEY UPDATE",
                &[&customer.as_str()],
            )
            .await
            .unwrap();

        let first_batch = vec![first_record(to_customer[0], now)];
        let first = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .record_attempts(first_batch, CircuitPolicy::default())
                    .await
            }
        });
        until_waiting(&watcher, &schema.name, 1).await;
        // First attempts that will be retried (long after the check below): a retry lowers
        // its endpoint's queue entry, so the second batch takes both queue rows, where a success
        // would leave them alone.
        let retry = |claim: &ClaimedDelivery| {
            record(
                claim,
                claim.lease_token,
                500,
                NextStep::RetryAt(now + seconds(600)),
                now,
            )
        };
        let second_batch = vec![retry(to_operational[0]), retry(to_customer[1])];
        let second = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .record_attempts(second_batch, CircuitPolicy::default())
                    .await
            }
        });
        until_waiting(&watcher, &schema.name, 2).await;
        holding.commit().await.unwrap();

        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        assert!(
            first.is_ok() && second.is_ok(),
            "both batches commit: {first:?}, {second:?}"
        );
        let delivered = operational_deliveries(&store, &operational, now + LEASE * 2).await;
        assert_eq!(delivered.len(), 1, "the event is queued");
        postgres.close().await;
    }
}
