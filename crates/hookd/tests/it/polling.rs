//! Polling endpoints (Svix `message.poller`): an endpoint with the URL `polling:` is never sent
//! to; its consumer pulls the messages fan-out's filters give it, in commit order, with an
//! iterator, or as a named consumer whose position the server keeps (and keeps over a
//! restart), moving it only when the consumer presents the iterator of the page it handled.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Receiver, Reply, TestApp, TestClient};

/// Creates an application (by uid) with one polling endpoint; returns the endpoint id.
async fn polling_endpoint(app: &TestApp, app_uid: &str, extra: Value) -> String {
    let (status, created) = app
        .post("/app", json!({"name": app_uid, "uid": app_uid}))
        .await;
    assert_eq!(status, 201, "{created}");
    let mut body = json!({"url": "polling:"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, endpoint) = app.post(&format!("/app/{app_uid}/endpoint"), body).await;
    assert_eq!(status, 201, "{endpoint}");
    assert_eq!(endpoint["url"], "polling:", "{endpoint}");
    endpoint["id"].as_str().unwrap().to_owned()
}

async fn send(app: &TestApp, app_uid: &str, event_type: &str, channels: Value, n: u64) -> String {
    let (status, message) = app
        .post(
            &format!("/app/{app_uid}/msg"),
            json!({"eventType": event_type, "channels": channels, "payload": {"n": n}}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
    message["id"].as_str().unwrap().to_owned()
}

/// One poll's (status, answer).
async fn poll(app: &TestApp, path: &str) -> (u16, Value) {
    app.get(path).await
}

/// One successful poll: the message ids, the iterator, `done`.
async fn page(app: &TestApp, path: &str) -> (Vec<String>, String, bool) {
    let (status, answer) = poll(app, path).await;
    assert_eq!(status, 200, "{path}: {answer}");
    let ids = answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["id"].as_str().unwrap().to_owned())
        .collect();
    let iterator = answer["iterator"].as_str().unwrap().to_owned();
    (ids, iterator, answer["done"].as_bool().unwrap())
}

#[tokio::test]
async fn a_polling_endpoint_serves_its_filtered_messages_in_order_and_is_never_sent_to() {
    let app = TestApp::spawn().await;
    let sink = polling_endpoint(
        &app,
        "shop",
        json!({"filterTypes": ["invoice.paid", "invoice.voided"], "channels": ["eu"]}),
    )
    .await;
    // A push endpoint beside it still gets every message.
    let receiver = Receiver::answering(Reply::status(200)).await;
    let (status, _) = app
        .post("/app/shop/endpoint", json!({"url": receiver.url}))
        .await;
    assert_eq!(status, 201);

    let mut wanted = Vec::new();
    for n in 0..5 {
        wanted.push(send(&app, "shop", "invoice.paid", json!(["eu"]), n).await);
        send(&app, "shop", "user.created", json!(["eu"]), n).await; // filtered by type
        send(&app, "shop", "invoice.paid", json!(["us"]), n).await; // filtered by channel
    }
    wanted.push(send(&app, "shop", "invoice.voided", json!(["us", "eu"]), 9).await);

    // Pages of two, in the order the messages were sent, until done.
    let base = format!("/app/shop/poller/{sink}");
    let mut got = Vec::new();
    let mut path = format!("{base}?limit=2");
    loop {
        let (ids, iterator, done) = page(&app, &path).await;
        assert!(ids.len() <= 2);
        got.extend(ids);
        path = format!("{base}?limit=2&iterator={iterator}");
        if done {
            break;
        }
    }
    assert_eq!(got, wanted);
    let (ids, _, done) = page(&app, &path).await;
    assert!(ids.is_empty() && done, "nothing past the end yet");

    // The answer's shape is Svix's, with the payload as sent.
    let (_, answer) = poll(&app, &format!("{base}?limit=1")).await;
    let first = &answer["data"][0];
    assert_eq!(first["eventType"], "invoice.paid");
    assert_eq!(first["payload"], json!({"n": 0}));
    assert_eq!(first["channels"], json!(["eu"]));
    assert!(first["timestamp"].is_string(), "{first}");

    // The poll's own filters narrow the endpoint's.
    let (ids, _, _) = page(&app, &format!("{base}?event_type=invoice.voided")).await;
    assert_eq!(ids, vec![wanted[5].clone()]);
    let (ids, _, _) = page(&app, &format!("{base}?channel=us")).await;
    assert_eq!(ids, vec![wanted[5].clone()]);

    // Nothing was ever sent to it: the push endpoint got all 16, the polling one no attempt.
    receiver.wait_for(16, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, attempts) = app.get(&format!("/app/shop/attempt/endpoint/{sink}")).await;
    assert_eq!(status, 200, "{attempts}");
    assert_eq!(attempts["data"], json!([]), "{attempts}");
    let (status, refused) = app
        .post(
            &format!("/app/shop/msg/{}/endpoint/{sink}/resend", wanted[0]),
            json!({}),
        )
        .await;
    assert_eq!(
        status, 409,
        "a resend to a polling endpoint is refused: {refused}"
    );
    assert_eq!(receiver.received().len(), 16);
}

#[tokio::test]
async fn a_poll_starts_after_a_time_and_serves_no_expunged_payload() {
    let app = TestApp::spawn().await;
    let sink = polling_endpoint(&app, "shop", json!({})).await;
    let first = send(&app, "shop", "a.b", json!([]), 0).await;
    let (_, message) = app.get(&format!("/app/shop/msg/{first}")).await;
    let first_at = message["timestamp"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = send(&app, "shop", "a.b", json!([]), 1).await;
    let third = send(&app, "shop", "a.b", json!([]), 2).await;

    let after = first_at.replace('+', "%2B");
    let (ids, _, _) = page(&app, &format!("/app/shop/poller/{sink}?after={after}")).await;
    assert_eq!(ids, vec![second.clone(), third.clone()]);

    let (status, _) = app
        .request(
            Method::DELETE,
            &format!("/app/shop/msg/{second}/content"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (ids, _, done) = page(&app, &format!("/app/shop/poller/{sink}")).await;
    assert_eq!(ids, vec![first, third], "the expunged message is skipped");
    assert!(done);
}

#[tokio::test]
async fn a_consumer_keeps_its_position_over_a_restart_and_moves_only_with_its_iterator() {
    let mut app = TestApp::spawn().await;
    let sink = polling_endpoint(&app, "shop", json!({})).await;
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(send(&app, "shop", "a.b", json!([]), n).await);
    }
    let consumer = format!("/app/shop/poller/{sink}/consumer/worker-1");

    let (ids, first_iterator, done) = page(&app, &format!("{consumer}?limit=2")).await;
    assert_eq!(ids, sent[..2]);
    assert!(!done);
    // Asked again without the iterator (an answer lost on the way): the same page.
    let (again, same_iterator, _) = page(&app, &format!("{consumer}?limit=2")).await;
    assert_eq!(again, sent[..2]);
    assert_eq!(same_iterator, first_iterator);
    // The iterator says the page was handled: the position moves and the next page comes.
    let (ids, second_iterator, _) = page(
        &app,
        &format!("{consumer}?limit=2&iterator={first_iterator}"),
    )
    .await;
    assert_eq!(ids, sent[2..4]);
    // Repeating that same request is harmless (it commits the same position).
    let (ids, _, _) = page(
        &app,
        &format!("{consumer}?limit=2&iterator={first_iterator}"),
    )
    .await;
    assert_eq!(ids, sent[2..4]);
    let (_, _, _) = page(
        &app,
        &format!("{consumer}?limit=2&iterator={second_iterator}"),
    )
    .await;

    // Another consumer of the same endpoint has its own position.
    let (ids, _, _) = page(
        &app,
        &format!("/app/shop/poller/{sink}/consumer/worker-2?limit=1"),
    )
    .await;
    assert_eq!(ids, sent[..1]);

    app.restart().await;
    let (ids, _, done) = page(&app, &format!("{consumer}?limit=2")).await;
    assert_eq!(
        ids,
        sent[4..],
        "the committed position survived the restart"
    );
    assert!(done);
    // An iterator behind the committed position (a stale client) is refused, not rewound.
    let (status, refused) = poll(&app, &format!("{consumer}?iterator={first_iterator}")).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "conflict", "{refused}");

    // Seeking rewinds: to the time of the first message, so the rest follow it.
    let (_, message) = app.get(&format!("/app/shop/msg/{}", sent[0])).await;
    let (status, seek) = app
        .post(
            &format!("{consumer}/seek"),
            json!({"after": message["timestamp"]}),
        )
        .await;
    assert_eq!(status, 200, "{seek}");
    assert!(seek["iterator"].is_string(), "{seek}");
    let (ids, _, _) = page(&app, &format!("{consumer}?limit=10")).await;
    assert_eq!(
        ids,
        sent[1..],
        "every message created after the seek's time"
    );
    let (ids, _, _) = page(
        &app,
        &format!("{consumer}?iterator={}", seek["iterator"].as_str().unwrap()),
    )
    .await;
    assert_eq!(ids, sent[1..]);
}

#[tokio::test]
async fn bad_iterators_limits_and_consumers_are_422s_and_unknown_sinks_404s() {
    let app = TestApp::spawn().await;
    let sink = polling_endpoint(&app, "shop", json!({})).await;
    let (status, push) = app
        .post("/app/shop/endpoint", json!({"url": "http://127.0.0.1:9/x"}))
        .await;
    assert_eq!(status, 201);
    let push = push["id"].as_str().unwrap().to_owned();
    let base = format!("/app/shop/poller/{sink}");
    let consumer = format!("{base}/consumer/c1");
    for (path, loc) in [
        (
            format!("{base}?iterator=garbage!"),
            json!(["query", "iterator"]),
        ),
        (
            format!("{base}?iterator=djI6MTo"),
            json!(["query", "iterator"]),
        ),
        (format!("{base}?limit=0"), json!(["query", "limit"])),
        (format!("{base}?limit=251"), json!(["query", "limit"])),
        (format!("{base}?limit=x"), json!(["query", "limit"])),
        (format!("{base}?after=yesterday"), json!(["query", "after"])),
        (
            format!("{base}?event_type=no%20space"),
            json!(["query", "event_type"]),
        ),
        (
            format!("{consumer}?iterator=%25"),
            json!(["query", "iterator"]),
        ),
        (
            format!("{base}/consumer/a%20b"),
            json!(["path", "consumer_id"]),
        ),
    ] {
        let (status, answer) = poll(&app, &path).await;
        assert_eq!(status, 422, "{path}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{path}: {answer}");
    }
    let (status, answer) = app
        .post(&format!("{consumer}/seek"), json!({"after": "soon"}))
        .await;
    assert_eq!(status, 422, "{answer}");

    for path in [
        "/app/shop/poller/ep_missing".to_owned(),
        format!("/app/shop/poller/{push}"),
        format!("/app/missing/poller/{sink}"),
        format!("/app/shop/poller/{push}/consumer/c1"),
        // 404 before 422: the sink is looked up before the bad query is judged.
        "/app/shop/poller/ep_missing?iterator=garbage!".to_owned(),
    ] {
        let (status, answer) = poll(&app, &path).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert_eq!(answer["code"], "not_found", "{path}: {answer}");
    }
    // Operational endpoints are sent to or nothing: none of them can be a polling endpoint.
    let (status, answer) = app
        .post("/operational-webhook/endpoint", json!({"url": "polling:"}))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["detail"][0]["loc"],
        json!(["body", "url"]),
        "{answer}"
    );
    let (status, answer) = app
        .post(
            &format!("/app/shop/poller/{push}/consumer/c1/seek"),
            json!({"after": "2024-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
}

#[tokio::test]
async fn an_application_token_polls_only_its_own_application() {
    let app = TestApp::spawn().await;
    let own = polling_endpoint(&app, "own", json!({})).await;
    let other = polling_endpoint(&app, "other", json!({})).await;
    let message = send(&app, "own", "a.b", json!([]), 1).await;
    let (status, issued) = app.post("/app/own/token", json!({"readOnly": true})).await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().unwrap();
    let as_token = |path: String| {
        let request = app.http.get(app.url(&path)).bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, answer) = as_token(format!("/app/own/poller/{own}")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"][0]["id"], message.as_str());
    let (status, answer) = as_token(format!("/app/own/poller/{own}/consumer/c")).await;
    assert_eq!(status, 200, "a read-only token consumes: {answer}");
    let (status, answer) = as_token(format!("/app/other/poller/{other}")).await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = as_token(format!("/app/other/poller/{other}/consumer/c")).await;
    assert_eq!(status, 403, "{answer}");
}

#[tokio::test]
async fn concurrent_sends_while_polling_lose_nothing_and_duplicate_nothing() {
    let app = TestApp::spawn().await;
    let sink = polling_endpoint(&app, "shop", json!({})).await;
    polled_once_while_sent(&[&app], &sink).await;
}

/// Two PostgreSQL nodes accept the messages (their transactions commit out of id order and
/// interleave), and the consumer's polls alternate between the nodes.
#[tokio::test]
async fn postgres_concurrent_sends_on_two_nodes_are_polled_once_each() {
    let schema = crate::postgres_schema::TestSchema::create("postgres_polling_two_nodes").await;
    let spawn_on = |node: &'static str| {
        let url = schema.url.clone();
        TestApp::spawn_with(move |config| {
            config.database_url = Some(url);
            config.node_id = Some(node.to_owned());
        })
    };
    let first = spawn_on("first").await;
    let second = spawn_on("second").await;
    let sink = polling_endpoint(&first, "shop", json!({})).await;
    polled_once_while_sent(&[&first, &second], &sink).await;
}

/// Senders spread over `nodes` send 200 messages at once while a named consumer polls (over
/// the nodes in turn) with small pages, following its iterator: every accepted message is
/// served exactly once.
async fn polled_once_while_sent(nodes: &[&TestApp], sink: &str) {
    let senders = 8;
    let per_sender = 25;
    let sending: Vec<_> = (0..senders)
        .map(|s| {
            let node = nodes[s % nodes.len()];
            let client = TestClient {
                base: node.base.clone(),
                http: node.http.clone(),
            };
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..per_sender {
                    let (status, message) = client
                        .post(
                            "/app/shop/msg",
                            json!({"eventType": "a.b", "payload": {"s": s, "n": n}}),
                        )
                        .await;
                    assert_eq!(status, 202, "{message}");
                    ids.push(message["id"].as_str().unwrap().to_owned());
                }
                ids
            })
        })
        .collect();

    let consumer = format!("/app/shop/poller/{sink}/consumer/c");
    let mut seen = Vec::new();
    let mut iterator: Option<String> = None;
    let mut finished_senders = false;
    for round in 0.. {
        let path = match &iterator {
            Some(iterator) => format!("{consumer}?limit=7&iterator={iterator}"),
            None => format!("{consumer}?limit=7"),
        };
        let (ids, next, done) = page(nodes[round % nodes.len()], &path).await;
        seen.extend(ids);
        iterator = Some(next);
        if done && finished_senders {
            break;
        }
        // Judged after the poll: the next round polls once more after the last send.
        finished_senders = sending.iter().all(tokio::task::JoinHandle::is_finished);
    }
    let mut accepted = HashSet::new();
    for handle in sending {
        accepted.extend(handle.await.unwrap());
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no message was served twice");
    assert_eq!(unique, accepted, "every accepted message was served");
    assert_eq!(seen.len(), senders * per_sender);
}

/// A polling endpoint serves the payload as sent, so it cannot have an enabled transformation:
/// enabling one on it is a 422 naming `enabled`, and an endpoint with one cannot become a
/// polling endpoint (a 422 naming `url`); nothing is changed.
#[tokio::test]
async fn a_polling_endpoint_refuses_an_enabled_transformation() {
    let app = TestApp::spawn().await;
    let sink = polling_endpoint(&app, "shop", json!({})).await;
    let code = "function handler(webhook) { webhook.payload = {}; return webhook; }";
    let sink_transformation = format!("/app/shop/endpoint/{sink}/transformation");
    for (body, refused) in [
        (json!({"code": code, "enabled": true}), true),
        // Code may be kept while the transformation is disabled...
        (json!({"code": code}), false),
        // ...but not enabled.
        (json!({"enabled": true}), true),
    ] {
        let (status, answer) = app
            .request(Method::PATCH, &sink_transformation, Some(body.clone()))
            .await;
        if !refused {
            assert_eq!(status, 204, "{body}: {answer}");
            continue;
        }
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", "enabled"]),
            "{answer}"
        );
    }
    let (status, stored) = app.get(&sink_transformation).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(
        (&stored["code"], &stored["enabled"]),
        (&json!(code), &json!(false)),
        "{stored}"
    );

    let (status, push) = app
        .post("/app/shop/endpoint", json!({"url": "http://127.0.0.1:9/x"}))
        .await;
    assert_eq!(status, 201, "{push}");
    let push = push["id"].as_str().unwrap().to_owned();
    let push_path = format!("/app/shop/endpoint/{push}");
    let (status, answer) = app
        .request(
            Method::PATCH,
            &format!("{push_path}/transformation"),
            Some(json!({"code": code, "enabled": true})),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    for method in [Method::PATCH, Method::PUT] {
        let (status, answer) = app
            .request(method.clone(), &push_path, Some(json!({"url": "polling:"})))
            .await;
        assert_eq!(status, 422, "{method}: {answer}");
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", "url"]),
            "{answer}"
        );
    }
    let (_, endpoint) = app.get(&push_path).await;
    assert_eq!(endpoint["url"], "http://127.0.0.1:9/x", "{endpoint}");

    let (status, _) = app
        .request(
            Method::PATCH,
            &format!("{push_path}/transformation"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, answer) = app
        .request(Method::PATCH, &push_path, Some(json!({"url": "polling:"})))
        .await;
    assert_eq!(status, 200, "{answer}");
}
