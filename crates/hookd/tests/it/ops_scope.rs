//! Who may do what, checked through the operations layer (`hookd::ops`) itself, not over HTTP:
//! no token kind issues an application-scoped principal yet, but every operation must already
//! keep one inside its own application and away from what is environment-wide.
//!
//! Each case names one operation called as `Principal::App(a)` on something it may not touch:
//! every one must fail with `Forbidden`, and what it aimed at must be unchanged afterwards.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use hookd::clock::{Clock, SystemClock};
use hookd::domain::operational;
use hookd::domain::{
    Application, ApplicationFields, DeliveryOptions, Endpoint, EndpointFields, EndpointUrl,
    EventTypeFields, EventTypeName, Message, MessagePayload, ReplaySelection, Uid,
};
use hookd::engine::client::SystemResolver;
use hookd::ops::replay::{BulkReplay, ReplayWindow};
use hookd::ops::{
    self, AppRef, OpError, Ops, Principal, Upserted, applications, attempts, background_tasks,
    delivery_logs, endpoint_secrets, endpoints, event_types, messages,
};
use hookd::policy::ssrf::TargetPolicy;
use hookd::store::sqlite::SqliteStore;
use hookd::store::{EndpointChange, EventTypeChange, MessageFilter, Order, PageRequest, Store};
use tokio::sync::Notify;

/// Two applications with an endpoint and a message each, and an event type.
struct World {
    ops: Ops,
    a: Application,
    b: Application,
    b_endpoint: Endpoint,
    b_message: Message,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    applications::ensure_operational_application(store.as_ref(), clock.now())
        .await
        .unwrap();
    let ops = Ops {
        store,
        clock,
        // Private targets allowed: no case here needs DNS.
        target_policy: TargetPolicy {
            allow_private: true,
            https_only: false,
        },
        resolver: Arc::new(SystemResolver),
        wake_background: Arc::new(Notify::new()),
        payload_retention: std::time::Duration::from_secs(3600),
        message_feed: Default::default(),
        instruments: Default::default(),
        readiness: hookd::ops::readiness::ReadinessProbe {
            engine_heartbeat: Default::default(),
            engine_stall_after: std::time::Duration::from_secs(30),
        },
        rejected_log: Default::default(),
        compiled_schemas: Default::default(),
    };
    let admin = Principal::Admin;
    let mut made = Vec::new();
    for uid in ["shop-a", "shop-b"] {
        let app = match applications::create(&ops, &admin, app_fields(uid), false)
            .await
            .unwrap()
        {
            Upserted::Created(app) => app,
            Upserted::Existing(_) => unreachable!("a fresh store has no {uid}"),
        };
        let endpoint = endpoints::create(&ops, &admin, AppRef::Named(uid), endpoint_fields(), None)
            .await
            .unwrap();
        let message = messages::accept(&ops, &admin, uid, message("invoice.paid"))
            .await
            .unwrap();
        made.push((app, endpoint, message));
    }
    event_types::create(
        &ops,
        &admin,
        event_type("invoice.paid"),
        event_type_fields(),
    )
    .await
    .unwrap();
    let (b, b_endpoint, b_message) = made.pop().unwrap();
    let (a, _, _) = made.pop().unwrap();
    World {
        ops,
        a,
        b,
        b_endpoint,
        b_message,
        _dir: dir,
    }
}

type Case<'a> = (&'static str, BoxFuture<'a, Result<(), OpError>>);

