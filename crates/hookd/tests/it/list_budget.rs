//! A listing answer is bounded by bytes as well as by count: pages of large payloads end early
//! (`done: false`, an iterator that continues), and paging on returns every message once.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Receiver, TestApp};

/// 12 payloads of ~900 KB: more than the 8 MiB one answer may hold.
async fn app_with_large_messages(app: &TestApp, endpoint_url: Option<&str>) -> (String, usize) {
    let (status, created) = app.post("/app", json!({"name": "big"})).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["id"].as_str().unwrap().to_owned();
    if let Some(url) = endpoint_url {
        let (status, endpoint) = app
            .post(&format!("/app/{app_id}/endpoint"), json!({"url": url}))
            .await;
        assert_eq!(status, 201, "{endpoint}");
    }
    let filler = "x".repeat(900 * 1024);
    let count = 12;
    for n in 0..count {
        let (status, message) = app
            .post(
                &format!("/app/{app_id}/msg?with_content=false"),
                json!({"eventType": "big.one", "payload": {"n": n, "filler": filler}}),
            )
            .await;
        assert_eq!(status, 202, "{message}");
    }
    (app_id, count)
}

fn ids(page: &Value, field: &str) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_message_page_of_large_payloads_ends_early_and_pages_on() {
    let app = TestApp::spawn().await;
    let (app_id, count) = app_with_large_messages(&app, None).await;

    let (status, first) = app.get(&format!("/app/{app_id}/msg?limit=250")).await;
    assert_eq!(status, 200);
    let first_ids = ids(&first, "id");
    assert!(
        !first_ids.is_empty() && first_ids.len() < count,
        "{} of {count} on the first page",
        first_ids.len()
    );
    assert_eq!(first["done"], false);
    let shown: usize = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["payload"].to_string().len())
        .sum();
    assert!(
        shown < 10 * 1024 * 1024,
        "{shown} payload bytes in one answer"
    );

    let mut seen: HashSet<String> = first_ids.into_iter().collect();
    let mut iterator = first["iterator"].as_str().unwrap().to_owned();
    loop {
        let (status, page) = app
            .get(&format!("/app/{app_id}/msg?limit=250&iterator={iterator}"))
            .await;
        assert_eq!(status, 200);
        for id in ids(&page, "id") {
            assert!(seen.insert(id.clone()), "{id} shown twice");
        }
        if page["done"] == true {
            break;
        }
        iterator = page["iterator"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen.len(), count, "every message once");

    // Without content nothing large is answered, so one page holds them all.
    let (_, light) = app
        .get(&format!("/app/{app_id}/msg?limit=250&with_content=false"))
        .await;
    assert_eq!(ids(&light, "id").len(), count);
    assert_eq!(light["done"], true);
}

#[tokio::test]
async fn an_attempt_page_with_large_messages_ends_early_and_pages_on() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (app_id, count) = app_with_large_messages(&app, Some(&receiver.url)).await;
    receiver.wait_for(count, Duration::from_secs(60)).await;
    let (_, endpoints) = app.get(&format!("/app/{app_id}/endpoint")).await;
    let endpoint_id = endpoints["data"][0]["id"].as_str().unwrap().to_owned();
    // The receiver has every request once its answers are sent; the attempts are recorded a
    // moment later, in a batch. Page only once they all are.
    let all = format!("/app/{app_id}/attempt/endpoint/{endpoint_id}?limit=250");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.get(&all).await.1["data"].as_array().map_or(0, Vec::len) < count {
        assert!(
            std::time::Instant::now() < deadline,
            "attempts not recorded in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let path = format!("/app/{app_id}/attempt/endpoint/{endpoint_id}?limit=250&with_msg=true");
    let mut seen = HashSet::new();
    let mut pages = 0;
    let mut query = path.clone();
    loop {
        let (status, page) = app.get(&query).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for attempt in page["data"].as_array().unwrap() {
            assert!(attempt["msg"]["payload"]["filler"].is_string(), "msg shown");
            seen.insert(attempt["id"].as_str().unwrap().to_owned());
        }
        if page["done"] == true {
            break;
        }
        query = format!("{path}&iterator={}", page["iterator"].as_str().unwrap());
    }
    assert_eq!(seen.len(), count, "every attempt once");
    assert!(pages > 1, "the attempts were split over {pages} pages");
}
