//! The inbound gateway's store: a source is created and deleted with its internal
//! application; a rotated-out token works until its grace ends; a receipt commits its record,
//! dedupe key and message together, a key seen within the window forwards nothing (also when
//! the same key arrives concurrently), and one seen before the window forwards again.

use super::*;
use hookd::domain::inbound::{
    AppForward, RejectReason, Source, SourceConfig, SourceFields, SourceType, Verdict,
};
use hookd::domain::{InboundRequestId, Metadata, SourceId};
use hookd::store::inbound::{
    AppMessage, NewSource, ReceiptDecision, ReceiptOutcome, ReceivedRequest,
};

contract!(
    sources_round_trip_with_their_application,
    a_rotated_token_works_until_its_grace_ends,
    a_receipt_commits_its_record_key_and_message_together,
    one_delivery_id_received_concurrently_is_forwarded_once,
    a_forwarded_form_post_is_claimed_with_its_bytes_and_content_type,
    a_receipt_also_becomes_a_message_of_the_forward_application_while_it_exists,
    retention_deletes_old_requests_and_keys,
);

fn source_fields(uid: Option<&str>, name: &str) -> SourceFields {
    let source_type = SourceType::parse("stripe").unwrap();
    let config = serde_json::json!({"secret": "whsec_1", "dedupeWindowSecs": 60});
    SourceFields {
        uid: uid.map(|uid| Uid::parse(uid).unwrap()),
        name: name.to_owned(),
        source_type,
        config: SourceConfig::parse(source_type, config.as_object().unwrap()).unwrap(),
        metadata: Metadata::from([("team".to_owned(), "billing".to_owned())]),
    }
}

async fn new_source(
    store: &Arc<dyn Store>,
    uid: Option<&str>,
    token: &str,
    now: Timestamp,
) -> Source {
    store
        .create_source(NewSource {
            id: SourceId::generate(now, rand::random()),
            fields: source_fields(uid, "Stripe"),
            token: token.to_owned(),
            now,
        })
        .await
        .unwrap()
}