/// Every operation an application-scoped principal must not run: on the other application,
/// or environment-wide.
fn forbidden_cases<'a>(world: &'a World, principal: &'a Principal) -> Vec<Case<'a>> {
    let ops = &world.ops;
    let b = world.b.uid.as_ref().unwrap().as_str();
    let b_id = world.b.id.as_str();
    let a = world.a.uid.as_ref().unwrap().as_str();
    let endpoint = world.b_endpoint.id.as_str();
    let msg = world.b_message.id.as_str();
    let page = || PageRequest {
        limit: 10,
        iterator: None,
        order: Order::Ascending,
    };
    let window = ReplayWindow {
        since: world.b_message.created_at - chrono::Duration::hours(1),
        until: None,
    };
    let keep_endpoint = || -> EndpointChange { Box::new(|current| Ok(current.fields.clone())) };
    let keep_event_type = || -> EventTypeChange { Box::new(|current| Ok(current.fields.clone())) };
    vec![
        // The other application, by uid and by id, and one that does not exist.
        (
            "get other app",
            Box::pin(async move { applications::get(ops, principal, b).await.map(drop) }),
        ),
        (
            "get other app by id",
            Box::pin(async move { applications::get(ops, principal, b_id).await.map(drop) }),
        ),
        (
            "get missing app",
            Box::pin(async move { applications::get(ops, principal, "nope").await.map(drop) }),
        ),
        // Applications themselves are the admin's, also its own.
        (
            "list apps",
            Box::pin(async move {
                applications::list(ops, principal, page(), false)
                    .await
                    .map(drop)
            }),
        ),
        (
            "create app",
            Box::pin(async move {
                applications::create(ops, principal, app_fields("shop-c"), false)
                    .await
                    .map(drop)
            }),
        ),
        (
            "upsert own app",
            Box::pin(async move {
                applications::upsert(ops, principal, a, app_fields("shop-a"))
                    .await
                    .map(drop)
            }),
        ),
        (
            "modify own app",
            Box::pin(async move {
                let change = Box::new(|current: &Application| {
                    Ok(ApplicationFields {
                        name: "renamed".to_owned(),
                        ..app_fields(current.uid.as_ref().unwrap().as_str())
                    })
                });
                applications::modify(ops, principal, a, change)
                    .await
                    .map(drop)
            }),
        ),
        (
            "delete own app",
            Box::pin(async move { applications::delete(ops, principal, a).await }),
        ),
        (
            "delete other app",
            Box::pin(async move { applications::delete(ops, principal, b).await }),
        ),
        // The other application's endpoints.
        (
            "list endpoints",
            Box::pin(async move {
                endpoints::list(ops, principal, AppRef::Named(b), page())
                    .await
                    .map(drop)
            }),
        ),
        (
            "get endpoint",
            Box::pin(async move {
                endpoints::get(ops, principal, AppRef::Named(b), endpoint)
                    .await
                    .map(drop)
            }),
        ),
        (
            "create endpoint",
            Box::pin(async move {
                endpoints::create(ops, principal, AppRef::Named(b), endpoint_fields(), None)
                    .await
                    .map(drop)
            }),
        ),
        (
            "upsert endpoint",
            Box::pin(async move {
                endpoints::upsert(
                    ops,
                    principal,
                    AppRef::Named(b),
                    endpoint,
                    endpoint_fields(),
                    None,
                    keep_endpoint,
                )
                .await
                .map(drop)
            }),
        ),
        (
            "modify endpoint",
            Box::pin(async move {
                endpoints::modify(
                    ops,
                    principal,
                    AppRef::Named(b),
                    endpoint,
                    None,
                    keep_endpoint(),
                )
                .await
                .map(drop)
            }),
        ),
        (
            "delete endpoint",
            Box::pin(
                async move { endpoints::delete(ops, principal, AppRef::Named(b), endpoint).await },
            ),
        ),
        (
            "read secret",
            Box::pin(async move {
                endpoint_secrets::current(ops, principal, AppRef::Named(b), endpoint)
                    .await
                    .map(drop)
            }),
        ),
        (
            "rotate secret",
            Box::pin(async move {
                endpoint_secrets::rotate(
                    ops,
                    principal,
                    AppRef::Named(b),
                    endpoint,
                    None,
                    chrono::Duration::zero(),
                )
                .await
                .map(drop)
            }),
        ),
        // The other application's messages and their logs.
        (
            "accept message",
            Box::pin(async move {
                messages::accept(ops, principal, b, message("invoice.paid"))
                    .await
                    .map(drop)
            }),
        ),
        (
            "accept message creating an app",
            Box::pin(async move {
                let mut inline = message("invoice.paid");
                inline.application = Some(app_fields("shop-new"));
                messages::accept(ops, principal, "shop-new", inline)
                    .await
                    .map(drop)
            }),
        ),
        (
            "list messages",
            Box::pin(async move {
                messages::list(ops, principal, b, MessageFilter::default(), page(), true)
                    .await
                    .map(drop)
            }),
        ),
        (
            "precheck a message",
            Box::pin(async move {
                let event_type = hookd::domain::EventTypeName::parse("invoice.paid").unwrap();
                messages::precheck(ops, principal, b, &event_type, &[])
                    .await
                    .map(drop)
            }),
        ),
        (
            "get message",
            Box::pin(async move { messages::get(ops, principal, b, msg).await.map(drop) }),
        ),
        (
            "list attempts by message",
            Box::pin(async move {
                attempts::list_by_message(ops, principal, b, msg, Default::default(), page())
                    .await
                    .map(drop)
            }),
        ),
        (
            "list attempts by endpoint",
            Box::pin(async move {
                attempts::list_by_endpoint(
                    ops,
                    principal,
                    b,
                    endpoint,
                    Default::default(),
                    page(),
                    true,
                )
                .await
                .map(drop)
            }),
        ),
        (
            "resend",
            Box::pin(async move {
                attempts::resend(ops, principal, b, msg, endpoint)
                    .await
                    .map(drop)
            }),
        ),
        (
            "replay message",
            Box::pin(async move {
                ops::replay::replay_message(ops, principal, b, msg)
                    .await
                    .map(drop)
            }),
        ),
        (
            "recover",
            Box::pin(async move {
                ops::replay::recover(ops, principal, b, endpoint, window)
                    .await
                    .map(drop)
            }),
        ),
        (
            "replay missing",
            Box::pin(async move {
                ops::replay::replay_missing(ops, principal, b, endpoint, window)
                    .await
                    .map(drop)
            }),
        ),
        (
            "bulk replay",
            Box::pin(async move {
                ops::replay::bulk(ops, principal, b, bulk(window))
                    .await
                    .map(drop)
            }),
        ),
        (
            "bulk replay dry run",
            Box::pin(async move {
                ops::replay::bulk_dry_run(ops, principal, b, bulk(window))
                    .await
                    .map(drop)
            }),
        ),
        (
            "expunge content",
            Box::pin(async move { delivery_logs::expunge_content(ops, principal, b, msg).await }),
        ),
        (
            "list destinations",
            Box::pin(async move {
                delivery_logs::list_destinations(ops, principal, b, msg, page())
                    .await
                    .map(drop)
            }),
        ),
        (
            "get attempt",
            Box::pin(async move {
                delivery_logs::get_attempt(ops, principal, b, msg, "atmpt_x")
                    .await
                    .map(drop)
            }),
        ),
        (
            "list dead letters",
            Box::pin(async move {
                delivery_logs::list_dead_letters(
                    ops,
                    principal,
                    b,
                    None,
                    Default::default(),
                    page(),
                )
                .await
                .map(drop)
            }),
        ),
        (
            "count dead letters",
            Box::pin(async move {
                delivery_logs::count_dead_letters(ops, principal, b)
                    .await
                    .map(drop)
            }),
        ),
        (
            "endpoint counts",
            Box::pin(async move {
                delivery_logs::endpoint_counts(ops, principal, b, endpoint, None, None)
                    .await
                    .map(drop)
            }),
        ),
        (
            "endpoint attempt counts",
            Box::pin(async move {
                let window = hookd::domain::HourWindow {
                    start: None,
                    end: None,
                };
                delivery_logs::endpoint_attempt_counts(ops, principal, b, endpoint, window)
                    .await
                    .map(drop)
            }),
        ),
        (
            "list endpoint messages",
            Box::pin(async move {
                delivery_logs::list_endpoint_messages(
                    ops,
                    principal,
                    b,
                    endpoint,
                    Default::default(),
                    page(),
                    true,
                )
                .await
                .map(drop)
            }),
        ),
        (
            "endpoint samples",
            Box::pin(async move {
                delivery_logs::endpoint_samples(
                    ops,
                    principal,
                    b,
                    endpoint,
                    chrono::Duration::hours(1),
                )
                .await
                .map(drop)
            }),
        ),
        // Environment-wide: event types, operational webhooks, every background task.
        (
            "create event type",
            Box::pin(async move {
                event_types::create(
                    ops,
                    principal,
                    event_type("order.sent"),
                    event_type_fields(),
                )
                .await
                .map(drop)
            }),
        ),
        (
            "upsert event type",
            Box::pin(async move {
                event_types::upsert(
                    ops,
                    principal,
                    event_type("invoice.paid"),
                    event_type_fields(),
                    None,
                )
                .await
                .map(drop)
            }),
        ),
        (
            "modify event type",
            Box::pin(async move {
                event_types::modify(ops, principal, "invoice.paid", keep_event_type())
                    .await
                    .map(drop)
            }),
        ),
        (
            "archive event type",
            Box::pin(
                async move { event_types::delete(ops, principal, "invoice.paid", false).await },
            ),
        ),
        (
            "expunge event type",
            Box::pin(
                async move { event_types::delete(ops, principal, "invoice.paid", true).await },
            ),
        ),
        (
            "list operational endpoints",
            Box::pin(async move {
                endpoints::list(ops, principal, AppRef::Operational, page())
                    .await
                    .map(drop)
            }),
        ),
        (
            "create operational endpoint",
            Box::pin(async move {
                endpoints::create(ops, principal, AppRef::Operational, endpoint_fields(), None)
                    .await
                    .map(drop)
            }),
        ),
        (
            "list background tasks",
            Box::pin(async move {
                background_tasks::list(ops, principal, None, None, page())
                    .await
                    .map(drop)
            }),
        ),
        (
            "bulk expunge",
            Box::pin(async move {
                ops::erasure::bulk_expunge(ops, principal, b, vec![msg.to_owned()])
                    .await
                    .map(drop)
            }),
        ),
        (
            "expunge all contents",
            Box::pin(async move { ops::erasure::expunge_all(ops, principal, b).await.map(drop) }),
        ),
        (
            "expunge attempt content",
            Box::pin(async move {
                ops::erasure::expunge_attempt(ops, principal, b, msg, "atmpt_x").await
            }),
        ),
        (
            "aggregate app stats",
            Box::pin(async move {
                ops::usage_stats::aggregate_app_stats(ops, principal, window, None)
                    .await
                    .map(drop)
            }),
        ),
        (
            "aggregate app stats of its own application",
            Box::pin(async move {
                ops::usage_stats::aggregate_app_stats(
                    ops,
                    principal,
                    window,
                    Some(vec![a.to_owned()]),
                )
                .await
                .map(drop)
            }),
        ),
        (
            "aggregate event types",
            Box::pin(async move {
                ops::usage_stats::aggregate_event_types(ops, principal)
                    .await
                    .map(drop)
            }),
        ),
    ]
}

