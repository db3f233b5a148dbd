//! The app portal as an embeddable, branded page, over real HTTP: which pages may be framed
//! and by whom (`--portal-frame-ancestors`), the embedded session's cookie, CSRF and origin
//! checks with that cookie, and the brand (`--portal-name`, `--portal-logo-url`,
//! `--portal-primary-color`). The browser half is `compat/browser`.

use hookd::config::Config;
use hookd::domain::portal::{BrandColor, PortalLogo, parse_frame_ancestors};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::harness::{TOKEN, TestApp};

const ANCESTORS: &str = "https://saas.example http://127.0.0.2:9999";

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

async fn embeddable() -> TestApp {
    TestApp::spawn_with(|config| {
        config.portal.frame_ancestors = parse_frame_ancestors(ANCESTORS).unwrap();
    })
    .await
}

pub(crate) async fn create_application(app: &TestApp, name: &str) -> String {
    let (status, created) = app.post("/app", serde_json::json!({"name": name})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

/// An endpoint of `app_id` (never sent to in these tests); its id.
async fn create_endpoint(app: &TestApp, app_id: &str) -> String {
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            serde_json::json!({"url": "https://example.com/hook"}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn portal_token(app: &TestApp, app_id: &str) -> String {
    let (status, access) = app
        .post(
            &format!("/auth/app-portal-access/{app_id}"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{access}");
    access["token"].as_str().expect("token").to_owned()
}

/// Posts `token` to a login form (`/login` or `/portal/login`): status and `Set-Cookie`.
pub(crate) async fn sign_in_at(app: &TestApp, path: &str, token: &str) -> (u16, Option<String>) {
    let response = browser()
        .post(format!("{}{path}", app.base))
        .header("sec-fetch-site", "same-origin")
        .form(&[("token", token)])
        .send()
        .await
        .expect("login answers");
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|value| value.to_str().expect("ascii").to_owned());
    (response.status().as_u16(), cookie)
}

pub(crate) fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("pair").to_owned()
}

pub(crate) async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    browser()
        .get(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("answer")
}

fn frame_ancestors(response: &reqwest::Response) -> String {
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    policy
        .split(';')
        .map(str::trim)
        .find_map(|directive| directive.strip_prefix("frame-ancestors "))
        .unwrap_or_else(|| panic!("no frame-ancestors in {policy}"))
        .to_owned()
}

pub(crate) async fn csrf_of(app: &TestApp, path: &str, cookie: &str) -> String {
    let page = get(app, path, cookie).await.text().await.unwrap();
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).expect("a csrf field") + marker.len();
    page[start..start + 64].to_owned()
}

#[tokio::test]
async fn only_portal_pages_may_be_framed_and_only_by_the_configured_sites() {
    let app = embeddable().await;
    let own = create_application(&app, "Own").await;
    let token = portal_token(&app, &own).await;

    let portal_login = get(&app, "/portal/login", "").await;
    assert_eq!(frame_ancestors(&portal_login), ANCESTORS);
    assert!(!portal_login.headers().contains_key("x-frame-options"));

    let (status, portal_cookie) = sign_in_at(&app, "/portal/login", &token).await;
    assert_eq!(status, 303);
    let portal_cookie = portal_cookie.expect("a portal session cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=None",
        "Secure",
        "Partitioned",
        "Path=/",
    ] {
        assert!(
            portal_cookie.contains(attribute),
            "{portal_cookie} has {attribute}"
        );
    }
    let portal_page = get(&app, &format!("/apps/{own}"), &pair(&portal_cookie)).await;
    assert_eq!(portal_page.status(), 200);
    assert_eq!(frame_ancestors(&portal_page), ANCESTORS);
    // A portal session's error pages are portal pages too.
    let refused = get(&app, "/tasks", &pair(&portal_cookie)).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(frame_ancestors(&refused), ANCESTORS);

    // The admin's pages stay unframeable, and the admin's cookie strict.
    let (status, admin_cookie) = sign_in_at(&app, "/login", TOKEN).await;
    assert_eq!(status, 303);
    let admin_cookie = admin_cookie.expect("an admin session cookie");
    assert!(admin_cookie.contains("SameSite=Strict"), "{admin_cookie}");
    assert!(!admin_cookie.contains("SameSite=None"), "{admin_cookie}");
    for (path, cookie) in [
        ("/", pair(&admin_cookie)),
        (&format!("/apps/{own}"), pair(&admin_cookie)),
        ("/login", String::new()),
        ("/assets/hookd.css", String::new()),
    ] {
        let response = get(&app, path, &cookie).await;
        assert_eq!(frame_ancestors(&response), "'none'", "{path}");
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
    }

    // The portal's login takes application tokens only.
    let (status, cookie) = sign_in_at(&app, "/portal/login", TOKEN).await;
    assert_eq!((status, cookie), (401, None));
    let (status, cookie) = sign_in_at(&app, "/portal/login", "appsk_unknown").await;
    assert_eq!((status, cookie), (401, None));
}

#[tokio::test]
async fn without_frame_ancestors_no_page_may_be_framed_and_the_portal_cookie_is_strict() {
    let app = TestApp::spawn().await;
    let own = create_application(&app, "Own").await;
    let token = portal_token(&app, &own).await;
    let portal_login = get(&app, "/portal/login", "").await;
    assert_eq!(frame_ancestors(&portal_login), "'none'");
    assert_eq!(portal_login.headers()["x-frame-options"], "DENY");
    let (status, cookie) = sign_in_at(&app, "/portal/login", &token).await;
    assert_eq!(status, 303);
    let cookie = cookie.expect("cookie");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Partitioned"), "{cookie}");
    let page = get(&app, &format!("/apps/{own}"), &pair(&cookie)).await;
    assert_eq!(frame_ancestors(&page), "'none'");
}

/// With a `SameSite=None` cookie a cross-site page can make the browser send the session, so
/// the CSRF token and the origin check are what refuse its requests.
#[tokio::test]
async fn an_embedded_session_changes_nothing_without_its_csrf_token_from_this_origin() {
    let app = embeddable().await;
    let own = create_application(&app, "Own").await;
    let token = portal_token(&app, &own).await;
    let (_, cookie) = sign_in_at(&app, "/portal/login", &token).await;
    let cookie = pair(&cookie.expect("cookie"));
    let csrf = csrf_of(&app, &format!("/apps/{own}"), &cookie).await;
    let create = |csrf: Option<&str>, site: Option<&'static str>| {
        let mut form = vec![("url", "https://example.com/hook".to_owned())];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf.to_owned()));
        }
        let mut request = browser()
            .post(format!("{}/apps/{own}/endpoints", app.base))
            .header(COOKIE, cookie.clone())
            .form(&form);
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        async move { request.send().await.expect("answer").status().as_u16() }
    };
    for (csrf, site, why) in [
        (None, Some("cross-site"), "a forged form from another site"),
        (None, Some("same-origin"), "no token, even from this origin"),
        (Some("0".repeat(64)), None, "a wrong token"),
        (
            Some(csrf.clone()),
            Some("cross-site"),
            "the right token from another site",
        ),
        (
            Some(csrf.clone()),
            Some("same-site"),
            "the right token from a sibling site",
        ),
    ] {
        assert_eq!(create(csrf.as_deref(), site).await, 403, "{why}");
    }
    let (_, endpoints) = app.get(&format!("/app/{own}/endpoint")).await;
    assert_eq!(
        endpoints["data"],
        serde_json::json!([]),
        "nothing was created"
    );

    // `Sec-Fetch-Site: none` is a request the user started (a typed address, a bookmark),
    // which no other site can make a browser send: with the token it goes through.
    assert_eq!(create(Some(&csrf), Some("none")).await, 303);
    assert_eq!(create(Some(&csrf), Some("same-origin")).await, 303);
    let (_, endpoints) = app.get(&format!("/app/{own}/endpoint")).await;
    assert_eq!(endpoints["data"].as_array().unwrap().len(), 2);

    // The login refuses another site's form too (login CSRF).
    let forged_login = browser()
        .post(format!("{}/portal/login", app.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_login.status(), 403);
    assert!(!forged_login.headers().contains_key(SET_COOKIE));
}

