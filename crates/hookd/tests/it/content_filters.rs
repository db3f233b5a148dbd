//! Content filters (hookd extension `filter` on endpoints): fan-out sends a message only to the
//! endpoints whose filter its payload matches, the payload's bytes unchanged; a bad filter is a
//! 422 naming its place and changes nothing; `null` removes a filter, and a Svix client's PUT
//! without the field keeps it.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Receiver, TestApp};

const WAIT: Duration = Duration::from_secs(10);

async fn new_app(app: &TestApp) -> String {
    let (status, created) = app.post("/app", json!({"name": "filters"})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// Posts a message whose body is `raw` JSON text, so its payload's bytes are exactly ours.
async fn send_raw(app: &TestApp, app_id: &str, payload_text: &str) -> String {
    let body = format!(r#"{{"eventType": "invoice.paid", "payload": {payload_text}}}"#);
    let response = app
        .http
        .post(app.url(&format!("/app/{app_id}/msg")))
        .bearer_auth(crate::harness::TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let message: Value = response.json().await.unwrap();
    message["id"].as_str().unwrap().to_owned()
}

/// The endpoints a message was fanned out to (its deliveries, committed with it).
async fn destinations(app: &TestApp, app_id: &str, msg_id: &str) -> BTreeSet<String> {
    let (status, page) = app
        .get(&format!("/app/{app_id}/msg/{msg_id}/endpoint"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|destination| destination["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn messages_reach_only_the_endpoints_whose_filter_matches() {
    let app = TestApp::spawn().await;
    let app_id = new_app(&app).await;
    // Each filter gets its own endpoint and receiver; the messages are numbered by "n".
    let filters: Vec<(&str, Value)> = vec![
        ("none", Value::Null),
        ("eq-nested", json!({"data": {"status": "paid"}})),
        ("eq-op", json!({"data": {"status": {"$eq": "paid"}}})),
        ("ne", json!({"data": {"status": {"$ne": "paid"}}})),
        ("in", json!({"data": {"currency": {"$in": ["eur", "chf"]}}})),
        (
            "nin",
            json!({"data": {"currency": {"$nin": ["eur", "chf"]}}}),
        ),
        ("exists", json!({"data": {"coupon": {"$exists": true}}})),
        ("absent", json!({"data": {"coupon": {"$exists": false}}})),
        ("null", json!({"data": {"coupon": null}})),
        ("gt", json!({"data": {"amount": {"$gt": 100}}})),
        (
            "gte-lte",
            json!({"data": {"amount": {"$gte": 50, "$lte": 100}}}),
        ),
        ("lt", json!({"data": {"amount": {"$lt": 50}}})),
        ("string-number", json!({"data": {"amount": "150"}})),
        ("array-element", json!({"data": {"tags": "vip"}})),
        (
            "array-object",
            json!({"data": {"lines": {"sku": "b", "qty": {"$gte": 2}}}}),
        ),
        (
            "and",
            json!({"$and": [{"data": {"status": "paid"}}, {"data": {"amount": {"$gt": 100}}}]}),
        ),
        (
            "or",
            json!({"$or": [{"data": {"currency": "usd"}}, {"data": {"tags": "vip"}}]}),
        ),
        ("not", json!({"$not": {"data": {"status": "paid"}}})),
    ];
    let messages = [
        // 1: paid, 150 eur, vip, a coupon that is null, two lines.
        r#"{"n": 1, "data": {"status": "paid", "amount": 150, "currency": "eur",
            "tags": ["vip", "eu"], "coupon": null,
            "lines": [{"sku": "a", "qty": 5}, {"sku": "b", "qty": 2}]}}"#,
        // 2: open, 75.5 usd, a coupon, no tags.
        r#"{"n": 2,   "data": {"status": "open", "amount": 75.5, "currency": "usd", "coupon": "X"}}"#,
        // 3: paid, amount written as a string, one line of sku b with qty 1.
        r#"{"n":3,"data":{"status":"paid","amount":"150","currency":"chf","lines":[{"sku":"b","qty":1}]}}"#,
        // 4: no data at all.
        r#"{"n": 4}"#,
    ];
    // A nested document holds only where there is an object to match: message 4 has no
    // `data`, so neither `$ne` nor `$nin` inside `data` matches it (`$not` around it does).
    #[rustfmt::skip]
    let expected: [(&str, &[u64]); 18] = [
        ("none", &[1, 2, 3, 4]), ("eq-nested", &[1, 3]), ("eq-op", &[1, 3]),
        ("ne", &[2]), ("in", &[1, 3]), ("nin", &[2]),
        ("exists", &[1, 2]), ("absent", &[3]), ("null", &[1]),
        ("gt", &[1]), ("gte-lte", &[2]), ("lt", &[]),
        ("string-number", &[3]), ("array-element", &[1]), ("array-object", &[1]),
        ("and", &[1]), ("or", &[1, 2]), ("not", &[2, 4]),
    ];

    let mut endpoints = Vec::new();
    for (name, filter) in &filters {
        let receiver = Receiver::start(Vec::new()).await;
        let mut body = json!({"url": receiver.url, "uid": name});
        if !filter.is_null() {
            body["filter"] = filter.clone();
        }
        let (status, endpoint) = app.post(&format!("/app/{app_id}/endpoint"), body).await;
        assert_eq!(status, 201, "{name}: {endpoint}");
        assert_eq!(
            endpoint.get("filter"),
            (!filter.is_null()).then_some(filter),
            "{name}"
        );
        endpoints.push((*name, endpoint["id"].as_str().unwrap().to_owned(), receiver));
    }
    let mut msg_ids = Vec::new();
    for text in messages {
        msg_ids.push(send_raw(&app, &app_id, text).await);
    }

    for (name, endpoint_id, receiver) in &endpoints {
        let wanted = expected.iter().find(|(n, _)| n == name).unwrap().1;
        // Fan-out is decided at accept time: the deliveries say who gets what.
        for (index, msg_id) in msg_ids.iter().enumerate() {
            let to = destinations(&app, &app_id, msg_id).await;
            assert_eq!(
                to.contains(endpoint_id),
                wanted.contains(&(index as u64 + 1)),
                "{name}: message {}",
                index + 1
            );
        }
        let received = receiver.wait_for(wanted.len(), WAIT).await;
        let mut got: Vec<u64> = Vec::new();
        for request in &received {
            let text = std::str::from_utf8(&request.body).unwrap();
            let n: Value = serde_json::from_str(text).unwrap();
            let n = n["n"].as_u64().unwrap();
            // The payload arrives byte for byte as it was sent, spacing and all.
            assert_eq!(text, messages[n as usize - 1], "{name}");
            got.push(n);
        }
        got.sort_unstable();
        assert_eq!(got, wanted, "{name}");
    }
}

async fn endpoint_count(app: &TestApp, app_id: &str) -> usize {
    let (status, page) = app.get(&format!("/app/{app_id}/endpoint")).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn bad_filters_are_422_naming_where_and_change_nothing() {
    let app = TestApp::spawn().await;
    let app_id = new_app(&app).await;
    let endpoints = format!("/app/{app_id}/endpoint");
    let deep = (0..9).fold(json!(1), |inner, _| json!({ "a": inner }));
    #[rustfmt::skip]
    let cases: Vec<(Value, Vec<&str>, &str)> = vec![
        (json!("paid"), vec![], "must be a JSON object"),
        (json!({}), vec![], "empty object"),
        (json!({"data": {"amount": {"$gt": "100"}}}), vec!["data", "amount", "$gt"], "takes a number"),
        (json!({"data": {"status": {"$regex": "^p"}}}), vec!["data", "status", "$regex"], "unknown operator"),
        (json!({"a": {"$in": "x"}}), vec!["a", "$in"], "array of values"),
        (json!({"a": {"$exists": "yes"}}), vec!["a", "$exists"], "true or false"),
        (json!({"$or": [{"a": 1}, "b"]}), vec!["$or", "1"], "takes filter objects"),
        (json!({"$eq": 1}), vec!["$eq"], "applies to a field"),
        (json!({"a": {"$eq": 1, "b": 2}}), vec!["a"], "mixes operators"),
        (deep, vec!["a", "a", "a", "a", "a", "a", "a", "a"], "nest at most"),
        (json!({"a": "x".repeat(1025)}), vec!["a"], "at most 1024 bytes"),
    ];

    let (status, kept) = app
        .post(
            &endpoints,
            json!({"url": "http://127.0.0.1:9/kept", "filter": {"kept": true}}),
        )
        .await;
    assert_eq!(status, 201, "{kept}");
    let kept_path = format!("{endpoints}/{}", kept["id"].as_str().unwrap());
    for (filter, place, message) in cases {
        let mut loc = vec!["body", "filter"];
        loc.extend(place);
        let check = |status: u16, answer: &Value| {
            assert_eq!(status, 422, "{filter}: {answer}");
            let detail = &answer["detail"][0];
            assert_eq!(detail["loc"], json!(loc), "{filter}: {answer}");
            let msg = detail["msg"].as_str().unwrap();
            assert!(msg.contains(message), "{filter}: {msg}");
        };
        let (status, answer) = app
            .post(
                &endpoints,
                json!({"url": "http://127.0.0.1:9/new", "filter": filter}),
            )
            .await;
        check(status, &answer);
        let (status, answer) = app
            .request(Method::PATCH, &kept_path, Some(json!({"filter": filter})))
            .await;
        check(status, &answer);
        let (status, answer) = app
            .request(
                Method::PUT,
                &kept_path,
                Some(json!({"url": "http://127.0.0.1:9/changed", "filter": filter})),
            )
            .await;
        check(status, &answer);
    }
    assert_eq!(
        endpoint_count(&app, &app_id).await,
        1,
        "nothing was created"
    );
    let (_, after) = app.get(&kept_path).await;
    assert_eq!(after["filter"], json!({"kept": true}));
    assert_eq!(after["url"], "http://127.0.0.1:9/kept");
    assert_eq!(after["updatedAt"], kept["updatedAt"], "nothing was changed");
}

#[tokio::test]
async fn a_filter_is_kept_by_svix_puts_replaced_and_removed_with_null() {
    let app = TestApp::spawn().await;
    let app_id = new_app(&app).await;
    let receiver = Receiver::start(Vec::new()).await;
    let filter = json!({"data": {"status": "paid"}});
    let (status, created) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url, "filter": filter}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/app/{app_id}/endpoint/{}", created["id"].as_str().unwrap());

    // A Svix client's full update knows nothing of `filter`: it stays.
    let (status, put) = app
        .request(
            Method::PUT,
            &path,
            Some(json!({"url": receiver.url, "description": "renamed"})),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["filter"], filter);
    let open = r#"{"data": {"status": "open"}}"#;
    let first = send_raw(&app, &app_id, open).await;
    assert!(destinations(&app, &app_id, &first).await.is_empty());

    // PATCH with null removes it: the next message goes through, and GET has no filter.
    let (status, patched) = app
        .request(Method::PATCH, &path, Some(json!({"filter": null})))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert!(patched.get("filter").is_none(), "{patched}");
    let (_, got) = app.get(&path).await;
    assert!(got.get("filter").is_none(), "{got}");
    send_raw(&app, &app_id, open).await;
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(std::str::from_utf8(&received[0].body).unwrap(), open);

    // PATCH sets one again; a PUT with null removes it too.
    let (status, patched) = app
        .request(
            Method::PATCH,
            &path,
            Some(json!({"filter": {"data": {"status": {"$in": ["void"]}}}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["filter"],
        json!({"data": {"status": {"$in": ["void"]}}})
    );
    let third = send_raw(&app, &app_id, open).await;
    assert!(destinations(&app, &app_id, &third).await.is_empty());
    let (status, put) = app
        .request(
            Method::PUT,
            &path,
            Some(json!({"url": receiver.url, "filter": null})),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert!(put.get("filter").is_none(), "{put}");
    let fourth = send_raw(&app, &app_id, open).await;
    assert_eq!(destinations(&app, &app_id, &fourth).await.len(), 1);
}
