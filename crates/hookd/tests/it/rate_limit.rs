//! The per-token API rate limit: a burst past it gets 429 with `Retry-After` and a JSON error,
//! requests without a valid token never spend the token's budget, and routes without a token
//! (health, the ingest URL) are not limited, and each token has a bucket of its own.

use hookd::api::rate_limit::ApiRateLimit;
use std::num::NonZeroU32;

use crate::harness::TestApp;

#[tokio::test]
async fn a_burst_past_the_limit_is_refused_after_authentication() {
    let app = TestApp::spawn_with(|config| {
        config.api_rate_limit = Some(ApiRateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::new(3).unwrap(),
        });
    })
    .await;
    // Unauthenticated and wrongly authenticated requests are refused by auth, before the
    // limit: they cannot use up the token's budget.
    for _ in 0..20 {
        let response = app
            .http
            .get(app.url("/app"))
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let response = app.http.get(app.url("/app")).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    let mut statuses = Vec::new();
    let mut refusal = None;
    for _ in 0..12 {
        let response = app
            .http
            .get(app.url("/app"))
            .bearer_auth(crate::harness::TOKEN)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 && refusal.is_none() {
            let retry_after = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .to_owned();
            refusal = Some((
                retry_after,
                response.json::<serde_json::Value>().await.unwrap(),
            ));
        }
    }
    assert_eq!(
        statuses[..3],
        [200, 200, 200],
        "the burst is intact: {statuses:?}"
    );
    let (retry_after, body) = refusal.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert!(retry_after.parse::<u64>().unwrap() >= 1, "{retry_after}");
    assert_eq!(body["code"], "rate_limited", "{body}");
    // Health has no token, so no limit.
    let (status, _) = app.get("/health").await;
    assert_eq!(status, 200);
    let refused = statuses.iter().filter(|status| **status == 429).count();
    let scrape = app.scrape().await;
    assert_eq!(
        scrape.value("hookd_api_rate_limited_total", &[]),
        Some(refused as f64)
    );
}

#[tokio::test]
async fn zero_turns_the_limit_off() {
    let config = hookd::config::Config::from_serve_flags(["--api-rate-limit", "0"], 4096).unwrap();
    assert_eq!(config.api_rate_limit, None);
    let config = hookd::config::Config::from_serve_flags(
        ["--api-rate-limit", "5", "--api-rate-burst", "7"],
        4096,
    )
    .unwrap();
    assert_eq!(
        config.api_rate_limit,
        Some(ApiRateLimit {
            per_second: NonZeroU32::new(5).unwrap(),
            burst: NonZeroU32::new(7).unwrap(),
        })
    );
}

#[tokio::test]
async fn each_token_has_a_budget_of_its_own() {
    let app = TestApp::spawn_with(|config| {
        config.api_rate_limit = Some(ApiRateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::new(3).unwrap(),
        });
    })
    .await;
    // Issuing the application token spends two of the admin's three.
    let (status, _) = app
        .post(
            "/app",
            serde_json::json!({"name": "Tenant", "uid": "tenant"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, issued) = app
        .post(
            "/app/tenant/token",
            serde_json::json!({"name": "own bucket"}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let scoped = issued["token"].as_str().unwrap().to_owned();
    let status_of = |token: String| {
        let request = app
            .http
            .get(app.url("/app/tenant/endpoint"))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let mut admin = Vec::new();
    for _ in 0..4 {
        admin.push(status_of(crate::harness::TOKEN.to_owned()).await);
    }
    assert!(admin.contains(&429), "the admin token ran out: {admin:?}");
    let mut own = Vec::new();
    for _ in 0..3 {
        own.push(status_of(scoped.clone()).await);
    }
    assert_eq!(
        own,
        [200, 200, 200],
        "the application token's burst is untouched"
    );
    assert_eq!(status_of(scoped).await, 429);
}
