//! The dashboard's security rules over real HTTP: the login, the session cookie's flags, the
//! security headers, CSRF and origin checks on state changes, idle and absolute expiry, logout,
//! and a 404 page for a missing record. (The pages themselves are driven in Chromium by
//! `compat/browser`.)

use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::harness::{TOKEN, TestApp, TestClock};

/// A browser-like client that follows no redirects, so each answer can be checked.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// Signs in with `token`; the answer and the `Set-Cookie` value, if any.
async fn sign_in(app: &TestApp, token: &str) -> (u16, Option<String>) {
    let response = browser()
        .post(format!("{}/login", app.base))
        .form(&[("token", token)])
        .send()
        .await
        .expect("login answers");
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|value| value.to_str().expect("ascii cookie").to_owned());
    (response.status().as_u16(), cookie)
}

/// The `name=value` part of a `Set-Cookie` header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("a pair").to_owned()
}

async fn get_page(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    browser()
        .get(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("page answers")
}

/// The session's CSRF token, read from the hidden field of a page.
async fn csrf_token(app: &TestApp, cookie: &str) -> String {
    let page = get_page(app, "/", cookie).await.text().await.expect("page");
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).expect("a csrf field") + marker.len();
    page[start..start + 64].to_owned()
}

async fn application_names(app: &TestApp) -> Vec<String> {
    let (status, body) = app.get("/app").await;
    assert_eq!(status, 200);
    body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|app| app["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn the_dashboard_opens_only_with_a_session_from_the_admin_token() {
    let app = TestApp::spawn().await;
    let anonymous = get_page(&app, "/", "").await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()[LOCATION], "/login");

    for wrong in ["wrong-token", &TOKEN[..TOKEN.len() - 1], ""] {
        let (status, cookie) = sign_in(&app, wrong).await;
        assert!(status == 401 || status == 422, "{wrong:?}: {status}");
        assert_eq!(cookie, None, "{wrong:?} starts no session");
    }
    let forged = get_page(&app, "/", &format!("hookd_session={}", "0".repeat(64))).await;
    assert_eq!(forged.status(), 303, "an unknown session id opens nothing");

    let (status, cookie) = sign_in(&app, TOKEN).await;
    assert_eq!(status, 303);
    let cookie = cookie.expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie} has {flag}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");

    let page = get_page(&app, "/", &cookie_pair(&cookie)).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers();
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(page.text().await.unwrap().contains("Applications"));
}