fn forward(
    source: &Source,
    key: Option<&str>,
    since: Timestamp,
    now: Timestamp,
) -> ReceivedRequest {
    let mut message = new_message(&source.app_id(), "invoice.paid", now);
    message.payload = MessagePayload::parse(r#"{"id":"evt_1",  "n": 1.50}"#).unwrap();
    ReceivedRequest {
        id: InboundRequestId::generate(now, rand::random()),
        source_id: source.id.clone(),
        received_at: now,
        headers: vec![("stripe-signature".into(), "[redacted]".into())],
        body: br#"{"id":"evt_1",  "n": 1.50}"#.to_vec(),
        decision: ReceiptDecision::Forward {
            message: Box::new(message),
            app_message: None,
            dedupe_key: key.map(str::to_owned),
            dedupe_since: since,
        },
    }
}

async fn sources_round_trip_with_their_application(store: Arc<dyn Store>) {
    let now = t0();
    let source = new_source(&store, Some("stripe-live"), "token-a", now).await;
    assert!(
        store
            .get_application(source.app_id().as_str())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.get_source(source.id.as_str()).await.unwrap(),
        Some(source.clone())
    );
    assert_eq!(
        store.get_source("stripe-live").await.unwrap(),
        Some(source.clone())
    );
    let taken = store
        .create_source(NewSource {
            id: SourceId::generate(now, rand::random()),
            fields: source_fields(Some("stripe-live"), "again"),
            token: "token-b".into(),
            now,
        })
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let second = new_source(&store, None, "token-c", now).await;

    let first_page = store.list_sources(page(1, None)).await.unwrap();
    assert_eq!(first_page.items, vec![source.clone()]);
    assert!(!first_page.done);
    let rest = store
        .list_sources(page(1, first_page.iterator))
        .await
        .unwrap();
    assert_eq!(rest.items, vec![second.clone()]);
    assert!(rest.done);

    let later = now + chrono::TimeDelta::seconds(5);
    let updated = store
        .update_source(&source.id, source_fields(Some("renamed"), "Renamed"), later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.fields.name.as_str(), updated.updated_at),
        ("Renamed", later)
    );
    assert_eq!(updated.created_at, now);
    assert!(store.get_source("stripe-live").await.unwrap().is_none());

    assert!(store.delete_source(&source.id).await.unwrap());
    assert!(!store.delete_source(&source.id).await.unwrap());
    assert!(
        store
            .get_source(source.id.as_str())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_application(source.app_id().as_str())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_source(second.id.as_str())
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_rotated_token_works_until_its_grace_ends(store: Arc<dyn Store>) {
    let now = t0();
    let source = new_source(&store, None, "old-token", now).await;
    let found = |token: &'static str, at: Timestamp| {
        let store = Arc::clone(&store);
        async move {
            store
                .find_source_by_token(token, at)
                .await
                .unwrap()
                .map(|s| s.id)
        }
    };
    assert_eq!(found("old-token", now).await, Some(source.id.clone()));
    let until = now + chrono::TimeDelta::hours(48);
    let rotated = store
        .rotate_source_token(&source.id, "new-token".into(), until, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.token, "new-token");
    assert_eq!(found("new-token", now).await, Some(source.id.clone()));
    assert_eq!(
        found("old-token", until - chrono::TimeDelta::seconds(1)).await,
        Some(source.id.clone())
    );
    assert_eq!(found("old-token", until).await, None);
    assert_eq!(found("never-issued", now).await, None);
}

async fn a_receipt_commits_its_record_key_and_message_together(store: Arc<dyn Store>) {
    let now = t0();
    let source = new_source(&store, None, "token", now).await;
    new_endpoint(&store, &source.app_id(), endpoint_fields(None), now).await;

    let first = store
        .receive_inbound_request(forward(
            &source,
            Some("evt_1"),
            now - chrono::TimeDelta::seconds(60),
            now,
        ))
        .await
        .unwrap();
    let ReceiptOutcome::Forwarded {
        msg_id, deliveries, ..
    } = first.clone()
    else {
        panic!("{first:?}")
    };
    assert_eq!(deliveries, 1);
    let message = store
        .get_message(&source.app_id(), msg_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        message.payload.as_deref(),
        Some(r#"{"id":"evt_1",  "n": 1.50}"#)
    );

    let soon = now + chrono::TimeDelta::seconds(30);
    let again = store
        .receive_inbound_request(forward(
            &source,
            Some("evt_1"),
            soon - chrono::TimeDelta::seconds(60),
            soon,
        ))
        .await
        .unwrap();
    assert_eq!(
        again,
        ReceiptOutcome::Duplicate {
            msg_id: msg_id.clone()
        }
    );

    let much_later = now + chrono::TimeDelta::seconds(120);
    let after_window = store
        .receive_inbound_request(forward(
            &source,
            Some("evt_1"),
            much_later - chrono::TimeDelta::seconds(60),
            much_later,
        ))
        .await
        .unwrap();
    assert!(
        matches!(after_window, ReceiptOutcome::Forwarded { ref msg_id, .. } if *msg_id != message.id),
        "{after_window:?}"
    );

    let rejected = ReceivedRequest {
        decision: ReceiptDecision::Reject(RejectReason::BodyNotUtf8),
        ..forward(&source, None, now, much_later)
    };
    assert_eq!(
        store.receive_inbound_request(rejected).await.unwrap(),
        ReceiptOutcome::Rejected(RejectReason::BodyNotUtf8)
    );

    let listed = store
        .list_inbound_requests(&source.id, page(10, None))
        .await
        .unwrap();
    let verdicts: Vec<_> = listed.items.iter().map(|r| r.verdict.clone()).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Accepted,
            Verdict::Duplicate,
            Verdict::Accepted,
            Verdict::Rejected(RejectReason::BodyNotUtf8)
        ]
    );
    assert_eq!(listed.items[1].msg_id, Some(msg_id));
    assert_eq!(
        listed.items[0].body,
        br#"{"id":"evt_1",  "n": 1.50}"#.to_vec()
    );
    assert_eq!(listed.items[0].dedupe_key.as_deref(), Some("evt_1"));
    let one = store
        .get_inbound_request(&source.id, &listed.items[3].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one, listed.items[3]);
    let messages = store
        .list_messages(&source.app_id(), MessageFilter::default(), page(10, None))
        .await
        .unwrap();
    assert_eq!(
        messages.items.len(),
        2,
        "the duplicate and the rejection wrote no message"
    );

    // A request for a source deleted meanwhile writes nothing.
    assert!(store.delete_source(&source.id).await.unwrap());
    let orphan = store
        .receive_inbound_request(forward(&source, Some("evt_2"), now, now))
        .await;
    assert!(orphan.is_err(), "{orphan:?}");
}

