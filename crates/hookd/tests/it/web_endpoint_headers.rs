//! An endpoint's custom headers edited on its dashboard page: set, replace and remove, the
//! API's rules (reserved names, invalid names and values) refused with their reason, and a
//! credential's value never shown back.

use reqwest::header::COOKIE;

use crate::harness::{TOKEN, TestApp};
use crate::web_portal::{browser, csrf_of, pair, sign_in_at};

struct Page<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
    base: String,
}

impl Page<'_> {
    /// Posts a header form as htmx does; the status, `HX-Retarget` and the body.
    async fn post(&self, action: &str, form: &[(&str, &str)], csrf: bool) -> (u16, String, String) {
        let mut form = form.to_vec();
        if csrf {
            form.push(("csrf", &self.csrf));
        }
        let response = browser()
            .post(format!("{}{}/{action}", self.app.base, self.base))
            .header(COOKIE, &self.cookie)
            .header("hx-request", "true")
            .form(&form)
            .send()
            .await
            .expect("answer");
        let status = response.status().as_u16();
        let target = response
            .headers()
            .get("hx-retarget")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, target, response.text().await.unwrap())
    }

    async fn api_headers(&self, app_id: &str, endpoint_id: &str) -> serde_json::Value {
        let (status, body) = self
            .app
            .get(&format!("/app/{app_id}/endpoint/{endpoint_id}/headers"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

#[tokio::test]
async fn custom_headers_are_set_and_removed_on_the_endpoint_page_under_the_api_rules() {
    let app = TestApp::spawn().await;
    let (app_id, endpoint_id) = app.app_with_endpoint("https://example.com/hook").await;
    let (_, cookie) = sign_in_at(&app, "/login", TOKEN).await;
    let cookie = pair(&cookie.expect("cookie"));
    let base = format!("/apps/{app_id}/endpoints/{endpoint_id}");
    let csrf = csrf_of(&app, &base, &cookie).await;
    let page = Page {
        app: &app,
        cookie,
        csrf,
        base,
    };

    let (status, _, card) = page
        .post("headers", &[("name", "X-Team"), ("value", "core")], true)
        .await;
    assert_eq!(status, 200, "{card}");
    assert!(card.contains("X-Team") && card.contains("core"), "{card}");
    let (status, _, card) = page
        .post(
            "headers",
            &[("name", "Authorization"), ("value", "Bearer s3cret")],
            true,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        card.contains("Authorization") && !card.contains("s3cret"),
        "a credential is not shown"
    );
    // Another spelling of a name replaces it.
    let (status, _, card) = page
        .post("headers", &[("name", "x-team"), ("value", "edge")], true)
        .await;
    assert_eq!(status, 200);
    assert!(card.contains("edge") && !card.contains("core"), "{card}");

    for (name, value, reason) in [
        (
            "Content-Type",
            "text/plain",
            "this header is set by hookd and cannot be customized",
        ),
        (
            "svix-id",
            "msg_forged",
            "this header is set by hookd and cannot be customized",
        ),
        ("bad name", "x", "not a valid HTTP header name"),
        (
            "x-injected",
            "a\r\nHost: evil",
            "not a valid HTTP header value",
        ),
        ("", "x", "Give the header a name."),
    ] {
        let (status, target, answer) = page
            .post("headers", &[("name", name), ("value", value)], true)
            .await;
        assert_eq!(status, 422, "{name}: {answer}");
        assert!(answer.contains(reason), "{name}: {answer}");
        assert_eq!(
            target, "#custom-headers-result",
            "the refusal goes to the card's message box"
        );
    }
    let (status, _, _) = page
        .post("headers", &[("name", "X-Forged"), ("value", "1")], false)
        .await;
    assert_eq!(status, 403, "no CSRF token");

    let headers = page.api_headers(&app_id, &endpoint_id).await;
    assert_eq!(headers["headers"], serde_json::json!({"x-team": "edge"}));
    assert_eq!(headers["sensitive"], serde_json::json!(["Authorization"]));

    let (status, _, card) = page
        .post("headers/remove", &[("name", "X-TEAM")], true)
        .await;
    assert_eq!(status, 200);
    assert!(!card.contains("edge"), "{card}");
    let headers = page.api_headers(&app_id, &endpoint_id).await;
    assert_eq!(headers["headers"], serde_json::json!({}));
    assert_eq!(headers["sensitive"], serde_json::json!(["Authorization"]));

    // The endpoint's page lists what is left, the credential's value hidden.
    let shown = crate::web_portal::get(&app, &page.base, &page.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(shown.contains("Authorization") && !shown.contains("s3cret"));
}
