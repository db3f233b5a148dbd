//! `modify_event_type`: a change computed from the event type as it is inside the write, so
//! concurrent changes of different fields all keep theirs; a missing type and a refused change
//! write nothing.

use super::*;
use std::collections::BTreeSet;

use hookd::domain::EventType;
use hookd::store::{ChangeRefused, EventTypeChange};

contract!(
    event_type_changes_read_and_write_in_one_step,
    concurrent_event_type_changes_keep_every_field,
    enforced_schema_flag_and_revision,
    feature_flags_bound_what_a_listing_shows,
);

fn fields(description: &str) -> EventTypeFields {
    EventTypeFields {
        description: description.to_owned(),
        deprecated: false,
        archived: false,
        schemas: None,
        feature_flag: None,
        group_name: None,
        enforce_schema: false,
    }
}

fn set_description(description: &str) -> EventTypeChange {
    let description = description.to_owned();
    Box::new(move |current: &EventType| {
        Ok(EventTypeFields {
            description,
            ..current.fields.clone()
        })
    })
}

fn set_group(group: &str) -> EventTypeChange {
    let group = group.to_owned();
    Box::new(move |current: &EventType| {
        Ok(EventTypeFields {
            group_name: Some(group),
            ..current.fields.clone()
        })
    })
}

async fn event_type_changes_read_and_write_in_one_step(store: Arc<dyn Store>) {
    let now = t0();
    let name = event("invoice.paid");
    store
        .create_event_type(name.clone(), fields("paid"), now)
        .await
        .unwrap();

    let grouped = saved(
        store
            .modify_event_type(&name, set_group("billing"), now + seconds(2))
            .await,
    );
    assert_eq!(grouped.fields.group_name.as_deref(), Some("billing"));
    assert_eq!(
        grouped.fields.description, "paid",
        "the change saw the current fields"
    );
    assert_eq!(grouped.updated_at, now + seconds(2));

    let refusing: EventTypeChange = Box::new(|_| Err(ChangeRefused("no".into())));
    let refused = store
        .modify_event_type(&name, refusing, now + seconds(3))
        .await;
    assert!(matches!(refused, Ok(Modified::Refused(_))), "{refused:?}");
    let kept = store.get_event_type(&name).await.unwrap().unwrap();
    assert_eq!(kept, grouped, "a refused change writes nothing");

    let missing = store
        .modify_event_type(&event("invoice.voided"), set_group("x"), now)
        .await;
    assert!(matches!(missing, Ok(Modified::Missing)), "{missing:?}");
    assert!(
        store
            .get_event_type(&event("invoice.voided"))
            .await
            .unwrap()
            .is_none()
    );
}

/// Two changes of different fields at once, over several rounds (one round may happen to run
/// them one after the other): each change must see the other's result.
async fn concurrent_event_type_changes_keep_every_field(store: Arc<dyn Store>) {
    let now = t0();
    let name = event("invoice.paid");
    store
        .create_event_type(name.clone(), fields("paid"), now)
        .await
        .unwrap();
    for round in 0..20 {
        let description = format!("round {round}");
        let group = format!("group-{round}");
        let (described, grouped) = tokio::join!(
            store.modify_event_type(&name, set_description(&description), now),
            store.modify_event_type(&name, set_group(&group), now),
        );
        saved(described);
        saved(grouped);
        let current = store.get_event_type(&name).await.unwrap().unwrap();
        assert_eq!(current.fields.description, description, "round {round}");
        assert_eq!(
            current.fields.group_name.as_deref(),
            Some(group.as_str()),
            "round {round}"
        );
    }
}

