//! The store contract suite: every scenario runs against SQLite (in a temporary directory) and
//! against PostgreSQL (in a fresh schema, see `postgres_schema`). A scenario is a function of
//! `Arc<dyn Store>`; `contract!` makes one test per backend from it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use hookd::domain::MessagePayload;
use hookd::domain::{
    AppId, Application, ApplicationFields, Attempt, AttemptId, ChannelName, DeliveryOptions,
    DeliveryStatus, Endpoint, EndpointFields, EndpointId, EndpointUrl, EventTypeFields,
    EventTypeName, MessageId, RecordedFailureCode, Secret, Timestamp, TriggerType, Uid,
};
use hookd::policy::backpressure::CircuitPolicy;
use hookd::policy::outcome::FailureCode;
use hookd::store::postgres::PostgresStore;
use hookd::store::sqlite::SqliteStore;
use hookd::store::{
    ApplicationFilter, AttemptFilter, AttemptRecord, ClaimBudget, ClaimedDelivery, MessageFilter,
    MessageInsert, Modified, NewEndpoint, NewMessage, NextStep, Order, Page, PageRequest, Store,
    StoreError,
};

use crate::postgres_schema::TestSchema;

/// One test per backend for each scenario.
macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = std::sync::Arc::new(
                        hookd::store::sqlite::SqliteStore::open(dir.path()).unwrap(),
                    );
                    super::$scenario(store.clone()).await;
                    super::close_sqlite(&store);
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let name = concat!("store_contract::postgres::", stringify!($scenario));
                    let schema = crate::postgres_schema::TestSchema::create(name).await;
                    let store = super::open_postgres(&schema).await;
                    super::$scenario(store.clone()).await;
                    store.close().await;
                }
            )*
        }
    };
}

/// One test per backend for each scenario of two nodes sharing one store. On PostgreSQL they
/// are two `PostgresStore`s with their own node ids on the same schema; SQLite has one node per
/// data directory (its lock keeps a second process out), so both handles are the same store.
macro_rules! contract_two_nodes {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = std::sync::Arc::new(
                        hookd::store::sqlite::SqliteStore::open(dir.path()).unwrap(),
                    );
                    super::$scenario(store.clone(), store.clone()).await;
                    super::close_sqlite(&store);
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let name = concat!("store_contract::postgres::", stringify!($scenario));
                    let schema = crate::postgres_schema::TestSchema::create(name).await;
                    let (node_a, node_b) = super::open_postgres_nodes(&schema).await;
                    super::$scenario(node_a.clone(), node_b.clone()).await;
                    node_a.close().await;
                    node_b.close().await;
                }
            )*
        }
    };
}

contract!(
    applications_round_trip_and_uid_conflicts,
    application_list_filters_apply_before_paging,
    endpoints_secrets_and_uid_conflicts,
    event_types_round_trip,
    message_fans_out_to_matching_endpoints,
    an_example_fans_out_to_its_one_endpoint,
    event_id_dedupes,
    messages_page_forward_and_backward_with_filters,
    attempts_are_filtered,
    failure_codes_read_back_typed_or_as_stored,
    a_claim_is_leased_and_a_stale_token_cannot_advance,
    released_deliveries_are_due_at_once,
    next_due_at_follows_deliver_at,
    idempotency_keys_and_settings,
    logs_expunge_and_purge_by_age,
    logs_destinations_dead_letters_and_counts,
);

/// Replaces every field of an application through the read-modify-write.
async fn replace_application(
    store: &Arc<dyn Store>,
    id: &AppId,
    fields: ApplicationFields,
    now: Timestamp,
) -> Result<Modified<Application>, StoreError> {
    store
        .modify_application(id.as_str(), Box::new(move |_| Ok(fields)), now)
        .await
}

/// Replaces every field of an endpoint through the read-modify-write.
async fn replace_endpoint(
    store: &Arc<dyn Store>,
    app_id: &AppId,
    id: &EndpointId,
    fields: EndpointFields,
    now: Timestamp,
) -> Result<Modified<Endpoint>, StoreError> {
    store
        .modify_endpoint(app_id, id.as_str(), Box::new(move |_| Ok(fields)), now)
        .await
}

/// The record a read-modify-write saved; panics on anything else.
fn saved<T: std::fmt::Debug>(modified: Result<Modified<T>, StoreError>) -> T {
    match modified {
        Ok(Modified::Saved(record)) => record,
        other => panic!("expected a saved change, got {other:?}"),
    }
}

fn close_sqlite(store: &SqliteStore) {
    store.close();
}

async fn open_postgres(schema: &TestSchema) -> Arc<PostgresStore> {
    Arc::new(
        PostgresStore::open(&schema.url, "contract-node")
            .await
            .expect("opening PostgreSQL"),
    )
}

/// Two nodes on one schema, each with its own node id (and so its own leases).
async fn open_postgres_nodes(schema: &TestSchema) -> (Arc<PostgresStore>, Arc<PostgresStore>) {
    let open = |node_id: &'static str| async move {
        Arc::new(
            PostgresStore::open(&schema.url, node_id)
                .await
                .expect("opening PostgreSQL"),
        )
    };
    (open("contract-node-a").await, open("contract-node-b").await)
}

/// A time with microseconds, to prove values read back exactly.
fn t0() -> Timestamp {
    chrono::Utc.timestamp_micros(1_750_000_000_123_457).unwrap()
}