async fn one_delivery_id_received_concurrently_is_forwarded_once(store: Arc<dyn Store>) {
    let now = t0();
    let source = new_source(&store, None, "token", now).await;
    new_endpoint(&store, &source.app_id(), endpoint_fields(None), now).await;
    let receipts = (0..8).map(|_| {
        let store = Arc::clone(&store);
        let request = forward(
            &source,
            Some("evt_same"),
            now - chrono::TimeDelta::seconds(60),
            now,
        );
        tokio::spawn(async move { store.receive_inbound_request(request).await.unwrap() })
    });
    let outcomes = futures::future::join_all(receipts).await;
    let forwarded = outcomes
        .iter()
        .filter(|outcome| matches!(outcome.as_ref().unwrap(), ReceiptOutcome::Forwarded { .. }))
        .count();
    assert_eq!(forwarded, 1, "{outcomes:?}");
    let messages = store
        .list_messages(&source.app_id(), MessageFilter::default(), page(10, None))
        .await
        .unwrap();
    assert_eq!(messages.items.len(), 1);
}

async fn a_forwarded_form_post_is_claimed_with_its_bytes_and_content_type(store: Arc<dyn Store>) {
    let now = t0();
    let source = new_source(&store, None, "token", now).await;
    new_endpoint(&store, &source.app_id(), endpoint_fields(None), now).await;
    let mut request = forward(&source, None, now, now);
    let form = "From=%2B15550001&Body=hello+world";
    let originals = vec![("x-twilio-region".to_owned(), "us1".to_owned())];
    if let ReceiptDecision::Forward { message, .. } = &mut request.decision {
        message.payload =
            MessagePayload::opaque(form.to_owned(), "application/x-www-form-urlencoded".into())
                .with_original_headers(originals.clone());
    }
    store.receive_inbound_request(request).await.unwrap();
    let json = forward(&source, None, now, now);
    store.receive_inbound_request(json).await.unwrap();
    let mut claimed = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    claimed.sort_by(|a, b| a.msg_id.cmp(&b.msg_id));
    let sent: Vec<_> = claimed
        .iter()
        .map(|claim| (claim.payload.as_deref(), claim.content_type.as_deref()))
        .collect();
    assert_eq!(
        sent,
        [
            (Some(form), Some("application/x-www-form-urlencoded")),
            (Some(r#"{"id":"evt_1",  "n": 1.50}"#), None),
        ]
    );
    // The message records carry the content type too (what `hookd listen` streams).
    let listed = store
        .list_messages(&source.app_id(), MessageFilter::default(), page(10, None))
        .await
        .unwrap();
    let mut content_types: Vec<_> = listed
        .items
        .iter()
        .map(|message| (message.id.to_string(), message.content_type.clone()))
        .collect();
    content_types.sort();
    let content_types: Vec<_> = content_types.into_iter().map(|(_, kind)| kind).collect();
    assert_eq!(
        content_types,
        [Some("application/x-www-form-urlencoded".to_owned()), None]
    );
    // The original headers a source forwards are claimed with the message, and only with it.
    assert_eq!(claimed[0].original_headers, originals);
    assert!(claimed[1].original_headers.is_empty());
}

async fn a_receipt_also_becomes_a_message_of_the_forward_application_while_it_exists(
    store: Arc<dyn Store>,
) {
    let now = t0();
    let source = new_source(&store, None, "token", now).await;
    new_endpoint(&store, &source.app_id(), endpoint_fields(None), now).await;
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let with_app = |now| {
        let mut request = forward(&source, None, now, now);
        if let ReceiptDecision::Forward { app_message, .. } = &mut request.decision {
            let mut message = new_message(&app_id, "invoice.paid", now);
            message.payload = MessagePayload::parse(r#"{"id":"evt_1",  "n": 1.50}"#).unwrap();
            *app_message = Some(AppMessage::Forward(Box::new(message)));
        }
        request
    };
    let outcome = store.receive_inbound_request(with_app(now)).await.unwrap();
    let ReceiptOutcome::Forwarded {
        deliveries,
        app_forward: Some(AppForward::Forwarded(app_msg_id)),
        ..
    } = outcome.clone()
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        deliveries, 2,
        "one per ingest endpoint and one per app endpoint"
    );
    let message = store
        .get_message(&app_id, app_msg_id.as_str())
        .await
        .unwrap()
        .expect("the application's message committed with the receipt");
    assert_eq!(message.event_type.as_str(), "invoice.paid");

    // Deleted since the source named it: the request still goes to the ingest endpoints, and
    // its record says why it did not reach the application.
    assert!(store.delete_application(&app_id).await.unwrap());
    let later = now + chrono::TimeDelta::seconds(1);
    let outcome = store
        .receive_inbound_request(with_app(later))
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            ReceiptOutcome::Forwarded {
                deliveries: 1,
                app_forward: Some(AppForward::ApplicationMissing),
                ..
            }
        ),
        "{outcome:?}"
    );
    let mut listed = store
        .list_inbound_requests(&source.id, page(10, None))
        .await
        .unwrap()
        .items;
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    let recorded: Vec<_> = listed.iter().map(|r| r.app_forward.clone()).collect();
    assert_eq!(
        recorded,
        [
            Some(AppForward::Forwarded(app_msg_id)),
            Some(AppForward::ApplicationMissing)
        ]
    );
}