#[tokio::test]
async fn a_framed_request_without_a_session_lands_on_the_portal_page() {
    let app = embeddable().await;
    let framed = browser()
        .get(format!("{}/apps/app_x", app.base))
        .header("sec-fetch-dest", "iframe")
        .send()
        .await
        .unwrap();
    assert_eq!(framed.status(), 303);
    assert_eq!(framed.headers()[LOCATION], "/portal/login?ended");
    let page = get(&app, "/portal/login?ended", "").await;
    assert_eq!(frame_ancestors(&page), ANCESTORS);
    let text = page.text().await.unwrap();
    assert!(text.contains("portal session has ended"), "{text}");
    assert!(!text.contains("portal-login.js"), "nothing to sign in with");
    let top_level = get(&app, "/apps/app_x", "").await;
    assert_eq!(top_level.headers()[LOCATION], "/login");
}

#[tokio::test]
async fn a_portal_session_signs_out_to_the_portal_page() {
    let app = embeddable().await;
    let own = create_application(&app, "Own").await;
    let token = portal_token(&app, &own).await;
    let (_, cookie) = sign_in_at(&app, "/portal/login", &token).await;
    let cookie = pair(&cookie.expect("cookie"));
    let csrf = csrf_of(&app, &format!("/apps/{own}"), &cookie).await;
    let logout = browser()
        .post(format!("{}/logout", app.base))
        .header(COOKIE, cookie.clone())
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    assert_eq!(logout.headers()[LOCATION], "/portal/login?ended");
    let cleared = logout.headers()[SET_COOKIE].to_str().unwrap();
    // A partitioned cookie is only replaced by one with the same attributes.
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Partitioned"),
        "{cleared}"
    );
    assert_eq!(
        get(&app, &format!("/apps/{own}"), &cookie).await.status(),
        303
    );
}

