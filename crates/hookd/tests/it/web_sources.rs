//! The dashboard's inbound pages over real HTTP: the source list, a source's ingest URL and
//! configuration with its secrets shown only by a POST that asks (with the CSRF token), its
//! request log with verdicts and reasons, and the replay of an accepted request; none of it
//! for a portal session.

use std::time::Duration;

use reqwest::header::COOKIE;
use serde_json::json;

use crate::harness::{Receiver, TOKEN, TestApp};
use crate::inbound::{SOURCES, deliver, now, sign_stripe, source_with_endpoint};
use crate::web_portal::{
    browser, create_application, csrf_of, get, pair, portal_token, sign_in_at,
};

async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> (u16, String) {
    let response = browser()
        .post(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn sources_show_their_ingest_url_secrets_on_request_and_their_request_log() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let secret = "whsec_dashboard_source_secret";
    let (source, url, _) =
        source_with_endpoint(&app, "stripe", json!({"secret": secret}), &receiver).await;
    let id = source["id"].as_str().unwrap();
    let body = br#"{"id":"evt_web","type":"charge.succeeded"}"#;
    assert_eq!(
        deliver(&url, &sign_stripe(secret, now(), body, ""), body)
            .await
            .0,
        200
    );
    assert_eq!(
        deliver(&url, &sign_stripe("wrong", now(), body, ""), body)
            .await
            .0,
        401
    );
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let (_, cookie) = sign_in_at(&app, "/login", TOKEN).await;
    let cookie = pair(&cookie.expect("admin cookie"));
    let list = get(&app, "/sources", &cookie).await;
    assert_eq!(list.status(), 200);
    let list = list.text().await.unwrap();
    assert!(list.contains(id) && list.contains(&url), "{list}");

    let page = get(&app, &format!("/sources/{id}"), &cookie).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains(&url), "the ingest URL");
    assert!(
        page.contains("accepted") && page.contains("rejected"),
        "both verdicts"
    );
    assert!(
        page.contains("no_matching_signature"),
        "the rejection's reason"
    );
    assert!(!page.contains(secret), "the secret is not on the page");

    let csrf = csrf_of(&app, &format!("/sources/{id}"), &cookie).await;
    let secrets_path = format!("/sources/{id}/secrets");
    let (status, refused) = post(&app, &secrets_path, &cookie, &[]).await;
    assert_eq!(status, 403);
    assert!(!refused.contains(secret));
    let (status, revealed) = post(&app, &secrets_path, &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(revealed.contains(secret), "{revealed}");

    let fragment = get(&app, &format!("/sources/{id}/requests"), &cookie).await;
    assert_eq!(fragment.status(), 200);
    assert!(fragment.text().await.unwrap().contains("source-requests"));

    // Replay: the accepted request goes to the ingest endpoint again; the rejected one cannot.
    let (_, requests) = app
        .ingest(
            reqwest::Method::GET,
            &format!("{SOURCES}/{id}/request"),
            None,
        )
        .await;
    let request_with = |verdict: &str| {
        requests["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|request| request["verdict"] == verdict)
            .and_then(|request| request["id"].as_str())
            .expect("a request with that verdict")
            .to_owned()
    };
    let replay = |request_id: String| format!("/sources/{id}/requests/{request_id}/replay");
    let (status, answer) = post(
        &app,
        &replay(request_with("accepted")),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("queued to 1 ingest endpoint."), "{answer}");
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let (status, answer) = post(
        &app,
        &replay(request_with("rejected")),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer.contains("only an accepted request can be replayed"),
        "{answer}"
    );

    let missing = get(&app, "/sources/src_missing", &cookie).await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_portal_session_sees_no_source() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (source, _, _) =
        source_with_endpoint(&app, "stripe", json!({"secret": "whsec_x"}), &receiver).await;
    let id = source["id"].as_str().unwrap();
    let own = create_application(&app, "Own").await;
    let token = portal_token(&app, &own).await;
    let (_, cookie) = sign_in_at(&app, "/portal/login", &token).await;
    let cookie = pair(&cookie.expect("portal cookie"));
    for path in [
        "/sources".to_owned(),
        format!("/sources/{id}"),
        format!("/sources/{id}/requests"),
    ] {
        assert_eq!(get(&app, &path, &cookie).await.status(), 403, "{path}");
    }
    let home = get(&app, &format!("/apps/{own}"), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !home.contains("Inbound sources"),
        "no link to the admin's pages"
    );
    let csrf = csrf_of(&app, &format!("/apps/{own}"), &cookie).await;
    let (status, answer) = post(
        &app,
        &format!("/sources/{id}/secrets"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 403);
    assert!(!answer.contains("whsec_x"));
}
