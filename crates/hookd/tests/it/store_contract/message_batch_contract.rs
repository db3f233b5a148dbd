//! Messages written together (in one commit of a batching writer: all are queued before the
//! writer runs, on the test's one-thread runtime) keep the outcome each has alone: a repeated
//! `eventId` is refused for that message only (against an earlier commit or a neighbour in
//! the batch), a message to a missing application fails alone, and the others commit with
//! their own fan-out, channels and tags.

use super::*;

contract!(
    a_batch_keeps_each_message_outcome,
    a_missing_application_fails_only_its_message,
);

/// Every message's outcome, in order, from writes started together.
async fn write_together(
    store: &Arc<dyn Store>,
    messages: Vec<NewMessage>,
) -> Vec<Result<MessageInsert, StoreError>> {
    futures::future::join_all(
        messages
            .into_iter()
            .map(|message| store.create_message(message)),
    )
    .await
}

fn with_event_id(mut message: NewMessage, event_id: &str) -> NewMessage {
    message.event_id = Some(event_id.to_owned());
    message
}

async fn a_batch_keeps_each_message_outcome(store: Arc<dyn Store>) {
    let now = t0();
    let app_a = new_app(&store, now).await;
    let app_b = new_app(&store, now).await;
    new_endpoint(&store, &app_a, endpoint_fields(None), now).await;
    let mut only_voided = endpoint_fields(None);
    only_voided.event_types = Some(vec![event("invoice.voided")]);
    new_endpoint(&store, &app_a, only_voided, now).await;
    new_endpoint(&store, &app_b, endpoint_fields(None), now).await;
    new_endpoint(&store, &app_b, endpoint_fields(None), now).await;
    let (earlier_id, _) = create(
        &store,
        with_event_id(new_message(&app_a, "invoice.paid", now), "evt-0"),
    )
    .await;

    let later = now + seconds(1);
    let mut tagged = new_message(&app_a, "invoice.voided", later);
    tagged.channels = vec![ChannelName::parse("eu").unwrap()];
    tagged.tags = vec!["vip".to_owned(), "q4".to_owned()];
    tagged.deliver_at = Some(later + seconds(60));
    let tagged_id = tagged.id.clone();
    let outcomes = write_together(
        &store,
        vec![
            with_event_id(new_message(&app_a, "invoice.paid", later), "evt-0"),
            with_event_id(new_message(&app_a, "invoice.paid", later), "evt-1"),
            tagged,
            with_event_id(new_message(&app_a, "invoice.paid", later), "evt-1"),
            with_event_id(new_message(&app_b, "invoice.paid", later), "evt-1"),
        ],
    )
    .await;
    let outcomes: Vec<MessageInsert> = outcomes.into_iter().map(Result::unwrap).collect();

    match &outcomes[0] {
        MessageInsert::Duplicate(existing) => assert_eq!(existing.id, earlier_id),
        other => panic!("evt-0 was committed before: {other:?}"),
    }
    // Of the two evt-1 messages of application A, one is created and the other finds it.
    let (created_evt_1, duplicate_evt_1) = match (&outcomes[1], &outcomes[3]) {
        (MessageInsert::Created { message, .. }, MessageInsert::Duplicate(existing))
        | (MessageInsert::Duplicate(existing), MessageInsert::Created { message, .. }) => {
            (message, existing)
        }
        other => panic!("expected one created and one duplicate evt-1: {other:?}"),
    };
    assert_eq!(duplicate_evt_1.id, created_evt_1.id);
    let created: Vec<(MessageId, usize)> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            MessageInsert::Created {
                message,
                deliveries,
            } => Some((message.id.clone(), *deliveries)),
            MessageInsert::Duplicate(_) => None,
        })
        .collect();
    assert_eq!(created.len(), 3, "{outcomes:?}");
    // invoice.paid reaches A's unfiltered endpoint; invoice.voided both of A's; evt-1 of
    // application B (another application: no conflict) both of B's.
    assert_eq!(created[0], (created_evt_1.id.clone(), 1));
    assert_eq!(created[1], (tagged_id.clone(), 2));
    assert_eq!(created[2].1, 2);

    let stored = store
        .get_message(&app_a, tagged_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.channels, vec![ChannelName::parse("eu").unwrap()]);
    assert_eq!(stored.tags, vec!["vip".to_owned(), "q4".to_owned()]);
    assert_eq!(stored.deliver_at, Some(later + seconds(60)));
    let in_b = store.get_message(&app_b, "evt-1").await.unwrap().unwrap();
    assert_eq!(in_b.id, created[2].0);
    assert!(in_b.channels.is_empty() && in_b.tags.is_empty());

    // One delivery for evt-0 and one per created message and endpoint, the scheduled ones not
    // yet due.
    let claimed = store
        .claim_due_deliveries(later, LEASE, budget(50))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1 + 1 + 2, "{claimed:?}");
    let scheduled = store
        .claim_due_deliveries(later + seconds(61), LEASE, budget(50))
        .await
        .unwrap();
    // By then the first claim's leases have run out too: those four again, and the scheduled two.
    assert_eq!(scheduled.len(), 4 + 2, "{scheduled:?}");
    let of_tagged = scheduled
        .iter()
        .filter(|claim| claim.msg_id == tagged_id)
        .count();
    assert_eq!(of_tagged, 2, "{scheduled:?}");
}

async fn a_missing_application_fails_only_its_message(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let (earlier_id, _) = create(
        &store,
        with_event_id(new_message(&app_id, "invoice.paid", now), "evt-0"),
    )
    .await;
    let missing = AppId::generate(now, rand::random());
    let later = now + seconds(1);
    let good = new_message(&app_id, "invoice.paid", later);
    let good_id = good.id.clone();
    let outcomes = write_together(
        &store,
        vec![
            with_event_id(new_message(&app_id, "invoice.paid", later), "evt-0"),
            new_message(&missing, "invoice.paid", later),
            good,
        ],
    )
    .await;
    assert!(
        matches!(&outcomes[0], Ok(MessageInsert::Duplicate(existing)) if existing.id == earlier_id),
        "{:?}",
        outcomes[0]
    );
    assert!(
        matches!(&outcomes[1], Err(StoreError::NotFound(_))),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(&outcomes[2], Ok(MessageInsert::Created { message, deliveries: 1 }) if message.id == good_id),
        "{:?}",
        outcomes[2]
    );
    let claimed = store
        .claim_due_deliveries(later, LEASE, budget(50))
        .await
        .unwrap();
    let mut messages: Vec<MessageId> = claimed.iter().map(|claim| claim.msg_id.clone()).collect();
    messages.sort();
    let mut expected = vec![earlier_id, good_id];
    expected.sort();
    assert_eq!(messages, expected);
}