fn seconds(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

fn page(limit: usize, iterator: Option<String>) -> PageRequest {
    PageRequest {
        limit,
        iterator,
        order: Order::Ascending,
    }
}

fn app_fields(uid: Option<&str>, name: &str) -> ApplicationFields {
    ApplicationFields {
        uid: uid.map(|uid| Uid::parse(uid).unwrap()),
        name: name.to_owned(),
        throttle_rate: None,
        metadata: BTreeMap::from([("team".to_owned(), "billing".to_owned())]),
    }
}

fn endpoint_fields(uid: Option<&str>) -> EndpointFields {
    EndpointFields {
        uid: uid.map(|uid| Uid::parse(uid).unwrap()),
        url: EndpointUrl::parse("https://receiver.example/hook").unwrap(),
        description: "a receiver".to_owned(),
        version: 1,
        disabled: false,
        event_types: None,
        channels: None,
        filter: None,
        throttle_rate: None,
        metadata: BTreeMap::new(),
        headers: BTreeMap::from([("x-team".to_owned(), "billing".to_owned())]),
        delivery: DeliveryOptions::default(),
    }
}

fn event(name: &str) -> EventTypeName {
    EventTypeName::parse(name).unwrap()
}

fn budget(limit: usize) -> ClaimBudget {
    ClaimBudget {
        limit,
        default_max_in_flight: 100,
        ..ClaimBudget::default()
    }
}

const LEASE: Duration = Duration::from_secs(30);

async fn new_app(store: &Arc<dyn Store>, now: Timestamp) -> AppId {
    let id = AppId::generate(now, rand::random());
    store
        .create_application(id.clone(), app_fields(None, "app"), now)
        .await
        .unwrap();
    id
}

/// A valid signing secret whose 32 key bytes are all `byte`.
fn test_secret(byte: u8) -> Secret {
    Secret::from_bytes(&[byte; 32]).unwrap()
}

async fn new_endpoint(
    store: &Arc<dyn Store>,
    app_id: &AppId,
    fields: EndpointFields,
    now: Timestamp,
) -> EndpointId {
    let id = EndpointId::generate(now, rand::random());
    store
        .create_endpoint(
            app_id,
            NewEndpoint {
                id: id.clone(),
                fields,
                secret: test_secret(1),
                now,
            },
        )
        .await
        .unwrap();
    id
}

fn new_message(app_id: &AppId, event_type: &str, now: Timestamp) -> NewMessage {
    NewMessage {
        id: MessageId::generate(now, rand::random()),
        app_id: app_id.clone(),
        event_type: event(event_type),
        event_id: None,
        payload: MessagePayload::parse(r#"{"amount":42}"#).unwrap(),
        channels: Vec::new(),
        tags: Vec::new(),
        deliver_at: None,
        recipients: hookd::domain::Recipients::Matching,
        now,
    }
}

async fn create(store: &Arc<dyn Store>, message: NewMessage) -> (MessageId, usize) {
    match store.create_message(message).await.unwrap() {
        MessageInsert::Created {
            message,
            deliveries,
        } => (message.id, deliveries),
        MessageInsert::Duplicate(message) => panic!("unexpected duplicate {}", message.id),
    }
}

fn attempt_for(claim: &ClaimedDelivery, status_code: u16, now: Timestamp) -> Attempt {
    Attempt {
        id: AttemptId::generate(now, rand::random()),
        app_id: claim.app_id.clone(),
        msg_id: claim.msg_id.clone(),
        endpoint_id: claim.endpoint_id.clone(),
        url: claim.url.as_str().to_owned(),
        status: if status_code / 100 == 2 {
            DeliveryStatus::Success
        } else {
            DeliveryStatus::Fail
        },
        response_status_code: status_code,
        response: "ok".to_owned(),
        response_duration_ms: 12,
        failure_code: (status_code / 100 != 2).then_some(FailureCode::HttpStatus.into()),
        trigger_type: TriggerType::Scheduled,
        created_at: now,
        details: Default::default(),
    }
}

fn record(
    claim: &ClaimedDelivery,
    token: i64,
    status_code: u16,
    next: NextStep,
    now: Timestamp,
) -> AttemptRecord {
    AttemptRecord {
        delivery_id: claim.delivery_id.clone(),
        lease_token: token,
        attempt_number: claim.attempts_made + 1,
        attempt: attempt_for(claim, status_code, now),
        next,
        disable_endpoint: false,
        disable_if_failing_since: None,
        retry_after: None,
    }
}

// --- scenarios ---

async fn applications_round_trip_and_uid_conflicts(store: Arc<dyn Store>) {
    let now = t0();
    let mut ids = Vec::new();
    for (index, uid) in ["acme", "globex", "initech"].into_iter().enumerate() {
        let id = AppId::generate(now + seconds(index as i64), rand::random());
        let created = store
            .create_application(id.clone(), app_fields(Some(uid), uid), now)
            .await
            .unwrap();
        assert_eq!(created.created_at, now);
        ids.push(id);
    }
    let by_uid = store.get_application("acme").await.unwrap().unwrap();
    let by_id = store
        .get_application(ids[0].as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_uid, by_id);
    assert_eq!(by_id.created_at, now, "microseconds read back exactly");
    assert_eq!(by_id.metadata["team"], "billing");

    let taken = store
        .create_application(
            AppId::generate(now, 7),
            app_fields(Some("acme"), "again"),
            now,
        )
        .await;
    match taken {
        Err(StoreError::Conflict(message)) => {
            assert_eq!(message, "an application with this uid already exists")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let renamed =
        replace_application(&store, &ids[1], app_fields(Some("acme"), "clash"), now).await;
    assert!(
        matches!(renamed, Err(StoreError::Conflict(_))),
        "{renamed:?}"
    );
    let updated = saved(
        replace_application(
            &store,
            &ids[1],
            app_fields(Some("globex-2"), "Globex"),
            now + seconds(5),
        )
        .await,
    );
    assert_eq!(updated.name, "Globex");
    assert_eq!(updated.updated_at, now + seconds(5));
    assert_eq!(updated.created_at, now);

    let first = store
        .list_applications(page(2, None), ApplicationFilter::default())
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(!first.done);
    let second = store
        .list_applications(
            page(2, first.iterator.clone()),
            ApplicationFilter::default(),
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert!(second.done);
    let back = store
        .list_applications(
            page(2, second.prev_iterator.clone()),
            ApplicationFilter::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        back.items, first.items,
        "paging back returns the first page"
    );

    assert!(store.delete_application(&ids[0]).await.unwrap());
    assert!(!store.delete_application(&ids[0]).await.unwrap());
    assert!(store.get_application("acme").await.unwrap().is_none());
}

/// A hidden application and the "with endpoints" filter are applied by the query, not to a
/// fetched page: pages stay full, `done` is true on the last one, and the iterator never names
/// an application that was not shown.
async fn application_list_filters_apply_before_paging(store: Arc<dyn Store>) {
    let now = t0();
    let hidden_only = ApplicationFilter {
        hidden: Some(AppId::from_trusted("app_hidden")),
        hidden_prefix: None,
        with_endpoints_only: false,
    };
    let hidden = store
        .create_application(
            AppId::from_trusted("app_hidden"),
            app_fields(None, "Hidden"),
            now,
        )
        .await
        .unwrap();
    let empty = store
        .list_applications(page(10, None), hidden_only.clone())
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(
        empty.iterator, None,
        "no iterator names the hidden application"
    );
    assert!(empty.done);

    let mut ids = Vec::new();
    for (n, name) in ["A", "B", "C"].iter().enumerate() {
        let id = AppId::from_trusted(format!("app_{n}"));
        store
            .create_application(id.clone(), app_fields(None, name), now)
            .await
            .unwrap();
        ids.push(id);
    }
    // Only B has an endpoint; the hidden one has one too but is never shown.
    for app in [&ids[1], &hidden.id] {
        new_endpoint(&store, app, endpoint_fields(None), now).await;
    }
    let first = store
        .list_applications(page(2, None), hidden_only.clone())
        .await
        .unwrap();
    let names = |page: &Page<Application>| -> Vec<String> {
        page.items.iter().map(|app| app.name.clone()).collect()
    };
    assert_eq!(names(&first), ["A", "B"]);
    assert!(!first.done);
    let last = store
        .list_applications(page(2, first.iterator.clone()), hidden_only.clone())
        .await
        .unwrap();
    assert_eq!(names(&last), ["C"]);
    assert!(
        last.done,
        "the page that holds the last application is done"
    );

    let with_endpoints = ApplicationFilter {
        with_endpoints_only: true,
        ..hidden_only
    };
    let only_b = store
        .list_applications(page(1, None), with_endpoints)
        .await
        .unwrap();
    assert_eq!(names(&only_b), ["B"]);
    assert!(only_b.done);
}

async fn endpoints_secrets_and_uid_conflicts(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(Some("main")), now).await;
    let found = store.get_endpoint(&app_id, "main").await.unwrap().unwrap();
    assert_eq!(found.id, endpoint_id);
    assert_eq!(found.fields, endpoint_fields(Some("main")));
    assert_eq!(found.created_at, now);

    let duplicate = store
        .create_endpoint(
            &app_id,
            NewEndpoint {
                id: EndpointId::generate(now, 1),
                fields: endpoint_fields(Some("main")),
                secret: test_secret(2),
                now,
            },
        )
        .await;
    match duplicate {
        Err(StoreError::Conflict(message)) => {
            assert_eq!(message, "an endpoint with this uid already exists")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    let mut fields = endpoint_fields(Some("main"));
    fields.event_types = Some(vec![event("invoice.paid")]);
    fields.channels = Some(vec![ChannelName::parse("eu").unwrap()]);
    fields.delivery.max_in_flight = Some(3);
    fields.delivery.ordered = true;
    let updated = saved(
        replace_endpoint(
            &store,
            &app_id,
            &endpoint_id,
            fields.clone(),
            now + seconds(1),
        )
        .await,
    );
    assert_eq!(updated.fields, fields);

    let secrets = store.endpoint_secrets(&endpoint_id, now).await.unwrap();
    assert_eq!(secrets.len(), 1);
    store
        .rotate_endpoint_secret(&endpoint_id, test_secret(3), now + seconds(60), now)
        .await
        .unwrap();
    let secrets = store.endpoint_secrets(&endpoint_id, now).await.unwrap();
    assert_eq!(secrets.len(), 2);
    assert_eq!(
        secrets[0].key,
        test_secret(3),
        "the current secret comes first"
    );
    assert_eq!(secrets[1].expires_at, Some(now + seconds(60)));
    let later = store
        .endpoint_secrets(&endpoint_id, now + seconds(61))
        .await
        .unwrap();
    assert_eq!(later.len(), 1, "the old secret expired");

    let listed = store.list_endpoints(&app_id, page(10, None)).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(
        store
            .delete_endpoint(&app_id, &endpoint_id, now)
            .await
            .unwrap()
    );
    assert!(store.get_endpoint(&app_id, "main").await.unwrap().is_none());
}

async fn event_types_round_trip(store: Arc<dyn Store>) {
    let now = t0();
    let fields = EventTypeFields {
        description: "an invoice was paid".to_owned(),
        deprecated: false,
        archived: false,
        schemas: Some(serde_json::json!({"1": {"type": "object"}})),
        feature_flag: None,
        group_name: Some("billing".to_owned()),
        enforce_schema: false,
    };
    for name in ["invoice.paid", "invoice.voided"] {
        store
            .create_event_type(event(name), fields.clone(), now)
            .await
            .unwrap();
    }
    match store
        .create_event_type(event("invoice.paid"), fields.clone(), now)
        .await
    {
        Err(StoreError::Conflict(message)) => {
            assert_eq!(message, "an event type with this name already exists")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let found = store
        .get_event_type(&event("invoice.paid"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.fields, fields);
    let archived = EventTypeFields {
        archived: true,
        ..fields.clone()
    };
    store
        .update_event_type(&event("invoice.voided"), archived, now)
        .await
        .unwrap()
        .unwrap();
    let visible = store
        .list_event_types(page(10, None), false, None)
        .await
        .unwrap();
    assert_eq!(visible.items.len(), 1);
    let all = store
        .list_event_types(page(10, None), true, None)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
    assert!(
        store
            .delete_event_type(&event("invoice.paid"))
            .await
            .unwrap()
    );
    assert!(
        store
            .get_event_type(&event("invoice.paid"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn message_fans_out_to_matching_endpoints(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let every = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let mut only_voided = endpoint_fields(None);
    only_voided.event_types = Some(vec![event("invoice.voided")]);
    new_endpoint(&store, &app_id, only_voided, now).await;
    let mut only_eu = endpoint_fields(None);
    only_eu.channels = Some(vec![ChannelName::parse("eu").unwrap()]);
    let eu = new_endpoint(&store, &app_id, only_eu, now).await;
    let mut disabled = endpoint_fields(None);
    disabled.disabled = true;
    new_endpoint(&store, &app_id, disabled, now).await;

    let (_, deliveries) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    assert_eq!(deliveries, 1, "only the unfiltered endpoint");
    let mut on_eu = new_message(&app_id, "invoice.paid", now);
    on_eu.channels = vec![ChannelName::parse("eu").unwrap()];
    let (eu_message, deliveries) = create(&store, on_eu).await;
    assert_eq!(deliveries, 2, "the unfiltered endpoint and the eu one");

    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    let mut targets: Vec<(String, String)> = claimed
        .iter()
        .map(|claim| (claim.msg_id.to_string(), claim.endpoint_id.to_string()))
        .collect();
    targets.sort();
    assert_eq!(claimed.len(), 3);
    assert!(targets.contains(&(eu_message.to_string(), eu.to_string())));
    assert_eq!(
        claimed
            .iter()
            .filter(|claim| claim.endpoint_id == every)
            .count(),
        2
    );
    let claim = &claimed[0];
    assert_eq!(claim.payload.as_deref(), Some(r#"{"amount":42}"#));
    assert_eq!(claim.headers["x-team"], "billing");
    assert_eq!(claim.secrets.usable().len(), 1);
    assert_eq!(claim.secrets.usable()[0], test_secret(1));
    assert_eq!(claim.attempts_made, 0);
}

/// `Recipients::OnlyEndpoint` (an example sent to one endpoint): that endpoint gets the one
/// delivery even when its filters would refuse the message; the others, unfiltered, get none;
/// a disabled one gets nothing.
async fn an_example_fans_out_to_its_one_endpoint(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let mut only_voided = endpoint_fields(None);
    only_voided.event_types = Some(vec![event("invoice.voided")]);
    let chosen = new_endpoint(&store, &app_id, only_voided, now).await;
    let mut disabled_fields = endpoint_fields(None);
    disabled_fields.disabled = true;
    let disabled = new_endpoint(&store, &app_id, disabled_fields, now).await;

    let mut example = new_message(&app_id, "invoice.paid", now);
    example.recipients = hookd::domain::Recipients::OnlyEndpoint(chosen.clone());
    let (example_id, deliveries) = create(&store, example).await;
    assert_eq!(deliveries, 1, "only the chosen endpoint");
    let mut to_disabled = new_message(&app_id, "invoice.paid", now);
    to_disabled.recipients = hookd::domain::Recipients::OnlyEndpoint(disabled);
    let (_, deliveries) = create(&store, to_disabled).await;
    assert_eq!(deliveries, 0, "a disabled endpoint gets nothing");

    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    let targets: Vec<(MessageId, EndpointId)> = claimed
        .iter()
        .map(|claim| (claim.msg_id.clone(), claim.endpoint_id.clone()))
        .collect();
    assert_eq!(targets, vec![(example_id, chosen)]);
}

async fn event_id_dedupes(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let mut first = new_message(&app_id, "invoice.paid", now);
    first.event_id = Some("evt-1".to_owned());
    let (first_id, _) = create(&store, first).await;
    let mut again = new_message(&app_id, "invoice.paid", now + seconds(1));
    again.event_id = Some("evt-1".to_owned());
    match store.create_message(again).await.unwrap() {
        MessageInsert::Duplicate(existing) => assert_eq!(existing.id, first_id),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let by_event_id = store.get_message(&app_id, "evt-1").await.unwrap().unwrap();
    assert_eq!(by_event_id.id, first_id);
    assert_eq!(by_event_id.created_at, now);
    let claimed = store
        .claim_due_deliveries(now + seconds(1), LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the duplicate added no delivery");
}

async fn messages_page_forward_and_backward_with_filters(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let mut ids = Vec::new();
    for index in 0..5 {
        let mut message = new_message(
            &app_id,
            if index % 2 == 0 {
                "invoice.paid"
            } else {
                "invoice.voided"
            },
            now + seconds(index),
        );
        if index == 3 {
            message.channels = vec![ChannelName::parse("eu").unwrap()];
            message.tags = vec!["vip".to_owned()];
        }
        ids.push(create(&store, message).await.0);
    }
    let list = |filter: MessageFilter, request: PageRequest| {
        let store = Arc::clone(&store);
        let app_id = app_id.clone();
        async move { store.list_messages(&app_id, filter, request).await.unwrap() }
    };
    let first = list(MessageFilter::default(), page(2, None)).await;
    let first_ids: Vec<_> = first.items.iter().map(|m| m.id.clone()).collect();
    assert_eq!(first_ids, ids[..2]);
    let second = list(MessageFilter::default(), page(2, first.iterator.clone())).await;
    let second_ids: Vec<_> = second.items.iter().map(|m| m.id.clone()).collect();
    assert_eq!(second_ids, ids[2..4]);
    let back = list(
        MessageFilter::default(),
        page(2, second.prev_iterator.clone()),
    )
    .await;
    assert_eq!(back.items, first.items);
    let newest_first = list(
        MessageFilter::default(),
        PageRequest {
            limit: 10,
            iterator: None,
            order: Order::Descending,
        },
    )
    .await;
    assert_eq!(newest_first.items[0].id, ids[4]);

    let paid = list(
        MessageFilter {
            event_types: Some(vec![event("invoice.paid")]),
            ..MessageFilter::default()
        },
        page(10, None),
    )
    .await;
    assert_eq!(paid.items.len(), 3);
    let eu = list(
        MessageFilter {
            channel: Some(ChannelName::parse("eu").unwrap()),
            ..MessageFilter::default()
        },
        page(10, None),
    )
    .await;
    assert_eq!(eu.items.len(), 1);
    assert_eq!(eu.items[0].id, ids[3]);
    let vip = list(
        MessageFilter {
            tag: Some("vip".to_owned()),
            ..MessageFilter::default()
        },
        page(10, None),
    )
    .await;
    assert_eq!(vip.items.len(), 1);
    let window = list(
        MessageFilter {
            after: Some(now),
            before: Some(now + seconds(3)),
            ..MessageFilter::default()
        },
        page(10, None),
    )
    .await;
    let window_ids: Vec<_> = window.items.iter().map(|m| m.id.clone()).collect();
    assert_eq!(window_ids, ids[1..3]);
}

/// A code this hookd knows comes back as `Known`; one it does not (written by a newer node of
/// the same cluster) comes back exactly as stored instead of failing the listing.
async fn failure_codes_read_back_typed_or_as_stored(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    create(&store, new_message(&app_id, "invoice.paid", now)).await;
    create(&store, new_message(&app_id, "invoice.paid", now)).await;
    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    // In the order of their spellings, as they are compared below.
    let codes = [
        RecordedFailureCode::Unrecognized("quota_exceeded".to_owned()),
        RecordedFailureCode::Known(FailureCode::SigningFailed),
    ];
    let records = claimed
        .iter()
        .zip(&codes)
        .map(|(claim, code)| {
            let mut record = record(claim, claim.lease_token, 500, NextStep::GiveUp, now);
            record.attempt.failure_code = Some(code.clone());
            record
        })
        .collect();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();
    let listed = store
        .list_attempts(&app_id, None, AttemptFilter::default(), page(10, None))
        .await
        .unwrap()
        .items;
    let mut read_back: Vec<_> = listed
        .into_iter()
        .map(|attempt| attempt.failure_code)
        .collect();
    read_back.sort_by_key(|code| code.as_ref().map(|code| code.as_str().to_owned()));
    assert_eq!(read_back, codes.map(Some));
}

async fn attempts_are_filtered(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let endpoint = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let (paid, _) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    let mut voided = new_message(&app_id, "invoice.voided", now);
    voided.channels = vec![ChannelName::parse("eu").unwrap()];
    create(&store, voided).await;
    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let records = claimed
        .iter()
        .map(|claim| {
            let (code, next) = if claim.msg_id == paid {
                (200, NextStep::Done)
            } else {
                (503, NextStep::RetryAt(now + seconds(5)))
            };
            record(claim, claim.lease_token, code, next, now + seconds(1))
        })
        .collect();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();

    let attempts = |filter: AttemptFilter| {
        let store = Arc::clone(&store);
        let app_id = app_id.clone();
        async move {
            store
                .list_attempts(&app_id, None, filter, page(10, None))
                .await
                .unwrap()
                .items
        }
    };
    assert_eq!(attempts(AttemptFilter::default()).await.len(), 2);
    let succeeded = attempts(AttemptFilter {
        status: Some(DeliveryStatus::Success),
        ..AttemptFilter::default()
    })
    .await;
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].msg_id, paid);
    assert_eq!(succeeded[0].created_at, now + seconds(1));
    let server_errors = attempts(AttemptFilter {
        status_code_class: Some(500),
        ..AttemptFilter::default()
    })
    .await;
    assert_eq!(server_errors.len(), 1);
    assert_eq!(server_errors[0].response_status_code, 503);
    assert_eq!(
        server_errors[0].failure_code,
        Some(RecordedFailureCode::Known(FailureCode::HttpStatus))
    );
    let on_eu = attempts(AttemptFilter {
        channel: Some(ChannelName::parse("eu").unwrap()),
        ..AttemptFilter::default()
    })
    .await;
    assert_eq!(on_eu.len(), 1);
    let voided_type = attempts(AttemptFilter {
        event_types: Some(vec![event("invoice.voided")]),
        endpoint_id: Some(endpoint.clone()),
        ..AttemptFilter::default()
    })
    .await;
    assert_eq!(voided_type.len(), 1);
    let for_message = store
        .list_attempts(
            &app_id,
            Some(&paid),
            AttemptFilter::default(),
            page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(for_message.items.len(), 1);

    // The failed delivery is due again at its retry time, not before.
    let early = store
        .claim_due_deliveries(now + seconds(4), LEASE, budget(10))
        .await
        .unwrap();
    assert!(early.is_empty());
    let retry = store
        .claim_due_deliveries(now + seconds(5), LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempts_made, 1);
}

async fn a_claim_is_leased_and_a_stale_token_cannot_advance(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    create(&store, new_message(&app_id, "invoice.paid", now)).await;

    let first = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let again = store
        .claim_due_deliveries(now + seconds(29), LEASE, budget(10))
        .await
        .unwrap();
    assert!(again.is_empty(), "leased until the lease ends");

    // The lease ran out: another worker claims the delivery with a new token.
    let second = store
        .claim_due_deliveries(now + seconds(31), LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].lease_token, first[0].lease_token);

    // The first worker's late result is kept as an attempt but does not finish the delivery.
    store
        .record_attempts(
            vec![record(
                &first[0],
                first[0].lease_token,
                200,
                NextStep::Done,
                now + seconds(32),
            )],
            CircuitPolicy::default(),
        )
        .await
        .unwrap();
    let attempts = store
        .list_attempts(&app_id, None, AttemptFilter::default(), page(10, None))
        .await
        .unwrap();
    assert_eq!(attempts.items.len(), 1);
    let still_leased = store
        .claim_due_deliveries(now + seconds(40), LEASE, budget(10))
        .await
        .unwrap();
    assert!(still_leased.is_empty(), "the second lease still holds");
    let third = store
        .claim_due_deliveries(now + seconds(62), LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(third.len(), 1, "the stale result did not finish it");
    assert_eq!(third[0].attempts_made, 0, "nor count as its attempt");

    store
        .record_attempts(
            vec![record(
                &third[0],
                third[0].lease_token,
                200,
                NextStep::Done,
                now + seconds(63),
            )],
            CircuitPolicy::default(),
        )
        .await
        .unwrap();
    let done = store
        .claim_due_deliveries(now + seconds(1000), LEASE, budget(10))
        .await
        .unwrap();
    assert!(done.is_empty(), "a delivered delivery is finished");
}

async fn released_deliveries_are_due_at_once(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    create(&store, new_message(&app_id, "invoice.paid", now)).await;
    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    store
        .release_deliveries(vec![claimed[0].delivery_id.clone()])
        .await
        .unwrap();
    let reclaimed = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].delivery_id, claimed[0].delivery_id);
}

async fn next_due_at_follows_deliver_at(store: Arc<dyn Store>) {
    let now = t0();
    assert_eq!(store.next_due_at().await.unwrap(), None);
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let later = now + seconds(90) + chrono::Duration::microseconds(17);
    let mut scheduled = new_message(&app_id, "invoice.paid", now);
    scheduled.deliver_at = Some(later);
    let (id, _) = create(&store, scheduled).await;
    assert_eq!(store.next_due_at().await.unwrap(), Some(later));
    let message = store
        .get_message(&app_id, id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.deliver_at, Some(later));
    let early = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    assert!(early.is_empty(), "not due before deliverAt");
    let due = store
        .claim_due_deliveries(later, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
}

async fn idempotency_keys_and_settings(store: Arc<dyn Store>) {
    use hookd::store::KeyClaim;
    let now = t0();
    let abandon = Duration::from_secs(300);
    let claim = |key: &'static str, digest: &'static str, at| {
        let store = Arc::clone(&store);
        async move {
            store
                .claim_idempotency_key(key, digest, at, abandon, Duration::from_secs(12 * 3600))
                .await
                .unwrap()
        }
    };
    // The first request reserves the key; a second one while it runs is told so.
    assert_eq!(claim("key-1", "digest", now).await, KeyClaim::Claimed);
    assert_eq!(
        claim("key-1", "digest", now).await,
        KeyClaim::InProgress {
            request_digest: "digest".to_owned()
        }
    );
    // Its answer replaces the reservation and is what later requests get.
    let response = hookd::store::IdempotentResponse {
        request_digest: "digest".to_owned(),
        status: 202,
        body: b"{\"id\":\"msg_1\"}".to_vec(),
        holds_secrets: false,
    };
    store
        .put_idempotent_response("key-1", response.clone(), None, now)
        .await
        .unwrap();
    assert_eq!(
        claim("key-1", "other", now).await,
        KeyClaim::Answered(response)
    );
    // A failed request releases its key; an abandoned reservation is taken over.
    assert_eq!(claim("key-2", "digest", now).await, KeyClaim::Claimed);
    store.release_idempotency_key("key-2").await.unwrap();
    assert_eq!(claim("key-2", "digest", now).await, KeyClaim::Claimed);
    let much_later = now + chrono::Duration::seconds(301);
    assert_eq!(
        claim("key-2", "digest", much_later).await,
        KeyClaim::Claimed
    );
    assert_eq!(store.get_setting("admin").await.unwrap(), None);
    store.put_setting("admin", "one").await.unwrap();
    store.put_setting("admin", "two").await.unwrap();
    assert_eq!(
        store.get_setting("admin").await.unwrap().as_deref(),
        Some("two")
    );
}

// --- delivery logs ---

async fn logs_expunge_and_purge_by_age(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let (old, _) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    let mut waiting = new_message(&app_id, "invoice.paid", now);
    waiting.deliver_at = Some(now + seconds(100 * 86_400));
    let (waiting, _) = create(&store, waiting).await;
    let later = now + seconds(20 * 86_400);
    let (recent, _) = create(&store, new_message(&app_id, "invoice.paid", later)).await;
    let claimed = store
        .claim_due_deliveries(later, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let records = claimed
        .iter()
        .map(|claim| {
            let at = if claim.msg_id == old { now } else { later };
            record(claim, claim.lease_token, 200, NextStep::Done, at)
        })
        .collect();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();

    // Only the old, delivered message loses its payload; one pending for later keeps it.
    let cutoff = now + seconds(10 * 86_400);
    assert_eq!(store.purge_payloads_before(cutoff, 1).await.unwrap(), 1);
    assert_eq!(store.purge_payloads_before(cutoff, 1).await.unwrap(), 0);
    let payload = |id: MessageId| {
        let (store, app_id) = (Arc::clone(&store), app_id.clone());
        async move {
            store
                .get_message(&app_id, id.as_str())
                .await
                .unwrap()
                .unwrap()
                .payload
        }
    };
    assert_eq!(payload(old.clone()).await, None);
    assert!(payload(waiting.clone()).await.is_some());
    assert!(payload(recent.clone()).await.is_some());

    assert_eq!(
        store.purge_attempt_bodies_before(cutoff, 10).await.unwrap(),
        1
    );
    assert_eq!(
        store.purge_attempt_bodies_before(cutoff, 10).await.unwrap(),
        0
    );
    let attempts = store
        .list_attempts(&app_id, None, AttemptFilter::default(), page(10, None))
        .await
        .unwrap()
        .items;
    let old_attempt = attempts.iter().find(|a| a.msg_id == old).unwrap();
    assert_eq!(old_attempt.response, "");
    assert_eq!(old_attempt.response_status_code, 200);
    let recent_attempt = attempts.iter().find(|a| a.msg_id == recent).unwrap();
    assert_eq!(recent_attempt.response, "ok");
    let found = store
        .get_attempt(&app_id, recent_attempt.id.as_str())
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(recent_attempt));
    let other_app = new_app(&store, now).await;
    assert_eq!(
        store
            .get_attempt(&other_app, recent_attempt.id.as_str())
            .await
            .unwrap(),
        None
    );

    assert!(
        store
            .expunge_message_content(&app_id, &recent)
            .await
            .unwrap()
    );
    assert_eq!(payload(recent).await, None);
    let missing = MessageId::generate(now, 1);
    assert!(
        !store
            .expunge_message_content(&app_id, &missing)
            .await
            .unwrap()
    );
}

async fn logs_destinations_dead_letters_and_counts(store: Arc<dyn Store>) {
    use hookd::store::logs::{DeadLetterFilter, DeadLetterSummary, DeliveryState};

    let now = t0();
    let app_id = new_app(&store, now).await;
    let ok = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let failing = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let parked = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let (msg_id, deliveries) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    assert_eq!(deliveries, 3);
    let disabled = EndpointFields {
        disabled: true,
        ..endpoint_fields(None)
    };
    saved(replace_endpoint(&store, &app_id, &parked, disabled, now).await);
    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(10))
        .await
        .unwrap();
    assert_eq!(
        claimed.len(),
        2,
        "the disabled endpoint's delivery is parked"
    );
    let records = claimed
        .iter()
        .map(|claim| {
            let (code, next) = if claim.endpoint_id == ok {
                (200, NextStep::Done)
            } else {
                (500, NextStep::GiveUp)
            };
            record(claim, claim.lease_token, code, next, now + seconds(1))
        })
        .collect();
    store
        .record_attempts(records, CircuitPolicy::default())
        .await
        .unwrap();

    let destinations = store
        .list_message_destinations(&app_id, &msg_id, page(10, None))
        .await
        .unwrap();
    let mut expected = vec![
        (ok.clone(), DeliveryState::Success),
        (failing.clone(), DeliveryState::Failed),
        (parked.clone(), DeliveryState::Parked),
    ];
    expected.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let states: Vec<_> = destinations
        .items
        .iter()
        .map(|d| (d.endpoint_id.clone(), d.state))
        .collect();
    assert_eq!(states, expected);
    assert!(
        destinations
            .items
            .iter()
            .all(|d| d.next_attempt_at.is_none())
    );
    let first = store
        .list_message_destinations(&app_id, &msg_id, page(2, None))
        .await
        .unwrap();
    assert!(!first.done);
    let rest = store
        .list_message_destinations(&app_id, &msg_id, page(2, first.iterator))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);

    let letters = |filter: DeadLetterFilter| {
        let (store, app_id) = (Arc::clone(&store), app_id.clone());
        async move {
            store
                .list_dead_letters(&app_id, filter, page(10, None))
                .await
                .unwrap()
                .items
        }
    };
    let all = letters(DeadLetterFilter::default()).await;
    assert_eq!(all.len(), 2);
    let failed = all.iter().find(|l| l.endpoint_id == failing).unwrap();
    assert!(!failed.parked);
    assert_eq!(failed.attempts_made, 1);
    assert_eq!(failed.last_attempt_at, Some(now + seconds(1)));
    assert_eq!(failed.message_created_at, now);
    let parked_letter = all.iter().find(|l| l.endpoint_id == parked).unwrap();
    assert!(parked_letter.parked);
    assert_eq!(parked_letter.last_attempt_at, None);
    let only_parked = letters(DeadLetterFilter {
        endpoint_id: Some(parked.clone()),
        ..DeadLetterFilter::default()
    })
    .await;
    assert_eq!(only_parked.len(), 1);
    let other_type = letters(DeadLetterFilter {
        event_types: Some(vec![event("other.type")]),
        ..DeadLetterFilter::default()
    })
    .await;
    assert!(other_type.is_empty());
    let before = letters(DeadLetterFilter {
        before: Some(now),
        ..DeadLetterFilter::default()
    })
    .await;
    assert!(before.is_empty());
    let summary = DeadLetterSummary::from_groups(&store.count_dead_letters(&app_id).await.unwrap());
    assert_eq!((summary.total.failed, summary.total.parked), (1, 1));
    assert_eq!(summary.by_event_type["invoice.paid"].failed, 1);
    assert_eq!(summary.by_endpoint[failing.as_str()].parked, 0);

    let ok_counts = store
        .count_endpoint_deliveries(&ok, None, None)
        .await
        .unwrap();
    assert_eq!(ok_counts.success, 1);
    let none = store
        .count_endpoint_deliveries(&ok, Some(now + seconds(1)), None)
        .await
        .unwrap();
    assert_eq!(none.success, 0);
    let samples = store.sample_endpoint_attempts(&ok, now).await.unwrap();
    assert_eq!(samples.len(), 1);
    assert!(samples[0].success);
    assert_eq!(samples[0].duration_ms, 12);
    assert!(
        store
            .sample_endpoint_attempts(&ok, now + seconds(2))
            .await
            .unwrap()
            .is_empty()
    );

    // A resend adds a newer delivery, which then decides the pair's state.
    store
        .enqueue_resend(&app_id, &msg_id, &failing, now + seconds(5))
        .await
        .unwrap();
    let destinations = store
        .list_message_destinations(&app_id, &msg_id, page(10, None))
        .await
        .unwrap();
    let resent = destinations
        .items
        .iter()
        .find(|d| d.endpoint_id == failing)
        .unwrap();
    assert_eq!(resent.state, DeliveryState::Pending);
    assert_eq!(resent.next_attempt_at, Some(now + seconds(5)));
    assert_eq!(letters(DeadLetterFilter::default()).await.len(), 1);
    let failing_counts = store
        .count_endpoint_deliveries(&failing, None, None)
        .await
        .unwrap();
    assert_eq!((failing_counts.pending, failing_counts.failed), (1, 0));
}

/// Replay and background-task scenarios, in their own module so that their list stays apart.
mod replay_contract {
    use super::*;
    use hookd::domain::{
        BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus, ReplaySelection,
    };
    use hookd::store::{NewBackgroundTask, ReplayFilter, ReplayProgress, ReplayStep};

    contract!(
        replay_message_queues_one_manual_delivery_per_original_endpoint,
        replay_tasks_run_in_batches_under_a_lease,
    );

    /// Claims everything due at `now` and records each attempt with `status_code`, giving up.
    async fn settle_all(store: &Arc<dyn Store>, status_code: u16, now: Timestamp) -> usize {
        let claimed = store
            .claim_due_deliveries(now, LEASE, budget(100))
            .await
            .unwrap();
        let records = claimed
            .iter()
            .map(|claim| record(claim, claim.lease_token, status_code, NextStep::GiveUp, now))
            .collect();
        store
            .record_attempts(records, CircuitPolicy::default())
            .await
            .unwrap();
        claimed.len()
    }

    async fn replay_message_queues_one_manual_delivery_per_original_endpoint(
        store: Arc<dyn Store>,
    ) {
        let now = t0();
        let app_id = new_app(&store, now).await;
        new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
        new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
        let (msg_id, fanned_out) = create(&store, new_message(&app_id, "a", now)).await;
        assert_eq!(fanned_out, 2);
        assert_eq!(settle_all(&store, 200, now).await, 2);
        // An endpoint created later is not one the message was fanned out to.
        new_endpoint(&store, &app_id, endpoint_fields(None), now).await;

        let later = now + seconds(5);
        assert_eq!(
            store.replay_message(&app_id, &msg_id, later).await.unwrap(),
            2
        );
        let claimed = store
            .claim_due_deliveries(later, LEASE, budget(100))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(claimed.iter().all(|claim| claim.msg_id == msg_id
            && claim.trigger_type == TriggerType::Manual
            && claim.attempts_made == 0));
        let unknown = MessageId::from_trusted("msg_unknown");
        assert_eq!(
            store
                .replay_message(&app_id, &unknown, later)
                .await
                .unwrap(),
            0
        );
    }

    async fn replay_tasks_run_in_batches_under_a_lease(store: Arc<dyn Store>) {
        let now = t0();
        let app_id = new_app(&store, now).await;
        let endpoint_id = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
        // Four failed messages one second apart (fewer than open the circuit), then one
        // delivered.
        for offset in 0..4 {
            let at = now + seconds(offset);
            create(&store, new_message(&app_id, "a", at)).await;
            assert_eq!(settle_all(&store, 500, at).await, 1);
        }
        create(&store, new_message(&app_id, "b", now + seconds(4))).await;
        assert_eq!(settle_all(&store, 200, now + seconds(4)).await, 1);

        let filter = ReplayFilter {
            app_id: app_id.clone(),
            endpoint_id: Some(endpoint_id.clone()),
            event_types: None,
            selection: ReplaySelection::FailedParkedOrRetrying,
            since: now + seconds(1),
            until: Some(now + seconds(4)),
        };
        assert_eq!(store.count_replay(filter.clone()).await.unwrap(), 3);
        let any = ReplayFilter {
            selection: ReplaySelection::AnyFinished,
            until: None,
            ..filter.clone()
        };
        assert_eq!(store.count_replay(any.clone()).await.unwrap(), 4);
        let only_b = ReplayFilter {
            event_types: Some(vec![event("b")]),
            ..any
        };
        assert_eq!(store.count_replay(only_b).await.unwrap(), 1);

        let later = now + seconds(60);
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
            .expect("the new task is claimed");
        assert_eq!(claim.task.filter, filter);
        assert!(
            store
                .claim_background_task(later, later + seconds(10))
                .await
                .unwrap()
                .is_none(),
            "a leased task is not claimed twice"
        );
        let step = |lease_token| ReplayStep {
            task_id: id.clone(),
            lease_token,
            limit: 2,
            now: later,
            lease_until: later + seconds(10),
        };
        assert_eq!(
            store
                .run_task_batch(step(claim.lease_token + 1))
                .await
                .unwrap(),
            ReplayProgress::LeaseLost
        );
        assert_eq!(
            store.run_task_batch(step(claim.lease_token)).await.unwrap(),
            ReplayProgress::Queued(2)
        );
        // The lease runs out; another runner resumes after the last committed batch.
        let resumed = store
            .claim_background_task(later + seconds(11), later + seconds(20))
            .await
            .unwrap()
            .expect("an expired lease is claimed again");
        assert_eq!(resumed.task.messages_sent, 2);
        assert_eq!(
            store.run_task_batch(step(claim.lease_token)).await.unwrap(),
            ReplayProgress::LeaseLost
        );
        assert_eq!(
            store
                .run_task_batch(step(resumed.lease_token))
                .await
                .unwrap(),
            ReplayProgress::Finished(1)
        );
        let task = store.get_background_task(&id).await.unwrap().unwrap();
        assert_eq!(task.status, BackgroundTaskStatus::Finished);
        assert_eq!((task.messages_sent, task.batches), (3, 2));
        assert_eq!(
            store
                .claim_due_deliveries(later, LEASE, budget(100))
                .await
                .unwrap()
                .len(),
            3
        );
        // Queued again, the pairs are pending now: nothing is left to recover.
        assert_eq!(store.count_replay(filter).await.unwrap(), 0);

        let listed = store
            .list_background_tasks(Some(BackgroundTaskStatus::Finished), None, page(10, None))
            .await
            .unwrap();
        assert_eq!(listed.items, vec![task.clone()]);
        let running = store
            .list_background_tasks(Some(BackgroundTaskStatus::Running), None, page(10, None))
            .await
            .unwrap();
        assert!(running.items.is_empty());

        // A failed task keeps its reason.
        let failing_id = BackgroundTaskId::generate(later, rand::random());
        store
            .create_background_task(NewBackgroundTask {
                id: failing_id.clone(),
                kind: BackgroundTaskKind::BulkReplay,
                filter: task.filter.clone(),
                app_ids: None,
                now: later,
            })
            .await
            .unwrap();
        let claim = store
            .claim_background_task(later, later + seconds(10))
            .await
            .unwrap()
            .unwrap();
        store
            .fail_background_task(&claim, "boom".to_owned(), later)
            .await
            .unwrap();
        let failed = store
            .get_background_task(&failing_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.status, BackgroundTaskStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("boom"));
    }
}

/// How a claim shares its limit when the dispatcher keeps a reserve for quick endpoints, in
/// their own module so that their list stays apart.
mod claim_shares_contract {
    use std::collections::HashSet;

    use super::*;

    contract!(the_reserve_reaches_a_quick_endpoint_due_behind_many_slow_ones);

    async fn the_reserve_reaches_a_quick_endpoint_due_behind_many_slow_ones(store: Arc<dyn Store>) {
        let now = t0();
        let app_id = new_app(&store, now).await;
        let mut slow = Vec::new();
        for _ in 0..40 {
            slow.push(new_endpoint(&store, &app_id, endpoint_fields(None), now).await);
        }
        // The slow endpoints' work is older, so a scan of the oldest due endpoints sees them
        // first: with a limit of 2 it reads 20 of them and stops.
        create(&store, new_message(&app_id, "invoice.paid", now)).await;
        let quick = new_endpoint(&store, &app_id, endpoint_fields(None), now + seconds(1)).await;
        create(
            &store,
            new_message(&app_id, "invoice.paid", now + seconds(1)),
        )
        .await;
        let reserved = |quick_endpoints: HashSet<EndpointId>| ClaimBudget {
            reserved_for_quick: 2,
            quick_endpoints: Arc::new(quick_endpoints),
            ..budget(2)
        };

        let nobody_quick = store
            .claim_due_deliveries(now + seconds(2), LEASE, reserved(HashSet::new()))
            .await
            .unwrap();
        assert!(nobody_quick.is_empty(), "only the reserve was free");

        let claimed = store
            .claim_due_deliveries(
                now + seconds(2),
                LEASE,
                reserved(HashSet::from([quick.clone()])),
            )
            .await
            .unwrap();
        let targets: Vec<&EndpointId> = claimed.iter().map(|claim| &claim.endpoint_id).collect();
        assert_eq!(
            targets,
            [&quick],
            "the quick endpoint, found behind 40 slow ones"
        );

        let unreserved = store
            .claim_due_deliveries(now + seconds(2), LEASE, budget(2))
            .await
            .unwrap();
        assert_eq!(unreserved.len(), 2);
        assert!(
            unreserved
                .iter()
                .all(|claim| slow.contains(&claim.endpoint_id)),
            "without a reserve, the oldest due endpoints go first"
        );
    }
}

mod batch_record_contract;
mod content_filter_contract;
mod endpoint_health_contract;
mod endpoint_reads_contract;
mod engine_rules_contract;
mod erasure_contract;
mod event_type_contract;
mod inbound_contract;
mod integration_contract;
mod lease_contract;
mod message_batch_contract;
mod outbox_contract;
mod polling_contract;
mod postgres_contention_contract;
mod queue_after_record_contract;
mod recover_contract;
mod token_contract;

/// Idempotency records expire: forgotten after the window, deleted in batches by the retention
/// sweep, and never holding content that was expunged or purged.
mod idempotency_contract {
    use super::*;
    use hookd::store::{CreatedMessageAnswer, IdempotentResponse, KeyClaim};

    contract!(
        idempotency_answers_are_forgotten_after_the_window,
        idempotency_records_are_purged_by_age_in_batches,
        expunged_and_purged_content_is_erased_from_idempotent_answers,
        an_answer_stored_after_its_content_was_expunged_holds_none,
    );

    const ABANDON: Duration = Duration::from_secs(300);
    const WINDOW: Duration = Duration::from_secs(12 * 3600);

    async fn claim(store: &Arc<dyn Store>, key: &str, at: Timestamp) -> KeyClaim {
        store
            .claim_idempotency_key(key, "digest", at, ABANDON, WINDOW)
            .await
            .unwrap()
    }

    fn answer(body: &str) -> IdempotentResponse {
        IdempotentResponse {
            request_digest: "digest".to_owned(),
            status: 202,
            body: body.as_bytes().to_vec(),
            holds_secrets: false,
        }
    }

    /// Claims `key` at `at` and stores `body` as its answer.
    async fn answered(
        store: &Arc<dyn Store>,
        key: &str,
        body: &str,
        created_message: Option<CreatedMessageAnswer>,
        at: Timestamp,
    ) {
        assert_eq!(claim(store, key, at).await, KeyClaim::Claimed);
        store
            .put_idempotent_response(key, answer(body), created_message, at)
            .await
            .unwrap();
    }

    async fn idempotency_answers_are_forgotten_after_the_window(store: Arc<dyn Store>) {
        let now = t0();
        answered(&store, "key", "first", None, now).await;
        let window = seconds(12 * 3600);
        assert_eq!(
            claim(&store, "key", now + window - seconds(1)).await,
            KeyClaim::Answered(answer("first"))
        );
        assert_eq!(
            claim(&store, "key", now + window).await,
            KeyClaim::Answered(answer("first")),
            "the window includes its last instant"
        );
        // Past the window the key runs as a new request, whose answer is then remembered.
        let later = now + window + seconds(1);
        answered(&store, "key", "second", None, later).await;
        assert_eq!(
            claim(&store, "key", later + seconds(60)).await,
            KeyClaim::Answered(answer("second"))
        );
    }

    async fn idempotency_records_are_purged_by_age_in_batches(store: Arc<dyn Store>) {
        let now = t0();
        for key in ["old-1", "old-2", "old-3"] {
            answered(&store, key, "old", None, now).await;
        }
        // A reservation whose request never answered is old too.
        assert_eq!(claim(&store, "old-reserved", now).await, KeyClaim::Claimed);
        let young_at = now + seconds(7200);
        answered(&store, "young", "young", None, young_at).await;

        let cutoff = now + seconds(3600);
        let mut batches = Vec::new();
        loop {
            let purged = store.purge_idempotency_before(cutoff, 3).await.unwrap();
            batches.push(purged);
            if purged < 3 {
                break;
            }
        }
        assert_eq!(batches, vec![3, 1]);
        assert_eq!(store.purge_idempotency_before(cutoff, 3).await.unwrap(), 0);

        // The purged keys are unknown now; the young one is still answered.
        assert_eq!(
            claim(&store, "young", young_at).await,
            KeyClaim::Answered(answer("young"))
        );
        assert_eq!(claim(&store, "old-1", young_at).await, KeyClaim::Claimed);
    }

    async fn expunged_and_purged_content_is_erased_from_idempotent_answers(store: Arc<dyn Store>) {
        let now = t0();
        let app_id = new_app(&store, now).await;
        let (expunged, _) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
        let (purged, _) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
        let recent_at = now + seconds(3600);
        let (recent, _) = create(&store, new_message(&app_id, "invoice.paid", recent_at)).await;
        let link = |msg_id: &MessageId| CreatedMessageAnswer {
            msg_id: msg_id.clone(),
            body_without_content: format!("{{\"id\":\"{msg_id}\",\"payload\":{{}}}}").into_bytes(),
        };
        let with_content =
            |msg_id: &MessageId| format!("{{\"id\":\"{msg_id}\",\"payload\":{{\"amount\":42}}}}");
        for (key, msg_id, at) in [
            ("expunged", &expunged, now),
            ("purged", &purged, now),
            ("recent", &recent, recent_at),
        ] {
            answered(&store, key, &with_content(msg_id), Some(link(msg_id)), at).await;
        }
        answered(&store, "unlinked", "{\"name\":\"app\"}", None, now).await;
        let stored_body = |key: &'static str| {
            let store = Arc::clone(&store);
            async move {
                match claim(&store, key, recent_at).await {
                    KeyClaim::Answered(answer) => String::from_utf8(answer.body).unwrap(),
                    other => panic!("{key}: expected an answer, got {other:?}"),
                }
            }
        };

        assert!(
            store
                .expunge_message_content(&app_id, &expunged)
                .await
                .unwrap()
        );
        assert_eq!(
            stored_body("expunged").await,
            format!("{{\"id\":\"{expunged}\",\"payload\":{{}}}}")
        );
        assert_eq!(stored_body("purged").await, with_content(&purged));

        // The retention purge of payloads erases them from the answers in the same way, and
        // only for the messages it purged.
        let purged_count = store
            .purge_payloads_before(now + seconds(60), 10)
            .await
            .unwrap();
        assert_eq!(purged_count, 1, "the expunged message has no payload left");
        assert_eq!(
            stored_body("purged").await,
            format!("{{\"id\":\"{purged}\",\"payload\":{{}}}}")
        );
        assert_eq!(stored_body("recent").await, with_content(&recent));
        assert_eq!(stored_body("unlinked").await, "{\"name\":\"app\"}");
        // A second expunge finds the message and leaves the answer as it is.
        assert!(
            store
                .expunge_message_content(&app_id, &expunged)
                .await
                .unwrap()
        );
        assert_eq!(
            stored_body("expunged").await,
            format!("{{\"id\":\"{expunged}\",\"payload\":{{}}}}")
        );
    }

    /// The message commits before its answer is stored, and a listing shows its id meanwhile:
    /// an expunge in between must not leave the content in the answer stored after it.
    async fn an_answer_stored_after_its_content_was_expunged_holds_none(store: Arc<dyn Store>) {
        let now = t0();
        let app_id = new_app(&store, now).await;
        let (msg_id, _) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
        assert_eq!(claim(&store, "early-expunge", now).await, KeyClaim::Claimed);
        assert!(
            store
                .expunge_message_content(&app_id, &msg_id)
                .await
                .unwrap()
        );
        let without_content = format!("{{\"id\":\"{msg_id}\",\"payload\":{{}}}}");
        let created = CreatedMessageAnswer {
            msg_id: msg_id.clone(),
            body_without_content: without_content.clone().into_bytes(),
        };
        store
            .put_idempotent_response(
                "early-expunge",
                answer(&format!(
                    "{{\"id\":\"{msg_id}\",\"payload\":{{\"amount\":42}}}}"
                )),
                Some(created),
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            claim(&store, "early-expunge", now).await,
            KeyClaim::Answered(answer(&without_content))
        );
    }
}
