//! 404 before 422: a request that is both invalid and aimed at a missing application, endpoint
//! or message answers 404, as hookd did before the operations layer (the handlers then looked
//! up the target before they judged the input). Each case is also sent to records that exist,
//! where the same input is refused with 422, so the input really is invalid.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::TestApp;

/// One request: its method, its path with `{app}`, `{ep}` and `{msg}` placeholders, its body,
/// and the placeholders that name a missing record in the missing variant.
struct Case {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    missing: &'static [&'static str],
    /// The answer when those records are missing (404 but for one case kept at 422).
    expected_when_missing: u16,
}

fn case(
    method: Method,
    path: &'static str,
    body: Option<Value>,
    missing: &'static [&'static str],
) -> Case {
    Case {
        method,
        path,
        body,
        missing,
        expected_when_missing: 404,
    }
}

fn bad_window() -> Value {
    json!({"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"})
}

fn cases() -> Vec<Case> {
    let bad_url = || Some(json!({"url": "not a url"}));
    vec![
        // Bodies whose field rules fail.
        case(Method::POST, "/app/{app}/endpoint", bad_url(), &["app"]),
        case(Method::PUT, "/app/{app}/endpoint/{ep}", bad_url(), &["app"]),
        case(
            Method::PATCH,
            "/app/{app}/endpoint/{ep}",
            bad_url(),
            &["app"],
        ),
        case(
            Method::PATCH,
            "/app/{app}/endpoint/{ep}",
            Some(json!({"channels": ["not a channel!"]})),
            &["ep"],
        ),
        // The URL of a PATCH was judged before the endpoint was read, inside the write.
        Case {
            expected_when_missing: 422,
            ..case(
                Method::PATCH,
                "/app/{app}/endpoint/{ep}",
                bad_url(),
                &["ep"],
            )
        },
        case(
            Method::POST,
            "/app/{app}/endpoint/{ep}/recover",
            Some(bad_window()),
            &["app"],
        ),
        case(
            Method::POST,
            "/app/{app}/endpoint/{ep}/recover",
            Some(bad_window()),
            &["ep"],
        ),
        case(
            Method::POST,
            "/app/{app}/endpoint/{ep}/replay-missing",
            Some(bad_window()),
            &["ep"],
        ),
        case(
            Method::POST,
            "/app/{app}/replay",
            Some(bad_window()),
            &["app"],
        ),
        case(
            Method::POST,
            "/app/{app}/replay",
            Some(
                json!({"endpointId": "{ep}", "eventTypes": ["not a type!"], "since": "2024-01-01T00:00:00Z"}),
            ),
            &["ep"],
        ),
        case(
            Method::POST,
            "/app/{app}/msg/precheck/active",
            Some(json!({"eventType": "not a type!"})),
            &["app"],
        ),
        // Query strings that do not parse.
        case(Method::GET, "/app/{app}/endpoint?limit=0", None, &["app"]),
        case(
            Method::GET,
            "/app/{app}/msg?before=yesterday",
            None,
            &["app"],
        ),
        case(
            Method::GET,
            "/app/{app}/msg/{msg}/endpoint?order=sideways",
            None,
            &["msg"],
        ),
        case(
            Method::GET,
            "/app/{app}/attempt/msg/{msg}?status=9",
            None,
            &["msg"],
        ),
        case(
            Method::GET,
            "/app/{app}/attempt/msg/{msg}?status_code_class=7",
            None,
            &["app"],
        ),
        case(
            Method::GET,
            "/app/{app}/attempt/endpoint/{ep}?after=never",
            None,
            &["ep"],
        ),
        case(
            Method::GET,
            "/app/{app}/attempt/endpoint/{ep}?with_msg=maybe",
            None,
            &["app"],
        ),
        case(
            Method::GET,
            "/app/{app}/endpoint/{ep}/stats?since=yesterday",
            None,
            &["ep"],
        ),
        case(
            Method::GET,
            "/app/{app}/endpoint/{ep}/stats/window?minutes=0",
            None,
            &["ep"],
        ),
        case(
            Method::GET,
            "/app/{app}/endpoint/{ep}/attempt-stats?since=2024-01-02T00:00:00Z&until=2024-01-01T00:00:00Z",
            None,
            &["ep"],
        ),
        case(
            Method::GET,
            "/app/{app}/endpoint/{ep}/attempt-stats?until=never",
            None,
            &["app"],
        ),
        case(
            Method::GET,
            "/app/{app}/endpoint/{ep}/msg?status=5",
            None,
            &["ep"],
        ),
        case(
            Method::GET,
            "/app/{app}/endpoint/{ep}/msg?with_content=maybe",
            None,
            &["app"],
        ),
        case(
            Method::GET,
            "/app/{app}/dead-letter?limit=x",
            None,
            &["app"],
        ),
        // A filter's endpoint is looked up with the path's records, as before.
        case(
            Method::GET,
            "/app/{app}/dead-letter?endpoint_id={ep}&before=yesterday",
            None,
            &["ep"],
        ),
        case(
            Method::GET,
            "/app/{app}/attempt/msg/{msg}?endpoint_id={ep}&limit=0",
            None,
            &["ep"],
        ),
    ]
}

