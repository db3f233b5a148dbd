//! Content filters in the store, on both backends: an endpoint's filter is kept as written and
//! read back parsed (by the endpoint reads and by fan-out), `None` removes it, fan-out inside
//! the message's transaction drops endpoints whose filter the payload does not match (an
//! opaque payload matches no filter), and replay-missing does not count a message the
//! endpoint's filter turned away as missed.

use super::*;

use hookd::domain::{ContentFilter, ReplaySelection};
use hookd::store::ReplayFilter;
use serde_json::json;

contract!(
    a_filter_round_trips_and_is_removed_with_none,
    fan_out_drops_endpoints_whose_filter_does_not_match,
    fan_out_follows_a_changed_filter,
    replay_missing_skips_what_the_filter_turned_away,
);

fn filtered(filter: serde_json::Value) -> EndpointFields {
    let mut fields = endpoint_fields(None);
    fields.filter = Some(ContentFilter::parse(filter).unwrap());
    fields
}

fn message_with(app_id: &AppId, payload: MessagePayload, now: Timestamp) -> NewMessage {
    NewMessage {
        payload,
        ..new_message(app_id, "invoice.paid", now)
    }
}

async fn a_filter_round_trips_and_is_removed_with_none(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let written = json!({"data": {"amount": {"$gte": 10}}, "$or": [{"type": "a"}, {"type": "b"}]});
    let endpoint_id = new_endpoint(&store, &app_id, filtered(written.clone()), now).await;

    let endpoint = store
        .get_endpoint(&app_id, endpoint_id.as_str())
        .await
        .unwrap()
        .unwrap();
    let filter = endpoint.fields.filter.clone().expect("the filter is kept");
    assert_eq!(filter.as_json(), &written);
    let listed = store.list_endpoints(&app_id, page(10, None)).await.unwrap();
    assert_eq!(listed.items[0].fields.filter.as_ref(), Some(&filter));
    let targets = store.list_fanout_targets(&app_id).await.unwrap();
    assert_eq!(targets[0].filter.as_deref(), Some(&filter));

    let mut cleared = endpoint.fields.clone();
    cleared.filter = None;
    let saved = saved(replace_endpoint(&store, &app_id, &endpoint_id, cleared, now).await);
    assert_eq!(saved.fields.filter, None);
    let reread = store
        .get_endpoint(&app_id, endpoint_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reread.fields.filter, None);
    assert_eq!(
        store.list_fanout_targets(&app_id).await.unwrap()[0].filter,
        None
    );
}

async fn fan_out_drops_endpoints_whose_filter_does_not_match(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let big = new_endpoint(
        &store,
        &app_id,
        filtered(json!({"amount": {"$gt": 40}})),
        now,
    )
    .await;
    let small = new_endpoint(
        &store,
        &app_id,
        filtered(json!({"amount": {"$lt": 40}})),
        now,
    )
    .await;
    let absent = new_endpoint(
        &store,
        &app_id,
        filtered(json!({"amount": {"$exists": false}})),
        now,
    )
    .await;
    let everyone = new_endpoint(&store, &app_id, endpoint_fields(None), now).await;

    // new_message's payload is {"amount":42}.
    let (first, deliveries) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    assert_eq!(deliveries, 2);
    let (second, deliveries) = create(
        &store,
        message_with(
            &app_id,
            MessagePayload::parse(r#"{"amount":7}"#).unwrap(),
            now,
        ),
    )
    .await;
    assert_eq!(deliveries, 2);
    let (opaque, deliveries) = create(
        &store,
        message_with(
            &app_id,
            MessagePayload::opaque(
                "amount=1".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            now,
        ),
    )
    .await;
    assert_eq!(deliveries, 1, "an opaque payload matches no filter");

    let claimed = store
        .claim_due_deliveries(now, LEASE, budget(100))
        .await
        .unwrap();
    let mut pairs: Vec<(MessageId, EndpointId)> = claimed
        .iter()
        .map(|claim| (claim.msg_id.clone(), claim.endpoint_id.clone()))
        .collect();
    pairs.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
    let mut expected = vec![
        (first.clone(), big.clone()),
        (first, everyone.clone()),
        (second.clone(), small.clone()),
        (second, everyone.clone()),
        (opaque, everyone.clone()),
    ];
    expected.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
    assert_eq!(pairs, expected);
    assert!(!pairs.iter().any(|(_, endpoint)| *endpoint == absent));
}

/// Fan-out keeps parsed filters between messages (`store::parsed_filters`); an endpoint whose
/// filter changes is judged by the new one from the next message on, and two endpoints with
/// the same filter each keep it.
async fn fan_out_follows_a_changed_filter(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let over_40 = json!({"amount": {"$gt": 40}});
    let changing = new_endpoint(&store, &app_id, filtered(over_40.clone()), now).await;
    new_endpoint(&store, &app_id, filtered(over_40), now).await;

    // new_message's payload is {"amount":42}.
    let (_, deliveries) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    assert_eq!(deliveries, 2);
    saved(
        replace_endpoint(
            &store,
            &app_id,
            &changing,
            filtered(json!({"amount": {"$lt": 40}})),
            now,
        )
        .await,
    );
    let (_, deliveries) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    assert_eq!(deliveries, 1, "the changed filter turns 42 away");
    let targets = store.list_fanout_targets(&app_id).await.unwrap();
    let changed = targets.iter().find(|target| target.id == changing).unwrap();
    assert_eq!(
        changed.filter.as_deref().map(ContentFilter::as_json),
        Some(&json!({"amount": {"$lt": 40}}))
    );
}

async fn replay_missing_skips_what_the_filter_turned_away(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    create(&store, new_message(&app_id, "invoice.paid", now)).await;
    let small = MessagePayload::parse(r#"{"amount":7}"#).unwrap();
    create(&store, message_with(&app_id, small, now)).await;
    // Created after both messages: both are missing to it, but only one matches its filter.
    let later = now + seconds(1);
    let big = new_endpoint(
        &store,
        &app_id,
        filtered(json!({"amount": {"$gt": 40}})),
        later,
    )
    .await;
    let plain = new_endpoint(&store, &app_id, endpoint_fields(None), later).await;
    let missing = |endpoint_id: &EndpointId| ReplayFilter {
        app_id: app_id.clone(),
        endpoint_id: Some(endpoint_id.clone()),
        event_types: None,
        selection: ReplaySelection::NeverQueued,
        since: now - seconds(1),
        until: None,
    };
    assert_eq!(store.count_replay(missing(&big)).await.unwrap(), 1);
    assert_eq!(store.count_replay(missing(&plain)).await.unwrap(), 2);
}