/// `enforce_schema` is stored and read back by every read; `enforced_schema_revision` names
/// only a live enforcing type, and every write (and a delete followed by a create) gives the
/// type a new revision, which is what a node's compiled-schema cache is keyed by.
async fn enforced_schema_flag_and_revision(store: Arc<dyn Store>) {
    let now = t0();
    let name = event("order.placed");
    assert_eq!(store.enforced_schema_revision(&name).await.unwrap(), None);
    let plain = store
        .create_event_type(name.clone(), fields("placed"), now)
        .await
        .unwrap();
    assert!(!plain.fields.enforce_schema);
    assert_eq!(store.enforced_schema_revision(&name).await.unwrap(), None);

    let enforcing = EventTypeFields {
        enforce_schema: true,
        schemas: Some(serde_json::json!({"1": {"type": "object"}})),
        ..fields("placed")
    };
    let updated = store
        .update_event_type(&name, enforcing.clone(), now)
        .await
        .unwrap()
        .unwrap();
    assert!(updated.fields.enforce_schema);
    assert_ne!(updated.revision, plain.revision);
    let read = store.get_event_type(&name).await.unwrap().unwrap();
    assert_eq!(read.fields, enforcing);
    assert_eq!(read.revision, updated.revision);
    let listed = store
        .list_event_types(page(10, None), false, None)
        .await
        .unwrap();
    assert!(listed.items[0].fields.enforce_schema);
    assert_eq!(
        store.enforced_schema_revision(&name).await.unwrap(),
        Some(updated.revision)
    );

    // The same fields written again, at the same instant, are still a new revision.
    let rewritten = saved(
        store
            .modify_event_type(&name, set_description("placed"), now)
            .await,
    );
    assert_ne!(rewritten.revision, updated.revision);
    assert_eq!(
        store.enforced_schema_revision(&name).await.unwrap(),
        Some(rewritten.revision)
    );

    // An archived type enforces nothing.
    let archived = EventTypeFields {
        archived: true,
        ..enforcing.clone()
    };
    store
        .update_event_type(&name, archived, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.enforced_schema_revision(&name).await.unwrap(), None);

    assert!(store.delete_event_type(&name).await.unwrap());
    let recreated = store
        .create_event_type(name.clone(), enforcing, now)
        .await
        .unwrap();
    assert!(![plain.revision, updated.revision, rewritten.revision].contains(&recreated.revision));
    assert_eq!(
        store.enforced_schema_revision(&name).await.unwrap(),
        Some(recreated.revision)
    );
}

/// `visible_flags` keeps the unflagged types and those whose flag is given, pages and all;
/// `flagged_event_types` names every flagged one.
async fn feature_flags_bound_what_a_listing_shows(store: Arc<dyn Store>) {
    let now = t0();
    for (name, flag) in [
        ("flags.a", None),
        ("flags.b", Some("beta")),
        ("flags.c", Some("gamma")),
        ("flags.d", None),
        ("flags.e", Some("beta")),
    ] {
        let fields = EventTypeFields {
            feature_flag: flag.map(str::to_owned),
            ..fields("flagged")
        };
        store
            .create_event_type(EventTypeName::parse(name).unwrap(), fields, now)
            .await
            .unwrap();
    }
    let names = |page: &Page<EventType>| {
        page.items
            .iter()
            .map(|event_type| event_type.name.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let listed = |flags: Option<BTreeSet<String>>, limit, iterator| {
        let store = store.clone();
        async move {
            store
                .list_event_types(page(limit, iterator), false, flags.as_ref())
                .await
                .unwrap()
        }
    };
    let all = listed(None, 10, None).await;
    assert_eq!(names(&all).len(), 5);
    let none = listed(Some(BTreeSet::new()), 10, None).await;
    assert_eq!(names(&none), ["flags.a", "flags.d"]);
    let beta: BTreeSet<String> = ["beta".to_owned()].into();
    let first = listed(Some(beta.clone()), 2, None).await;
    assert_eq!(names(&first), ["flags.a", "flags.b"]);
    let rest = listed(Some(beta.clone()), 2, first.iterator.clone()).await;
    assert_eq!(names(&rest), ["flags.d", "flags.e"]);
    let both: BTreeSet<String> = ["beta".to_owned(), "gamma".to_owned()].into();
    assert_eq!(names(&listed(Some(both), 10, None).await).len(), 5);
    let mut flagged = store.flagged_event_types().await.unwrap();
    flagged.sort();
    let flagged: Vec<(&str, &str)> = flagged
        .iter()
        .map(|(name, flag)| (name.as_str(), flag.as_str()))
        .collect();
    assert_eq!(
        flagged,
        [
            ("flags.b", "beta"),
            ("flags.c", "gamma"),
            ("flags.e", "beta")
        ]
    );
}
