//! What a record does to the endpoint queue, which the dispatcher reads to decide whether to
//! claim again (`next_due_at`): a retry and an ordered endpoint's finished head make the
//! endpoint due (something may go now), a finished delivery of any other endpoint does not
//! (nothing is unblocked by it, and a claim would find nothing).

use super::*;

contract!(
    a_finished_delivery_with_nothing_behind_it_leaves_its_endpoint_not_due,
    a_retry_makes_its_endpoint_due_when_it_falls_due,
    an_ordered_endpoints_finished_head_makes_the_next_in_line_due,
);

async fn a_finished_delivery_with_nothing_behind_it_leaves_its_endpoint_not_due(
    store: Arc<dyn Store>,
) {
    let recorded_at = record_first(&store, false, 1, |_| NextStep::Done).await;
    let due = store.next_due_at().await.unwrap();
    assert!(
        due.is_none_or(|due| due > recorded_at),
        "nothing may go, yet the queue says {due:?}"
    );
}

async fn a_retry_makes_its_endpoint_due_when_it_falls_due(store: Arc<dyn Store>) {
    let retry_at = t0() + seconds(20);
    let recorded_at = record_first(&store, false, 1, |_| NextStep::RetryAt(retry_at)).await;
    assert!(recorded_at < retry_at);
    let due = store.next_due_at().await.unwrap();
    assert!(
        due.is_some_and(|due| due <= retry_at),
        "the retry is not in the queue: {due:?}"
    );
}

async fn an_ordered_endpoints_finished_head_makes_the_next_in_line_due(store: Arc<dyn Store>) {
    let recorded_at = record_first(&store, true, 2, |_| NextStep::Done).await;
    let due = store.next_due_at().await.unwrap();
    assert!(
        due.is_some_and(|due| due <= recorded_at),
        "the next in line is not due: {due:?}"
    );
    let next = store
        .claim_due_deliveries(recorded_at, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(next.len(), 1, "the next in line goes at once");
}

/// One endpoint (`ordered` or not) with `messages` messages; claims and records the first
/// delivery with the step `next` gives. Returns when the record was written.
async fn record_first(
    store: &Arc<dyn Store>,
    ordered: bool,
    messages: i64,
    next: impl Fn(Timestamp) -> NextStep,
) -> Timestamp {
    let now = t0();
    let app_id = new_app(store, now).await;
    let mut fields = endpoint_fields(None);
    fields.delivery.ordered = ordered;
    new_endpoint(store, &app_id, fields, now).await;
    for n in 0..messages {
        create(
            store,
            new_message(&app_id, "invoice.paid", now + seconds(n)),
        )
        .await;
    }
    let at = now + seconds(5);
    let claimed = store
        .claim_due_deliveries(at, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "one claimed");
    let recorded_at = at + seconds(1);
    let record = record(
        &claimed[0],
        claimed[0].lease_token,
        200,
        next(recorded_at),
        recorded_at,
    );
    store
        .record_attempts(vec![record], CircuitPolicy::default())
        .await
        .unwrap();
    recorded_at
}
