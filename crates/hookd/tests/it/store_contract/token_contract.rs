//! `TokenStore`: application tokens are found by their hash only, revoked one at a time,
//! shortened by session (`expire_app_tokens`), and go with their application.

use super::*;
use hookd::domain::TokenId;
use hookd::domain::grants::{Capability, Grants};
use hookd::domain::tokens::{AppToken, IssuedToken};
use hookd::store::TokenSelection;

contract!(
    tokens_are_found_by_hash_and_revoked_one_at_a_time,
    expiring_shortens_only_the_selected_sessions,
    deleting_the_application_removes_its_tokens,
    the_purge_deletes_only_tokens_expired_before_the_cutoff_in_batches,
    token_lists_are_paged_by_id,
);

fn newest_first(limit: usize) -> PageRequest {
    PageRequest {
        limit,
        iterator: None,
        order: Order::Descending,
    }
}

async fn token_lists_are_paged_by_id(store: Arc<dyn Store>) {
    let app_id = new_app(&store, t0()).await;
    let mut issued = Vec::new();
    for byte in 1..=3 {
        issued.push(issue(&store, &app_id, None, None, byte).await.0);
    }
    let first = store
        .list_app_tokens(&app_id, newest_first(2))
        .await
        .unwrap();
    assert_eq!(first.items, vec![issued[2].clone(), issued[1].clone()]);
    assert!(!first.done);
    let second = store
        .list_app_tokens(
            &app_id,
            PageRequest {
                iterator: first.iterator,
                ..newest_first(2)
            },
        )
        .await
        .unwrap();
    assert_eq!(second.items, vec![issued[0].clone()]);
    assert!(second.done);
}

async fn issue(
    store: &Arc<dyn Store>,
    app_id: &AppId,
    session: Option<&str>,
    expires_at: Option<Timestamp>,
    byte: u8,
) -> (AppToken, IssuedToken) {
    let now = t0();
    let issued = IssuedToken::from_random([byte; 32]);
    let record = AppToken {
        id: TokenId::generate(now, rand::random()),
        app_id: app_id.clone(),
        name: Some(format!("token {byte}")),
        read_only: byte.is_multiple_of(2),
        session_id: session.map(str::to_owned),
        created_at: now,
        expires_at,
        revoked: false,
        // Odd tokens carry grants, so that every read below proves they round-trip.
        grants: if byte.is_multiple_of(2) {
            Grants::default()
        } else {
            Grants {
                feature_flags: ["beta".to_owned(), "x.y-z".to_owned()].into(),
                capabilities: Some([Capability::ViewBase, Capability::CreateAttempts].into()),
            }
        },
    };
    store
        .create_app_token(&record, issued.sha256)
        .await
        .unwrap();
    (record, issued)
}

async fn tokens_are_found_by_hash_and_revoked_one_at_a_time(store: Arc<dyn Store>) {
    let app_id = new_app(&store, t0()).await;
    let other_app = new_app(&store, t0()).await;
    let (first, first_token) = issue(&store, &app_id, None, None, 1).await;
    let (second, second_token) =
        issue(&store, &app_id, Some("s"), Some(t0() + seconds(60)), 2).await;
    assert_eq!(
        store.find_app_token(first_token.sha256).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.find_app_token(second_token.sha256).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.find_app_token([9; 32]).await.unwrap(), None);
    let listed = store
        .list_app_tokens(&app_id, newest_first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(listed, vec![second.clone(), first.clone()], "newest first");
    assert!(
        !store.revoke_app_token(&other_app, &first.id).await.unwrap(),
        "not its token"
    );
    assert!(store.revoke_app_token(&app_id, &first.id).await.unwrap());
    let found = store
        .find_app_token(first_token.sha256)
        .await
        .unwrap()
        .unwrap();
    assert!(found.revoked);
    assert!(
        !store
            .find_app_token(second_token.sha256)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
}

async fn expiring_shortens_only_the_selected_sessions(store: Arc<dyn Store>) {
    let app_id = new_app(&store, t0()).await;
    let other_app = new_app(&store, t0()).await;
    let soon = t0() + seconds(10);
    let (_, a) = issue(&store, &app_id, Some("a"), None, 1).await;
    let (_, b) = issue(&store, &app_id, Some("b"), None, 2).await;
    let (_, early) = issue(&store, &app_id, Some("a"), Some(t0() + seconds(5)), 3).await;
    let (_, elsewhere) = issue(&store, &other_app, Some("a"), None, 4).await;
    let expiry = |issued: IssuedToken| {
        let store = store.clone();
        async move {
            store
                .find_app_token(issued.sha256)
                .await
                .unwrap()
                .unwrap()
                .expires_at
        }
    };
    let shortened = store
        .expire_app_tokens(
            &app_id,
            TokenSelection::Sessions(vec!["a".to_owned()]),
            soon,
        )
        .await
        .unwrap();
    assert_eq!(shortened, 1, "the token that expires sooner keeps its time");
    assert_eq!(expiry(a.clone()).await, Some(soon));
    assert_eq!(expiry(b.clone()).await, None);
    assert_eq!(expiry(early.clone()).await, Some(t0() + seconds(5)));
    assert_eq!(expiry(elsewhere.clone()).await, None);
    let shortened = store
        .expire_app_tokens(&app_id, TokenSelection::All, t0())
        .await
        .unwrap();
    assert_eq!(shortened, 3);
    assert_eq!(expiry(b).await, Some(t0()));
    assert_eq!(expiry(elsewhere).await, None);
}

async fn deleting_the_application_removes_its_tokens(store: Arc<dyn Store>) {
    let app_id = new_app(&store, t0()).await;
    let (_, issued) = issue(&store, &app_id, None, None, 1).await;
    assert!(store.delete_application(&app_id).await.unwrap());
    assert_eq!(store.find_app_token(issued.sha256).await.unwrap(), None);
    assert_eq!(
        store
            .list_app_tokens(&app_id, newest_first(10))
            .await
            .unwrap()
            .items,
        vec![]
    );
}

async fn the_purge_deletes_only_tokens_expired_before_the_cutoff_in_batches(store: Arc<dyn Store>) {
    let app_id = new_app(&store, t0()).await;
    let (_, old_a) = issue(&store, &app_id, None, Some(t0() + seconds(10)), 1).await;
    let (_, old_b) = issue(&store, &app_id, None, Some(t0() + seconds(20)), 2).await;
    let (_, fresh) = issue(&store, &app_id, None, Some(t0() + seconds(100)), 3).await;
    let (_, forever) = issue(&store, &app_id, None, None, 4).await;
    let cutoff = t0() + seconds(50);
    assert_eq!(
        store
            .purge_app_tokens_expired_before(cutoff, 1)
            .await
            .unwrap(),
        1,
        "one batch of one"
    );
    assert_eq!(
        store
            .purge_app_tokens_expired_before(cutoff, 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .purge_app_tokens_expired_before(cutoff, 10)
            .await
            .unwrap(),
        0
    );
    for gone in [old_a, old_b] {
        assert_eq!(store.find_app_token(gone.sha256).await.unwrap(), None);
    }
    for kept in [fresh, forever] {
        assert!(store.find_app_token(kept.sha256).await.unwrap().is_some());
    }
}