#[tokio::test]
async fn a_state_change_needs_the_csrf_token_and_this_origin() {
    let app = TestApp::spawn().await;
    let (_, cookie) = sign_in(&app, TOKEN).await;
    let cookie = cookie_pair(&cookie.expect("cookie"));
    let csrf = csrf_token(&app, &cookie).await;
    let post = |form: Vec<(&'static str, String)>, headers: Vec<(&'static str, String)>| {
        let mut request = browser()
            .post(format!("{}/apps", app.base))
            .header(COOKIE, cookie.clone())
            .form(&form);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move { request.send().await.expect("answer").status().as_u16() }
    };

    let refused = [
        (vec![("name", "NoToken".to_owned())], vec![]),
        (
            vec![("name", "WrongToken".to_owned()), ("csrf", "0".repeat(64))],
            vec![],
        ),
        (
            vec![("name", "OtherSite".to_owned()), ("csrf", csrf.clone())],
            vec![("origin", "http://evil.example".to_owned())],
        ),
        (
            vec![("name", "CrossSite".to_owned())],
            vec![
                ("x-csrf-token", csrf.clone()),
                ("sec-fetch-site", "cross-site".to_owned()),
            ],
        ),
    ];
    for (form, headers) in refused {
        let what = format!("{form:?} {headers:?}");
        assert_eq!(post(form, headers).await, 403, "{what}");
    }
    assert!(
        application_names(&app).await.is_empty(),
        "nothing was created"
    );

    assert_eq!(
        post(
            vec![("name", "ByField".to_owned()), ("csrf", csrf.clone())],
            vec![]
        )
        .await,
        303
    );
    assert_eq!(
        post(
            vec![("name", "ByHeader".to_owned())],
            vec![
                ("x-csrf-token", csrf.clone()),
                ("sec-fetch-site", "same-origin".to_owned())
            ]
        )
        .await,
        303
    );
    let mut names = application_names(&app).await;
    names.sort();
    assert_eq!(names, ["ByField", "ByHeader"]);

    // A bad input is refused with a reason and creates nothing.
    let empty = browser()
        .post(format!("{}/apps", app.base))
        .header(COOKIE, cookie.clone())
        .form(&[("name", " "), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 422);
    assert!(empty.text().await.unwrap().contains("needs a name"));
    assert_eq!(application_names(&app).await.len(), 2);
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_lifetime() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(
        |config| {
            config.dashboard_idle_timeout = Duration::from_secs(600);
            config.dashboard_session_lifetime = Duration::from_secs(3600);
        },
        clock.dependencies(),
    )
    .await;
    let start = clock.instant();

    let (_, idle) = sign_in(&app, TOKEN).await;
    let idle = cookie_pair(&idle.unwrap());
    clock.advance_to(start + Duration::from_secs(601));
    assert_eq!(
        get_page(&app, "/", &idle).await.status(),
        303,
        "idle too long"
    );

    // A busy session lives until its lifetime ends.
    let (_, busy) = sign_in(&app, TOKEN).await;
    let busy = cookie_pair(&busy.unwrap());
    for minutes in [9, 18, 27, 36, 45, 54] {
        clock.advance_to(start + Duration::from_secs(601 + minutes * 60));
        assert_eq!(
            get_page(&app, "/", &busy).await.status(),
            200,
            "{minutes} min"
        );
    }
    clock.advance_to(start + Duration::from_secs(601 + 3601));
    assert_eq!(
        get_page(&app, "/", &busy).await.status(),
        303,
        "past its lifetime"
    );
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let (_, cookie) = sign_in(&app, TOKEN).await;
    let cookie = cookie_pair(&cookie.unwrap());
    let csrf = csrf_token(&app, &cookie).await;
    let without_token = browser()
        .post(format!("{}/logout", app.base))
        .header(COOKIE, cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        without_token.status(),
        403,
        "logout needs the CSRF token too"
    );
    let logout = browser()
        .post(format!("{}/logout", app.base))
        .header(COOKIE, cookie.clone())
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    assert!(
        logout.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(get_page(&app, "/", &cookie).await.status(), 303);
}

#[tokio::test]
async fn a_missing_record_is_a_404_page_and_other_paths_are_untouched() {
    let app = TestApp::spawn().await;
    let (_, cookie) = sign_in(&app, TOKEN).await;
    let cookie = cookie_pair(&cookie.unwrap());
    let missing = get_page(&app, "/apps/app_missing", &cookie).await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("Not found"));
    // Paths the dashboard does not know answer as before: an empty 404.
    for path in ["/nothing-here", "/ingest/unknown"] {
        let response = get_page(&app, path, "").await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.text().await.unwrap().is_empty(), "{path}");
    }
}

/// The token of a portal link for `app_id`, issued through Svix's call, and the link.
async fn portal_link(app: &TestApp, app_id: &str, read_only: bool) -> (String, String) {
    let (status, access) = app
        .post(
            &format!("/auth/app-portal-access/{app_id}"),
            serde_json::json!({"readOnly": read_only}),
        )
        .await;
    assert_eq!(status, 200, "{access}");
    let token = access["token"].as_str().expect("token").to_owned();
    let url = access["url"].as_str().expect("url").to_owned();
    (token, url)
}

