//! Recovery after an outage: a manual resend, replay or recover ends the endpoint's rest, and
//! recover makes the window's deliveries that wait for a retry due now (and counts them).

use super::*;
use hookd::domain::{BackgroundTaskId, BackgroundTaskKind, ReplaySelection};
use hookd::store::{NewBackgroundTask, ReplayFilter, ReplayProgress, ReplayStep};

contract!(
    recover_makes_waiting_retries_due_and_ends_the_rest,
    a_resend_or_replay_ends_the_endpoints_rest,
);

/// Claims everything due at `at` and records each attempt as failed: given up when `give_up`,
/// otherwise to be retried in an hour; the last record carries `Retry-After: 1 h`, which rests
/// the endpoint for that long. Returns how many were claimed.
async fn fail_all(store: &Arc<dyn Store>, at: Timestamp, give_up: usize) -> usize {
    let claimed = store
        .claim_due_deliveries(at, LEASE, budget(100))
        .await
        .unwrap();
    let count = claimed.len();
    let records = claimed
        .iter()
        .enumerate()
        .map(|(index, claim)| {
            let next = if index < give_up {
                NextStep::GiveUp
            } else {
                NextStep::RetryAt(at + seconds(3600))
            };
            let mut failed = record(claim, claim.lease_token, 500, next, at);
            if index + 1 == count {
                failed.retry_after = Some(Duration::from_secs(3600));
            }
            failed
        })
        .collect();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();
    count
}

async fn recover_makes_waiting_retries_due_and_ends_the_rest(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    for _ in 0..5 {
        create(&store, new_message(&app_id, "a", now)).await;
    }
    // One runs out of retries, four wait an hour for theirs; the endpoint rests for an hour.
    assert_eq!(fail_all(&store, now, 1).await, 5);
    let later = now + seconds(10);
    assert!(
        store
            .claim_due_deliveries(later, LEASE, budget(100))
            .await
            .unwrap()
            .is_empty(),
        "resting, and the retries are an hour away"
    );

    let filter = ReplayFilter {
        app_id: app_id.clone(),
        endpoint_id: Some(endpoint_id.clone()),
        event_types: None,
        selection: ReplaySelection::FailedParkedOrRetrying,
        since: now - seconds(1),
        until: None,
    };
    assert_eq!(store.count_replay(filter.clone()).await.unwrap(), 5);
    let id = BackgroundTaskId::generate(later, rand::random());
    store
        .create_background_task(NewBackgroundTask {
            id: id.clone(),
            kind: BackgroundTaskKind::EndpointRecover,
            filter: filter.clone(),
            app_ids: None,
            now: later,
        })
        .await
        .unwrap();
    let claim = store
        .claim_background_task(later, later + seconds(10))
        .await
        .unwrap()
        .expect("the recover task is claimed");
    let progress = store
        .run_task_batch(ReplayStep {
            task_id: id.clone(),
            lease_token: claim.lease_token,
            limit: 100,
            now: later,
            lease_until: later + seconds(10),
        })
        .await
        .unwrap();
    assert_eq!(
        progress,
        ReplayProgress::Finished(5),
        "one re-queued, four made due"
    );
    let task = store.get_background_task(&id).await.unwrap().unwrap();
    assert_eq!(task.messages_sent, 5);

    // The rest is over. The endpoint is still failing, so one probe goes first; once it
    // succeeds, everything else is due at once.
    let probe = store
        .claim_due_deliveries(later, LEASE, budget(100))
        .await
        .unwrap();
    assert_eq!(probe.len(), 1, "a single probe");
    store
        .record_attempts(
            vec![record(
                &probe[0],
                probe[0].lease_token,
                200,
                NextStep::Done,
                later,
            )],
            CircuitPolicy::default(),
        )
        .await
        .unwrap();
    let rest = store
        .claim_due_deliveries(later, LEASE, budget(100))
        .await
        .unwrap();
    assert_eq!(rest.len(), 4, "everything the endpoint missed is due now");
    let retried = rest
        .iter()
        .chain(&probe)
        .filter(|claim| claim.attempts_made == 1)
        .count();
    assert_eq!(retried, 4, "the waiting retries were moved, not doubled");
    assert_eq!(
        store.count_replay(filter).await.unwrap(),
        0,
        "leased deliveries are not recovered again"
    );
}

async fn a_resend_or_replay_ends_the_endpoints_rest(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let (first, _) = create(&store, new_message(&app_id, "a", now)).await;
    let (second, _) = create(&store, new_message(&app_id, "a", now)).await;
    assert_eq!(fail_all(&store, now, 2).await, 2);

    let later = now + seconds(10);
    store
        .enqueue_resend(&app_id, &first, &endpoint_id, later)
        .await
        .unwrap();
    let resent = store
        .claim_due_deliveries(later, LEASE, budget(100))
        .await
        .unwrap();
    assert_eq!(resent.len(), 1, "the resend is not held back by the rest");
    assert_eq!(resent[0].msg_id, first);
    assert_eq!(resent[0].trigger_type, TriggerType::Manual);

    // Rest again (another Retry-After), then replay the other message.
    let again = now + seconds(20);
    store
        .record_attempts(
            vec![{
                let mut failed = record(
                    &resent[0],
                    resent[0].lease_token,
                    503,
                    NextStep::GiveUp,
                    again,
                );
                failed.retry_after = Some(Duration::from_secs(3600));
                failed
            }],
            CircuitPolicy::default(),
        )
        .await
        .unwrap();
    let later = now + seconds(30);
    assert_eq!(
        store.replay_message(&app_id, &second, later).await.unwrap(),
        1
    );
    let replayed = store
        .claim_due_deliveries(later, LEASE, budget(100))
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1, "the replay is not held back by the rest");
    assert_eq!(replayed[0].msg_id, second);
}