#[tokio::test]
async fn an_application_principal_cannot_reach_other_applications_or_admin_operations() {
    let world = world().await;
    let principal = Principal::app(world.a.id.clone());
    let before = snapshot(&world).await;
    let mut allowed = Vec::new();
    for (name, outcome) in forbidden_cases(&world, &principal) {
        match outcome.await {
            Err(OpError::Forbidden(_)) => {}
            other => allowed.push(format!("{name}: {other:?}")),
        }
    }
    assert!(
        allowed.is_empty(),
        "not refused with Forbidden: {allowed:#?}"
    );
    assert_eq!(
        snapshot(&world).await,
        before,
        "a refused operation changed something"
    );
}

#[tokio::test]
async fn an_application_principal_works_in_its_own_application() {
    let world = world().await;
    let principal = Principal::app(world.a.id.clone());
    let ops = &world.ops;
    let own = world.a.uid.as_ref().unwrap().as_str();
    let app = applications::get(ops, &principal, world.a.id.as_str())
        .await
        .unwrap();
    assert_eq!(app.id, world.a.id);
    let endpoint = endpoints::create(ops, &principal, AppRef::Named(own), endpoint_fields(), None)
        .await
        .unwrap();
    let message = messages::accept(ops, &principal, own, message("invoice.paid"))
        .await
        .unwrap();
    assert_eq!(message.app_id, world.a.id);
    attempts::resend(
        ops,
        &principal,
        own,
        message.id.as_str(),
        endpoint.id.as_str(),
    )
    .await
    .unwrap();
    let task = ops::replay::recover(
        ops,
        &principal,
        own,
        endpoint.id.as_str(),
        ReplayWindow {
            since: message.created_at,
            until: None,
        },
    )
    .await
    .unwrap();
    // Its own task it may read; the catalogue of event types it may read but not change.
    background_tasks::get(ops, &principal, task.id.as_str())
        .await
        .unwrap();
    event_types::get(ops, &principal, "invoice.paid")
        .await
        .unwrap();
    endpoints::delete(ops, &principal, AppRef::Named(own), endpoint.id.as_str())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_background_task_of_another_application_is_forbidden() {
    let world = world().await;
    let ops = &world.ops;
    let b = world.b.uid.as_ref().unwrap().as_str();
    let task = ops::replay::recover(
        ops,
        &Principal::Admin,
        b,
        world.b_endpoint.id.as_str(),
        ReplayWindow {
            since: world.b_message.created_at,
            until: None,
        },
    )
    .await
    .unwrap();
    let principal = Principal::app(world.a.id.clone());
    let outcome = background_tasks::get(ops, &principal, task.id.as_str()).await;
    assert!(matches!(outcome, Err(OpError::Forbidden(_))), "{outcome:?}");
    background_tasks::get(ops, &Principal::Admin, task.id.as_str())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_operational_application_is_reached_only_as_operational() {
    let world = world().await;
    let ops = &world.ops;
    let admin = Principal::Admin;
    let hidden = applications::get(ops, &admin, operational::OPERATIONAL_APP_ID).await;
    assert!(matches!(hidden, Err(OpError::NotFound(_))), "{hidden:?}");
    let named = endpoints::list(
        ops,
        &admin,
        AppRef::Named(operational::OPERATIONAL_APP_ID),
        page(),
    )
    .await;
    assert!(matches!(named, Err(OpError::NotFound(_))), "{named:?}");
    let created = endpoints::create(ops, &admin, AppRef::Operational, endpoint_fields(), None)
        .await
        .unwrap();
    let listed = endpoints::list(ops, &admin, AppRef::Operational, page())
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&created.id]
    );
}