async fn create_application(app: &TestApp, name: &str) -> String {
    let (status, created) = app.post("/app", serde_json::json!({"name": name})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

/// A form post of a session, with its CSRF token.
async fn post_form(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> u16 {
    browser()
        .post(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .expect("answer")
        .status()
        .as_u16()
}

async fn csrf_of_page(app: &TestApp, path: &str, cookie: &str) -> String {
    let page = get_page(app, path, cookie)
        .await
        .text()
        .await
        .expect("page");
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).expect("a csrf field") + marker.len();
    page[start..start + 64].to_owned()
}

#[tokio::test]
async fn a_portal_link_opens_its_application_only_and_only_while_its_token_lives() {
    let app = TestApp::spawn().await;
    let own = create_application(&app, "Own").await;
    let other = create_application(&app, "Other").await;
    let (token, url) = portal_link(&app, &own, false).await;
    assert!(
        url.ends_with(&format!("/portal/login#token={token}")),
        "{url}"
    );

    // The page the link opens never holds the token: browsers keep the fragment to themselves,
    // and the page's script moves it from the address bar into the login form.
    let portal_page = get_page(&app, "/portal/login", "").await;
    assert_eq!(portal_page.status(), 200);
    let portal_page = portal_page.text().await.unwrap();
    assert!(portal_page.contains("/assets/portal-login.js"));
    assert!(!portal_page.contains("appsk_"));

    let (status, cookie) = sign_in(&app, &token).await;
    assert_eq!(status, 303);
    let cookie = cookie_pair(&cookie.expect("a session cookie"));
    let home = get_page(&app, "/", &cookie).await;
    assert_eq!(home.headers()[LOCATION], format!("/apps/{own}").as_str());
    assert_eq!(
        get_page(&app, &format!("/apps/{own}"), &cookie)
            .await
            .status(),
        200
    );
    for (path, why) in [
        (format!("/apps/{other}"), "another application"),
        (
            format!("/apps/{other}/messages"),
            "another application's messages",
        ),
        ("/tasks".to_owned(), "the environment's task list"),
    ] {
        let status = get_page(&app, &path, &cookie).await.status();
        assert_eq!(status, 403, "{why}");
    }

    // A change aimed at another application is refused even with the session's CSRF token.
    let csrf = csrf_of_page(&app, &format!("/apps/{own}"), &cookie).await;
    let endpoint = [("url", "https://example.com/hook"), ("csrf", csrf.as_str())];
    let refused = post_form(
        &app,
        &format!("/apps/{other}/endpoints"),
        &cookie,
        &endpoint,
    )
    .await;
    assert_eq!(refused, 403);
    let (_, endpoints) = app.get(&format!("/app/{other}/endpoint")).await;
    assert_eq!(
        endpoints["data"],
        serde_json::json!([]),
        "nothing was created"
    );

    // When the token expires (expire-all), its session ends with it.
    let (status, _) = app
        .post(
            &format!("/auth/app/{own}/expire-all"),
            serde_json::json!({}),
        )
        .await;
    assert!((200..300).contains(&status), "{status}");
    let after = get_page(&app, &format!("/apps/{own}"), &cookie).await;
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()[LOCATION], "/login");
    let (status, cookie) = sign_in(&app, &token).await;
    assert_eq!(
        (status, cookie),
        (401, None),
        "an expired link opens nothing"
    );
}

#[tokio::test]
async fn a_read_only_portal_session_reads_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let own = create_application(&app, "Own").await;
    let (token, _) = portal_link(&app, &own, true).await;
    let (_, cookie) = sign_in(&app, &token).await;
    let cookie = cookie_pair(&cookie.expect("a session cookie"));
    assert_eq!(
        get_page(&app, &format!("/apps/{own}"), &cookie)
            .await
            .status(),
        200
    );
    let csrf = csrf_of_page(&app, &format!("/apps/{own}"), &cookie).await;
    let endpoint = [("url", "https://example.com/hook"), ("csrf", csrf.as_str())];
    assert_eq!(
        post_form(&app, &format!("/apps/{own}/endpoints"), &cookie, &endpoint).await,
        403
    );
    let (_, endpoints) = app.get(&format!("/app/{own}/endpoint")).await;
    assert_eq!(
        endpoints["data"],
        serde_json::json!([]),
        "nothing was created"
    );
    // Signing out is the one change it may make.
    assert_eq!(
        post_form(&app, "/logout", &cookie, &[("csrf", csrf.as_str())]).await,
        303
    );
}
