//! The reads behind Svix's `message.precheck`, `endpoint.get_attempt_stats` and
//! `message_attempt.list_attempted_messages`: the application's fan-out targets, an endpoint's
//! attempt counts in a window, and the messages an endpoint was sent with their latest state.

use super::*;

contract!(fanout_targets_are_every_endpoint_as_fan_out_reads_it,);

async fn fanout_targets_are_every_endpoint_as_fan_out_reads_it(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let other_app = new_app(&store, now).await;
    assert!(store.list_fanout_targets(&app_id).await.unwrap().is_empty());
    let mut filtered = endpoint_fields(None);
    filtered.event_types = Some(vec![event("invoice.paid")]);
    filtered.channels = Some(vec![ChannelName::parse("eu").unwrap()]);
    let filtered_id = new_endpoint(&store, &app_id, filtered, now).await;
    let mut disabled = endpoint_fields(None);
    disabled.disabled = true;
    let disabled_id = new_endpoint(&store, &app_id, disabled, now).await;
    new_endpoint(&store, &other_app, endpoint_fields(None), now).await;

    let mut targets = store.list_fanout_targets(&app_id).await.unwrap();
    targets.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut expected = vec![
        hookd::domain::FanoutTarget {
            id: filtered_id,
            disabled: false,
            event_types: Some(vec![event("invoice.paid")]),
            channels: Some(vec![ChannelName::parse("eu").unwrap()]),
        },
        hookd::domain::FanoutTarget {
            id: disabled_id,
            disabled: true,
            event_types: None,
            channels: None,
        },
    ];
    expected.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert_eq!(
        targets, expected,
        "only this application's, filters as stored"
    );
}