/// `text` with each placeholder replaced by an existing record, or by a missing one when it is
/// in `missing`.
fn fill(text: &str, names: &[(&str, &str)], missing: &[&str]) -> String {
    let mut filled = text.to_owned();
    for (placeholder, existing) in names {
        let value = if missing.contains(placeholder) {
            format!("{placeholder}_missing")
        } else {
            (*existing).to_owned()
        };
        filled = filled.replace(&format!("{{{placeholder}}}"), &value);
    }
    filled
}

#[tokio::test]
async fn a_missing_target_is_answered_before_invalid_input() {
    let app = TestApp::spawn().await;
    let (app_id, endpoint_id) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let msg_id = app.send_message(&app_id, json!({"n": 1})).await;
    let names = [
        ("app", app_id.as_str()),
        ("ep", endpoint_id.as_str()),
        ("msg", msg_id.as_str()),
    ];
    let mut wrong = Vec::new();
    for case in cases() {
        let body = |missing: &[&str]| {
            case.body.as_ref().map(|body| {
                serde_json::from_str(&fill(&body.to_string(), &names, missing)).unwrap()
            })
        };
        let present_path = fill(case.path, &names, &[]);
        let (status, answer) = app
            .request(case.method.clone(), &present_path, body(&[]))
            .await;
        if status != 422 {
            wrong.push(format!(
                "{} {present_path}: {status} {answer} (expected 422)",
                case.method
            ));
        }
        let missing_path = fill(case.path, &names, case.missing);
        let (status, answer) = app
            .request(case.method.clone(), &missing_path, body(case.missing))
            .await;
        let shape_ok = match case.expected_when_missing {
            404 => answer["code"] == "not_found",
            _ => answer["detail"].is_array(),
        };
        if status != case.expected_when_missing || !shape_ok {
            wrong.push(format!(
                "{} {missing_path}: {status} {answer} (expected {})",
                case.method, case.expected_when_missing
            ));
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    // Nothing was created by any of them.
    let (_, endpoints) = app.get(&format!("/app/{app_id}/endpoint")).await;
    assert_eq!(
        endpoints["data"].as_array().unwrap().len(),
        1,
        "{endpoints}"
    );
    let (_, tasks) = app.get("/background-task").await;
    assert_eq!(tasks["data"], json!([]), "{tasks}");
}

#[tokio::test]
async fn an_attempt_is_looked_up_before_its_query_is_judged() {
    let app = TestApp::spawn().await;
    let (app_id, _) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let msg_id = app.send_message(&app_id, json!({"n": 1})).await;
    let (status, answer) = app
        .get(&format!(
            "/app/{app_id}/msg/{msg_id}/attempt/atmpt_missing?with_msg=maybe"
        ))
        .await;
    assert_eq!(
        (status, &answer["code"]),
        (404, &json!("not_found")),
        "{answer}"
    );
}