async fn retention_deletes_old_requests_and_keys(store: Arc<dyn Store>) {
    let now = t0();
    let later = now + chrono::TimeDelta::days(10);
    let source = new_source(&store, None, "token", now).await;
    let old = forward(&source, Some("evt_old"), now, now);
    store.receive_inbound_request(old).await.unwrap();
    let new = forward(&source, Some("evt_new"), later, later);
    store.receive_inbound_request(new).await.unwrap();
    let cutoff = now + chrono::TimeDelta::days(1);
    assert_eq!(
        store
            .purge_inbound_before(cutoff, cutoff, 10)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .purge_inbound_before(cutoff, cutoff, 10)
            .await
            .unwrap(),
        0
    );
    let left = store
        .list_inbound_requests(&source.id, page(10, None))
        .await
        .unwrap();
    assert_eq!(left.items.len(), 1);
    assert_eq!(left.items[0].dedupe_key.as_deref(), Some("evt_new"));
    // The forgotten key forwards again; the kept one is still a duplicate.
    let again = store
        .receive_inbound_request(forward(&source, Some("evt_old"), now, later))
        .await
        .unwrap();
    assert!(
        matches!(again, ReceiptOutcome::Forwarded { .. }),
        "{again:?}"
    );
    let repeat = store
        .receive_inbound_request(forward(&source, Some("evt_new"), now, later))
        .await
        .unwrap();
    assert!(
        matches!(repeat, ReceiptOutcome::Duplicate { .. }),
        "{repeat:?}"
    );
}

/// On PostgreSQL receipts go through the write batcher with the API's messages: concurrent
/// receipts share a transaction (their rows' `xmin`), and two receipts of one key judged in the
/// same transaction still forward once, the second finding the key the first just wrote.
#[tokio::test]
async fn postgres_concurrent_receipts_share_a_commit_and_dedupe_within_it() {
    const ROUNDS: usize = 20;
    const CONCURRENT: usize = 16;
    let schema = TestSchema::create("postgres_concurrent_receipts_share_a_commit").await;
    let postgres = open_postgres(&schema).await;
    let store: Arc<dyn Store> = postgres.clone();
    let now = t0();
    let source = new_source(&store, None, "token", now).await;
    new_endpoint(&store, &source.app_id(), endpoint_fields(None), now).await;
    let rows = schema.connect().await;
    let mut rounds_judged_in_the_forwarding_commit = 0;
    for round in 0..ROUNDS {
        let key = format!("evt_{round}");
        let receipts = (0..CONCURRENT).map(|_| {
            let store = Arc::clone(&store);
            let request = forward(
                &source,
                Some(&key),
                now - chrono::TimeDelta::seconds(60),
                now,
            );
            tokio::spawn(async move { store.receive_inbound_request(request).await.unwrap() })
        });
        let outcomes = futures::future::join_all(receipts).await;
        let forwarded = outcomes
            .iter()
            .filter(|outcome| matches!(outcome.as_ref().unwrap(), ReceiptOutcome::Forwarded { .. }))
            .count();
        assert_eq!(forwarded, 1, "round {round}: {outcomes:?}");
        // The requests of this key committed by the transaction that wrote its message.
        let in_forwarding_commit: i64 = rows
            .query_one(
                "SELECT count(*) FROM ingest_request request JOIN message
                 ON message.id = request.msg_id AND message.xmin::text = request.xmin::text
                 WHERE request.dedupe_key = $1",
                &[&key],
            )
            .await
            .unwrap()
            .get(0);
        if in_forwarding_commit > 1 {
            rounds_judged_in_the_forwarding_commit += 1;
        }
    }
    let messages = store
        .list_messages(&source.app_id(), MessageFilter::default(), page(100, None))
        .await
        .unwrap();
    assert_eq!(messages.items.len(), ROUNDS, "one message per key");
    let commits: i64 = rows
        .query_one("SELECT count(DISTINCT xmin::text) FROM ingest_request", &[])
        .await
        .unwrap()
        .get(0);
    let total = i64::try_from(ROUNDS * CONCURRENT).unwrap();
    assert!(commits < total, "{total} receipts in {commits} commits");
    assert!(
        rounds_judged_in_the_forwarding_commit > 0,
        "no duplicate was judged in the transaction that forwarded its key"
    );
    postgres.close().await;
}