#[tokio::test]
async fn the_portal_wears_the_brand_and_the_dashboard_does_not() {
    let logo_dir = tempfile::tempdir().unwrap();
    let logo_path = logo_dir.path().join("logo.svg");
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="#0a7d5a"/></svg>"##;
    std::fs::write(&logo_path, svg).unwrap();
    let app = TestApp::spawn_with(|config| {
        config.portal.name = Some("Acme Cloud".to_owned());
        config.portal.primary_color = Some(BrandColor::parse("#0a7d5a").unwrap());
        config.portal.logo = Some(PortalLogo::File(logo_path.clone()));
    })
    .await;
    let own = create_application(&app, "Own").await;
    let token = portal_token(&app, &own).await;
    let (_, cookie) = sign_in_at(&app, "/portal/login", &token).await;
    let cookie = pair(&cookie.expect("cookie"));

    let portal = get(&app, &format!("/apps/{own}"), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(portal.contains("Acme Cloud"), "the name");
    assert!(
        portal.contains(r#"href="/assets/brand.css""#),
        "the colour's stylesheet"
    );
    assert!(portal.contains(r#"src="/assets/portal-logo""#), "the logo");
    assert!(!portal.contains("style="), "no inline style");
    let login = get(&app, "/portal/login", "").await.text().await.unwrap();
    assert!(login.contains("Acme Cloud") && login.contains("/assets/brand.css"));

    let css = get(&app, "/assets/brand.css", "").await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.text().await.unwrap().contains("--primary: #0a7d5a;"));
    let logo = get(&app, "/assets/portal-logo", "").await;
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert_eq!(logo.text().await.unwrap(), svg);

    let (_, admin) = sign_in_at(&app, "/login", TOKEN).await;
    let dashboard = get(&app, "/", &pair(&admin.unwrap()))
        .await
        .text()
        .await
        .unwrap();
    assert!(!dashboard.contains("Acme Cloud") && !dashboard.contains("brand.css"));
}

#[tokio::test]
async fn a_remote_logo_widens_only_the_portal_image_policy() {
    let app = TestApp::spawn_with(|config| {
        config.portal.logo = Some(PortalLogo::parse("https://cdn.saas.example/logo.png").unwrap());
    })
    .await;
    let portal = get(&app, "/portal/login", "").await;
    let policy = portal.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("img-src 'self' data: https://cdn.saas.example;"),
        "{policy}"
    );
    assert!(
        portal
            .text()
            .await
            .unwrap()
            .contains(r#"src="https://cdn.saas.example/logo.png""#)
    );
    let login = get(&app, "/login", "").await;
    let policy = login.headers()["content-security-policy"].to_str().unwrap();
    assert!(!policy.contains("cdn.saas.example"), "{policy}");
}

#[test]
fn bad_portal_flags_are_refused_with_what_to_write() {
    for (flags, expected) in [
        (["--portal-primary-color", "blue"], "six hex digits"),
        (["--portal-primary-color", "#12345"], "six hex digits"),
        (
            ["--portal-frame-ancestors", "example.com"],
            "scheme://host[:port]",
        ),
        (
            ["--portal-frame-ancestors", "https://a.example;script-src"],
            "scheme://host[:port]",
        ),
        (["--portal-logo-url", "javascript://x"], "https:// URL"),
    ] {
        let refused = Config::from_serve_flags(flags, 4096)
            .unwrap_err()
            .to_string();
        assert!(refused.contains(flags[0]), "{refused}");
        assert!(refused.contains(expected), "{flags:?}: {refused}");
    }
    let config = Config::from_serve_flags(
        [
            "--portal-frame-ancestors",
            "https://a.example,https://b.example",
            "--portal-name",
            " Acme ",
            "--portal-primary-color",
            "#0A7D5A",
        ],
        4096,
    )
    .unwrap();
    assert_eq!(config.portal.frame_ancestors.len(), 2);
    assert_eq!(config.portal.name.as_deref(), Some("Acme"));
    assert_eq!(config.portal.primary_color.unwrap().to_string(), "#0a7d5a");
}

/// A portal session has its token's capabilities (and feature flags): a `[ViewBase]` session
/// reads but creates no endpoint and reveals no secret; one with `ManageEndpoint` does both;
/// the event-type page lists only what the token's flags show.
#[tokio::test]
async fn a_portal_session_has_its_tokens_capabilities_and_flags() {
    let app = TestApp::spawn().await;
    let own = create_application(&app, "Own").await;
    let (status, created) = app
        .post(
            "/event-type",
            serde_json::json!({"name": "hidden.kind", "description": "d", "featureFlag": "beta"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let plain = serde_json::json!({"name": "plain.kind", "description": "d"});
    assert_eq!(app.post("/event-type", plain).await.0, 201);
    let endpoint_id = create_endpoint(&app, &own).await;
    for (capabilities, expected) in [
        (vec!["ViewBase"], 403),
        (vec!["ViewBase", "ManageEndpoint"], 200),
    ] {
        let (status, access) = app
            .post(
                &format!("/auth/app-portal-access/{own}"),
                serde_json::json!({"capabilities": capabilities}),
            )
            .await;
        assert_eq!(status, 200, "{access}");
        let (_, cookie) =
            sign_in_at(&app, "/portal/login", access["token"].as_str().unwrap()).await;
        let cookie = pair(&cookie.expect("cookie"));
        assert_eq!(
            get(&app, &format!("/apps/{own}"), &cookie).await.status(),
            200
        );
        let csrf = csrf_of(&app, &format!("/apps/{own}"), &cookie).await;
        let post = |path: String, form: Vec<(&'static str, String)>| {
            let request = browser()
                .post(format!("{}{path}", app.base))
                .header(COOKIE, cookie.clone())
                .header("sec-fetch-site", "same-origin")
                .form(&form);
            async move { request.send().await.expect("answer").status().as_u16() }
        };
        let secret = post(
            format!("/apps/{own}/endpoints/{endpoint_id}/secret"),
            vec![("csrf", csrf.clone())],
        )
        .await;
        assert_eq!(secret, expected, "{capabilities:?}: reveal the secret");
        let create = post(
            format!("/apps/{own}/endpoints"),
            vec![
                ("csrf", csrf.clone()),
                ("url", "https://example.com/new".to_owned()),
            ],
        )
        .await;
        let created = if expected == 200 { 303 } else { 403 };
        assert_eq!(create, created, "{capabilities:?}: create an endpoint");
        let listing = get(&app, "/event-types", &cookie)
            .await
            .text()
            .await
            .unwrap();
        assert!(listing.contains("plain.kind"), "{listing}");
        assert!(!listing.contains("hidden.kind"), "the flag hides the type");
    }
}

/// The pages show a portal session only the buttons and forms its capabilities allow (the
/// same `Grants::allows` that refuses the rest with 403): per capability list, which of the
/// application's, endpoint's and dead-letter page's actions are there.
#[tokio::test]
async fn the_pages_show_only_what_the_sessions_capabilities_allow() {
    let app = TestApp::spawn().await;
    let own = create_application(&app, "Own").await;
    let endpoint_id = create_endpoint(&app, &own).await;
    // (page, what marks the action) in the order of each row's expectations.
    let app_page = format!("/apps/{own}");
    let endpoint_page = format!("/apps/{own}/endpoints/{endpoint_id}");
    let dead_letters = format!("/apps/{own}/dead-letters");
    let actions = [
        (&app_page, "Add endpoint</button>"),
        (&app_page, "Send test event</button>"),
        (&endpoint_page, "Save changes</button>"),
        (&endpoint_page, "Disable endpoint</button>"),
        (&endpoint_page, "Set header</button>"),
        (&endpoint_page, "Reveal secret</button>"),
        (&endpoint_page, "Rotate secret</button>"),
        (&dead_letters, "Replay</button>"),
    ];
    let (t, f) = (true, false);
    let rows: [(Option<&[&str]>, [bool; 8]); 8] = [
        (Some(&["ViewBase"]), [f, f, f, f, f, f, f, f]),
        (
            Some(&["ViewBase", "ViewEndpointSecret"]),
            [f, f, f, f, f, t, f, f],
        ),
        (
            Some(&["ViewBase", "ManageEndpointSecret"]),
            [f, f, f, f, f, t, t, f],
        ),
        (
            Some(&["ViewBase", "CreateAttempts"]),
            [f, t, f, f, f, f, f, t],
        ),
        (
            Some(&["ViewBase", "ManageTransformations"]),
            [f, f, f, f, f, f, f, f],
        ),
        (
            Some(&["ViewBase", "ManageEndpoint"]),
            [t, f, t, t, t, t, t, f],
        ),
        (None, [t; 8]),
        // A read-only token with every capability: still nothing to send.
        (
            Some(&["ViewBase", "ManageEndpoint", "CreateAttempts", "readOnly"]),
            [f; 8],
        ),
    ];
    for (capabilities, expected) in rows {
        let body = match capabilities {
            Some(names) if names.contains(&"readOnly") => {
                let capabilities = &names[..names.len() - 1];
                serde_json::json!({"capabilities": capabilities, "readOnly": true})
            }
            Some(capabilities) => serde_json::json!({"capabilities": capabilities}),
            None => serde_json::json!({}),
        };
        let (status, access) = app
            .post(&format!("/auth/app-portal-access/{own}"), body)
            .await;
        assert_eq!(status, 200, "{access}");
        let (_, cookie) =
            sign_in_at(&app, "/portal/login", access["token"].as_str().unwrap()).await;
        let cookie = pair(&cookie.expect("cookie"));
        let mut pages = std::collections::HashMap::new();
        for page in [&app_page, &endpoint_page, &dead_letters] {
            let response = get(&app, page, &cookie).await;
            assert_eq!(response.status(), 200, "{capabilities:?} {page}");
            pages.insert(page, response.text().await.unwrap());
        }
        for ((page, marker), shown) in actions.iter().zip(expected) {
            assert_eq!(
                pages[page].contains(marker),
                shown,
                "{capabilities:?}: {marker} on {page}"
            );
        }
        let read_only = capabilities.is_some_and(|names| names.contains(&"readOnly"));
        assert_eq!(
            pages[&dead_letters].contains("Dry run</button>"),
            !read_only
        );
    }
}
