//! `IntegrationStore`: integrations are kept per application with their flags, found by
//! their current key's hash only (a replaced key finds nothing at once), updated and deleted
//! one at a time, paged by id, and go with their application.

use super::*;
use hookd::domain::IntegrationId;
use hookd::domain::integrations::{FeatureFlags, Integration, IntegrationFields};
use hookd::domain::tokens::token_sha256;

contract!(
    integrations_are_found_by_their_current_key_only,
    integrations_are_updated_and_deleted_within_their_application,
    deleting_the_application_removes_its_integrations,
    integration_lists_are_paged_by_id,
    an_integration_of_a_missing_application_is_not_found,
);

fn fields(name: &str, flags: &[&str]) -> IntegrationFields {
    IntegrationFields::new(
        name.to_owned(),
        FeatureFlags::parse(flags.iter().map(|flag| (*flag).to_owned()).collect()).unwrap(),
    )
    .unwrap()
}

async fn create(store: &Arc<dyn Store>, app_id: &AppId, name: &str, key: &str) -> Integration {
    let integration = Integration {
        id: IntegrationId::generate(t0(), rand::random()),
        app_id: app_id.clone(),
        fields: fields(name, &["beta", "alpha"]),
        created_at: t0(),
        updated_at: t0(),
    };
    store
        .create_integration(&integration, token_sha256(key))
        .await
        .unwrap();
    integration
}

async fn integrations_are_found_by_their_current_key_only(store: Arc<dyn Store>) {
    let app_id = new_app(&store, t0()).await;
    let other_app = new_app(&store, t0()).await;
    let first = create(&store, &app_id, "first", "integsk_one").await;
    let found = store
        .find_integration_by_key(token_sha256("integsk_one"))
        .await
        .unwrap();
    assert_eq!(found, Some(first.clone()));
    assert_eq!(
        found.unwrap().fields.feature_flags.to_vec(),
        vec!["alpha", "beta"]
    );
    assert_eq!(
        store
            .find_integration_by_key(token_sha256("integsk_none"))
            .await
            .unwrap(),
        None
    );
    assert!(
        !store
            .replace_integration_key(&other_app, &first.id, token_sha256("integsk_x"))
            .await
            .unwrap(),
        "not that application's integration"
    );
    assert!(
        store
            .replace_integration_key(&app_id, &first.id, token_sha256("integsk_two"))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .find_integration_by_key(token_sha256("integsk_one"))
            .await
            .unwrap(),
        None,
        "the replaced key finds nothing"
    );
    assert_eq!(
        store
            .find_integration_by_key(token_sha256("integsk_two"))
            .await
            .unwrap(),
        Some(first)
    );
}

async fn integrations_are_updated_and_deleted_within_their_application(store: Arc<dyn Store>) {
    let app_id = new_app(&store, t0()).await;
    let other_app = new_app(&store, t0()).await;
    let integration = create(&store, &app_id, "before", "integsk_a").await;
    let later = t0() + seconds(5);
    let changed = fields("after", &[]);
    assert_eq!(
        store
            .update_integration(&other_app, &integration.id, &changed, later)
            .await
            .unwrap(),
        None
    );
    let updated = store
        .update_integration(&app_id, &integration.id, &changed, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.fields, changed);
    assert_eq!(updated.created_at, t0());
    assert_eq!(updated.updated_at, later);
    assert_eq!(
        store
            .get_integration(&app_id, &integration.id)
            .await
            .unwrap(),
        Some(updated)
    );
    assert_eq!(
        store
            .get_integration(&other_app, &integration.id)
            .await
            .unwrap(),
        None
    );
    assert!(
        !store
            .delete_integration(&other_app, &integration.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_integration(&app_id, &integration.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_integration(&app_id, &integration.id)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .find_integration_by_key(token_sha256("integsk_a"))
            .await
            .unwrap(),
        None,
        "a deleted integration's key finds nothing"
    );
}

async fn deleting_the_application_removes_its_integrations(store: Arc<dyn Store>) {
    let app_id = new_app(&store, t0()).await;
    let integration = create(&store, &app_id, "gone", "integsk_gone").await;
    assert!(store.delete_application(&app_id).await.unwrap());
    assert_eq!(
        store
            .find_integration_by_key(token_sha256("integsk_gone"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_integration(&app_id, &integration.id)
            .await
            .unwrap(),
        None
    );
}

async fn integration_lists_are_paged_by_id(store: Arc<dyn Store>) {
    let app_id = new_app(&store, t0()).await;
    let other_app = new_app(&store, t0()).await;
    create(&store, &other_app, "elsewhere", "integsk_elsewhere").await;
    let mut created = Vec::new();
    for n in 0..3 {
        created.push(create(&store, &app_id, &format!("i{n}"), &format!("integsk_{n}")).await);
    }
    let newest_first = |iterator| PageRequest {
        limit: 2,
        iterator,
        order: Order::Descending,
    };
    let first = store
        .list_integrations(&app_id, newest_first(None))
        .await
        .unwrap();
    assert_eq!(first.items, vec![created[2].clone(), created[1].clone()]);
    assert!(!first.done);
    let second = store
        .list_integrations(&app_id, newest_first(first.iterator))
        .await
        .unwrap();
    assert_eq!(second.items, vec![created[0].clone()]);
    assert!(second.done);
    let oldest_first = store
        .list_integrations(&app_id, page(10, None))
        .await
        .unwrap();
    assert_eq!(oldest_first.items, created);
}

async fn an_integration_of_a_missing_application_is_not_found(store: Arc<dyn Store>) {
    let missing = AppId::generate(t0(), rand::random());
    let integration = Integration {
        id: IntegrationId::generate(t0(), rand::random()),
        app_id: missing,
        fields: fields("orphan", &[]),
        created_at: t0(),
        updated_at: t0(),
    };
    let error = store
        .create_integration(&integration, token_sha256("integsk_orphan"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound(_)), "{error:?}");
}