/// What the forbidden cases aim at, to show they changed nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    apps: Vec<Application>,
    b_endpoints: Vec<Endpoint>,
    b_messages: usize,
    b_secret: String,
    event_types: Vec<hookd::domain::EventType>,
    operational_endpoints: usize,
    tasks: usize,
}

async fn snapshot(world: &World) -> Snapshot {
    let ops = &world.ops;
    let admin = Principal::Admin;
    let b = world.b.uid.as_ref().unwrap().as_str();
    Snapshot {
        apps: applications::list(ops, &admin, page(), false)
            .await
            .unwrap()
            .items,
        b_endpoints: endpoints::list(ops, &admin, AppRef::Named(b), page())
            .await
            .unwrap()
            .items,
        b_messages: messages::list(ops, &admin, b, MessageFilter::default(), page(), true)
            .await
            .unwrap()
            .items
            .len(),
        b_secret: endpoint_secrets::current(
            ops,
            &admin,
            AppRef::Named(b),
            world.b_endpoint.id.as_str(),
        )
        .await
        .unwrap()
        .to_string(),
        event_types: event_types::list(ops, &admin, page(), true)
            .await
            .unwrap()
            .items,
        operational_endpoints: endpoints::list(ops, &admin, AppRef::Operational, page())
            .await
            .unwrap()
            .items
            .len(),
        tasks: background_tasks::list(ops, &admin, None, None, page())
            .await
            .unwrap()
            .items
            .len(),
    }
}

