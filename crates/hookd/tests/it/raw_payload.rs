//! `transformationsParams.rawPayload`, which the official SDKs' `messageInRaw` (JS) and
//! `message_in_raw` (Python) send instead of `payload` (that one is then `{}`): the raw text
//! is the message's payload, stored, signed, delivered and returned byte for byte. What hookd
//! cannot send as it was meant (text that is not a JSON object, another content type) is a
//! 422 naming the field, and nothing is created; before, the raw text was dropped and `{}`
//! was sent in its place.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Receiver, TOKEN, TestApp, verify_signature};

const WAIT: Duration = Duration::from_secs(15);

/// Spacing and a number spelling that a re-serialiser would change.
const RAW: &str = "{\"b\": 1.50,\n  \"a\":[1, 2]}";

/// Posts `body` and returns the status and the answer's raw text.
async fn post_message(app: &TestApp, app_id: &str, body: &Value) -> (u16, String) {
    let response = app
        .http
        .post(app.url(&format!("/app/{app_id}/msg")))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .expect("request reaches hookd");
    let status = response.status().as_u16();
    (status, response.text().await.expect("response body"))
}

fn raw_message(transformations_params: Value) -> Value {
    json!({
        "eventType": "raw.sent",
        "payload": {},
        "transformationsParams": transformations_params,
    })
}

#[tokio::test]
async fn a_raw_payload_is_the_message_payload_byte_for_byte() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;

    for params in [
        json!({"rawPayload": RAW}),
        // `messageInRaw(type, text, "application/json")` names the type it already has.
        json!({"rawPayload": RAW, "headers": {"Content-Type": "application/json; charset=utf-8"}}),
    ] {
        let (status, answer) = post_message(&app, &app_id, &raw_message(params.clone())).await;
        assert_eq!(status, 202, "{params}: {answer}");
        assert!(
            answer.contains(&format!("\"payload\":{RAW}")),
            "{params}: the answer does not carry the raw payload as it was sent: {answer}"
        );
        let msg_id = serde_json::from_str::<Value>(&answer).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let response = app
            .http
            .get(app.url(&format!("/app/{app_id}/msg/{msg_id}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let read = response.text().await.unwrap();
        assert!(read.contains(&format!("\"payload\":{RAW}")), "GET: {read}");
    }

    let delivered = receiver.wait_for(2, WAIT).await;
    let secret = app.endpoint_secret(&app_id, &endpoint_id).await;
    for request in &delivered {
        assert_eq!(
            String::from_utf8_lossy(&request.body),
            RAW,
            "the delivered body"
        );
        assert!(
            request
                .header("content-type")
                .starts_with("application/json")
        );
        verify_signature(request, &secret);
    }
}

#[tokio::test]
async fn a_raw_payload_hookd_cannot_send_as_meant_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    let (status, application) = app.post("/app", json!({"name": "raw"})).await;
    assert_eq!(status, 201, "{application}");
    let app_id = application["id"].as_str().unwrap();
    let loc = |path: &[&str]| {
        let mut loc = vec!["body", "transformationsParams"];
        loc.extend(path);
        json!(loc)
    };
    let cases = [
        (json!({"rawPayload": "not json"}), loc(&["rawPayload"])),
        (json!({"rawPayload": "[1, 2]"}), loc(&["rawPayload"])),
        (json!({"rawPayload": "\"text\""}), loc(&["rawPayload"])),
        (
            json!({"rawPayload": "{\"a\":1,\"a\":2}"}),
            loc(&["rawPayload", "a"]),
        ),
        (json!({"rawPayload": 5}), loc(&["rawPayload"])),
        (
            json!({"rawPayload": "{}", "headers": {"content-type": "text/plain"}}),
            loc(&["headers", "content-type"]),
        ),
        (
            json!({"rawPayload": "{}", "headers": {"x-custom": "1"}}),
            loc(&["headers", "x-custom"]),
        ),
        (json!("not an object"), loc(&[])),
    ];
    for (params, expected) in cases {
        let (status, answer) = post_message(&app, app_id, &raw_message(params.clone())).await;
        assert_eq!(status, 422, "{params}: {answer}");
        let error: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(error["detail"][0]["loc"], expected, "{params}: {answer}");
    }
    let (status, listed) = app.get(&format!("/app/{app_id}/msg")).await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"], json!([]), "a refused message was stored");
}
