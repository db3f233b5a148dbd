//! Erasure and the usage statistics on both backends: expunging by id or uid, an attempt's
//! response body, `application.purge_content` in batches under its lease, and the usage tasks'
//! batches and kept rows.

use super::*;
use hookd::domain::operational::OPERATIONAL_APP_ID;
use hookd::domain::{BackgroundTaskId, BackgroundTaskKind, ReplaySelection};
use hookd::store::{NewBackgroundTask, ReplayFilter, ReplayProgress, ReplayStep, UsageRow};

contract!(
    erasure_by_name_attempt_and_whole_application_in_batches,
    usage_tasks_count_in_batches_and_keep_their_rows,
);

fn filter_of(app_id: &AppId, since: Timestamp) -> ReplayFilter {
    ReplayFilter {
        app_id: app_id.clone(),
        endpoint_id: None,
        event_types: None,
        selection: ReplaySelection::AnyFinished,
        since,
        until: None,
    }
}

/// Stores a task and claims it; returns its id and lease token.
async fn start(
    store: &Arc<dyn Store>,
    kind: BackgroundTaskKind,
    filter: ReplayFilter,
    app_ids: Option<Vec<AppId>>,
    now: Timestamp,
) -> (BackgroundTaskId, i64) {
    let id = BackgroundTaskId::generate(now, rand::random());
    store
        .create_background_task(NewBackgroundTask {
            id: id.clone(),
            kind,
            filter,
            app_ids,
            now,
        })
        .await
        .unwrap();
    let claim = store
        .claim_background_task(now, now + seconds(10))
        .await
        .unwrap()
        .expect("the task is claimed");
    assert_eq!(claim.task.id, id);
    (id, claim.lease_token)
}

fn step(id: &BackgroundTaskId, lease_token: i64, limit: usize, now: Timestamp) -> ReplayStep {
    ReplayStep {
        task_id: id.clone(),
        lease_token,
        limit,
        now,
        lease_until: now + seconds(10),
    }
}

async fn payload_of(store: &Arc<dyn Store>, app_id: &AppId, msg: &MessageId) -> Option<String> {
    store
        .get_message(app_id, msg.as_str())
        .await
        .unwrap()
        .expect("the message is kept")
        .payload
}