fn page() -> PageRequest {
    PageRequest {
        limit: 50,
        iterator: None,
        order: Order::Ascending,
    }
}

fn bulk(window: ReplayWindow) -> BulkReplay {
    BulkReplay {
        endpoint: None,
        event_types: None,
        selection: ReplaySelection::AnyFinished,
        window,
    }
}

fn app_fields(uid: &str) -> ApplicationFields {
    ApplicationFields {
        name: format!("Shop {uid}"),
        uid: Some(Uid::parse(uid).unwrap()),
        throttle_rate: None,
        metadata: BTreeMap::new(),
    }
}

fn endpoint_fields() -> EndpointFields {
    EndpointFields {
        uid: None,
        url: EndpointUrl::parse("http://127.0.0.1:9/hook").unwrap(),
        description: String::new(),
        version: 1,
        disabled: false,
        event_types: None,
        channels: None,
        filter: None,
        throttle_rate: None,
        metadata: BTreeMap::new(),
        headers: BTreeMap::new(),
        delivery: DeliveryOptions::default(),
    }
}

fn message(event: &str) -> messages::AcceptMessage {
    messages::AcceptMessage {
        event_type: event_type(event),
        payload: MessagePayload::parse(r#"{"amount":5}"#).unwrap(),
        event_id: None,
        channels: Vec::new(),
        tags: Vec::new(),
        deliver_at: None,
        application: None,
    }
}

fn event_type(name: &str) -> EventTypeName {
    EventTypeName::parse(name).unwrap()
}

fn event_type_fields() -> EventTypeFields {
    EventTypeFields {
        description: "an invoice was paid".to_owned(),
        deprecated: false,
        archived: false,
        schemas: None,
        feature_flag: None,
        group_name: None,
        enforce_schema: false,
    }
}

/// Inbound sources are environment-wide: an application principal may not create, see,
/// change or delete one, nor reach a source's ingest endpoints or its received requests; and
/// a source's internal application does not exist under its name, even for the admin.
#[tokio::test]
async fn inbound_sources_are_admin_only_and_their_application_is_hidden() {
    use hookd::domain::inbound::{SourceConfig, SourceFields, SourceType};
    use hookd::ops::inbound;
    let world = world().await;
    let ops = &world.ops;
    let admin = Principal::Admin;
    let source_type = SourceType::parse("github").unwrap();
    let fields = SourceFields {
        uid: None,
        name: "GitHub".into(),
        source_type,
        config: SourceConfig::parse(
            source_type,
            serde_json::json!({"secret": "s"}).as_object().unwrap(),
        )
        .unwrap(),
        metadata: BTreeMap::new(),
    };
    let source = inbound::create_source(ops, &admin, fields.clone())
        .await
        .unwrap();
    let id = source.id.as_str();
    let principal = Principal::app(world.a.id.clone());
    let principal = &principal;
    let cases: Vec<Case> = vec![
        (
            "create_source",
            Box::pin(async {
                inbound::create_source(ops, principal, fields)
                    .await
                    .map(drop)
            }),
        ),
        (
            "list_sources",
            Box::pin(async {
                inbound::list_sources(ops, principal, page())
                    .await
                    .map(drop)
            }),
        ),
        (
            "get_source",
            Box::pin(async { inbound::get_source(ops, principal, id).await.map(drop) }),
        ),
        (
            "delete_source",
            Box::pin(async { inbound::delete_source(ops, principal, id).await.map(drop) }),
        ),
        (
            "rotate_source_token",
            Box::pin(async {
                inbound::rotate_source_token(ops, principal, id)
                    .await
                    .map(drop)
            }),
        ),
        (
            "list_requests",
            Box::pin(async {
                inbound::list_requests(ops, principal, id, page())
                    .await
                    .map(drop)
            }),
        ),
        (
            "ingest endpoints",
            Box::pin(async {
                endpoints::list(ops, principal, AppRef::Source(id), page())
                    .await
                    .map(drop)
            }),
        ),
    ];
    for (name, outcome) in cases {
        let outcome = outcome.await;
        assert!(
            matches!(outcome, Err(OpError::Forbidden(_))),
            "{name}: {outcome:?}"
        );
    }
    let unchanged = inbound::get_source(ops, &admin, id).await.unwrap();
    assert_eq!(unchanged, source);
    let named = endpoints::list(ops, &admin, AppRef::Named(source.app_id().as_str()), page()).await;
    assert!(matches!(named, Err(OpError::NotFound(_))), "{named:?}");
    assert!(
        endpoints::list(ops, &admin, AppRef::Source(id), page())
            .await
            .is_ok()
    );
}