async fn erasure_by_name_attempt_and_whole_application_in_batches(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let other_app = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let named = NewMessage {
        event_id: Some("order-1".to_owned()),
        ..new_message(&app_id, "a", now)
    };
    let (by_uid, _) = create(&store, named).await;
    let mut messages = Vec::new();
    for _ in 0..4 {
        messages.push(create(&store, new_message(&app_id, "a", now)).await.0);
    }
    let (elsewhere, _) = create(&store, new_message(&other_app, "a", now)).await;

    let found = store
        .expunge_message_contents(
            &app_id,
            vec![
                "order-1".to_owned(),
                messages[0].to_string(),
                "msg_missing".to_owned(),
                elsewhere.to_string(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(found, vec![true, true, false, false]);
    assert_eq!(payload_of(&store, &app_id, &by_uid).await, None);
    assert_eq!(payload_of(&store, &app_id, &messages[0]).await, None);
    assert!(payload_of(&store, &app_id, &messages[1]).await.is_some());
    assert!(payload_of(&store, &other_app, &elsewhere).await.is_some());

    // One attempt's response body, and only through its own message and application.
    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(100))
        .await
        .unwrap();
    let records: Vec<AttemptRecord> = claimed
        .iter()
        .map(|claim| record(claim, claim.lease_token, 200, NextStep::Done, now))
        .collect();
    let attempt_id = records
        .iter()
        .find(|record| record.attempt.msg_id == messages[1])
        .unwrap()
        .attempt
        .id
        .clone();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();
    for (app, msg) in [(&app_id, &messages[2]), (&other_app, &messages[1])] {
        assert!(
            !store
                .expunge_attempt_content(app, msg, &attempt_id)
                .await
                .unwrap()
        );
    }
    let response = |store: Arc<dyn Store>, app_id: AppId, attempt_id: AttemptId| async move {
        store
            .get_attempt(&app_id, attempt_id.as_str())
            .await
            .unwrap()
            .unwrap()
            .response
    };
    assert_eq!(
        response(store.clone(), app_id.clone(), attempt_id.clone()).await,
        "ok"
    );
    assert!(
        store
            .expunge_attempt_content(&app_id, &messages[1], &attempt_id)
            .await
            .unwrap()
    );
    assert_eq!(
        response(store.clone(), app_id.clone(), attempt_id.clone()).await,
        ""
    );
    assert!(payload_of(&store, &app_id, &messages[1]).await.is_some());

    // The whole application, two messages a batch: 5 messages, 3 with a payload left.
    let later = now + seconds(5);
    let (task_id, token) = start(
        &store,
        BackgroundTaskKind::PurgeContent,
        filter_of(&app_id, Timestamp::UNIX_EPOCH),
        None,
        later,
    )
    .await;
    assert_eq!(
        store
            .run_task_batch(step(&task_id, token + 1, 2, later))
            .await
            .unwrap(),
        ReplayProgress::LeaseLost
    );
    let mut progress = Vec::new();
    loop {
        let batch = store
            .run_task_batch(step(&task_id, token, 2, later))
            .await
            .unwrap();
        progress.push(batch);
        if matches!(batch, ReplayProgress::Finished(_)) {
            break;
        }
        assert!(progress.len() < 10, "never finished: {progress:?}");
    }
    // Five messages by id, two a batch (ids made at one time sort at random among
    // themselves, so which batch holds the two already expunged is not known).
    let counts: Vec<usize> = progress
        .iter()
        .map(|batch| match batch {
            ReplayProgress::Queued(n) | ReplayProgress::Finished(n) => *n,
            ReplayProgress::LeaseLost => panic!("lease lost: {progress:?}"),
        })
        .collect();
    assert_eq!(counts.len(), 3, "{progress:?}");
    assert_eq!(counts.iter().sum::<usize>(), 3, "{progress:?}");
    let task = store.get_background_task(&task_id).await.unwrap().unwrap();
    assert_eq!(task.messages_sent, 3);
    assert_eq!(task.batches, 3);
    for msg in &messages {
        assert_eq!(payload_of(&store, &app_id, msg).await, None);
    }
    assert!(payload_of(&store, &other_app, &elsewhere).await.is_some());
    // Finished: its lease no longer runs batches.
    assert_eq!(
        store
            .run_task_batch(step(&task_id, token, 2, later))
            .await
            .unwrap(),
        ReplayProgress::LeaseLost
    );
}

async fn usage_tasks_count_in_batches_and_keep_their_rows(store: Arc<dyn Store>) {
    let now = t0();
    let internal = AppId::from_trusted(OPERATIONAL_APP_ID);
    store
        .create_application(internal.clone(), app_fields(None, "internal"), now)
        .await
        .unwrap();
    let source_app = AppId::from_trusted("app_src_test");
    store
        .create_application(source_app.clone(), app_fields(None, "source"), now)
        .await
        .unwrap();
    new_endpoint(&store, &source_app, endpoint_fields(None), now).await;
    create(&store, new_message(&source_app, "x", now)).await;
    // Ids are time-ordered: `first` sorts before `second`.
    let first = AppId::generate(now, rand::random());
    store
        .create_application(first.clone(), app_fields(Some("first"), "first"), now)
        .await
        .unwrap();
    let second = AppId::generate(now + seconds(1), rand::random());
    store
        .create_application(second.clone(), app_fields(None, "second"), now)
        .await
        .unwrap();
    let filtered = |types: &[&str]| EndpointFields {
        event_types: Some(types.iter().map(|name| event(name)).collect()),
        ..endpoint_fields(None)
    };
    new_endpoint(&store, &first, filtered(&["y", "x"]), now).await;
    new_endpoint(&store, &first, endpoint_fields(None), now).await;
    new_endpoint(&store, &second, filtered(&["z"]), now).await;
    create(&store, new_message(&first, "x", now)).await;
    create(&store, new_message(&first, "x", now)).await;
    create(&store, new_message(&first, "w", now)).await;
    create(&store, new_message(&second, "z", now)).await;
    // Outside the window below.
    create(&store, new_message(&second, "z", now + seconds(120))).await;

    let window = ReplayFilter {
        until: Some(now + seconds(60)),
        ..filter_of(&internal, now - seconds(1))
    };
    let later = now + seconds(200);
    let (task_id, token) = start(
        &store,
        BackgroundTaskKind::AppStats,
        window.clone(),
        None,
        later,
    )
    .await;
    assert_eq!(
        store
            .run_usage_batch(step(&task_id, token + 1, 1, later))
            .await
            .unwrap(),
        ReplayProgress::LeaseLost
    );
    let mut progress = Vec::new();
    for _ in 0..3 {
        progress.push(
            store
                .run_usage_batch(step(&task_id, token, 1, later))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        progress,
        vec![
            ReplayProgress::Queued(1),
            ReplayProgress::Queued(1),
            ReplayProgress::Finished(0),
        ]
    );
    let destinations = |rows: Vec<UsageRow>| -> Vec<(AppId, Option<String>, u64)> {
        rows.into_iter()
            .map(|row| (row.app_id, row.app_uid, row.message_destinations))
            .collect()
    };
    assert_eq!(
        destinations(store.usage_rows(&task_id).await.unwrap()),
        vec![
            (first.clone(), Some("first".to_owned()), 5),
            (second.clone(), None, 1),
        ],
        "users' applications only; first: 2 x 2 + 1"
    );

    // Only the applications named.
    let (named_task, token) = start(
        &store,
        BackgroundTaskKind::AppStats,
        window,
        Some(vec![second.clone()]),
        later,
    )
    .await;
    assert_eq!(
        store
            .run_usage_batch(step(&named_task, token, 10, later))
            .await
            .unwrap(),
        ReplayProgress::Finished(1)
    );
    assert_eq!(
        destinations(store.usage_rows(&named_task).await.unwrap()),
        vec![(second.clone(), None, 1)]
    );

    let (types_task, token) = start(
        &store,
        BackgroundTaskKind::EventTypeAggregate,
        filter_of(&internal, Timestamp::UNIX_EPOCH),
        None,
        later,
    )
    .await;
    assert_eq!(
        store
            .run_usage_batch(step(&types_task, token, 10, later))
            .await
            .unwrap(),
        ReplayProgress::Finished(2)
    );
    let rows = store.usage_rows(&types_task).await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|row| (
                row.app_id.clone(),
                row.event_types.clone(),
                row.has_catch_all
            ))
            .collect::<Vec<_>>(),
        vec![
            (first, vec![event("x"), event("y")], true),
            (second, vec![event("z")], false),
        ]
    );
    let task = store
        .get_background_task(&types_task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.messages_sent, 2, "applications counted");
}
