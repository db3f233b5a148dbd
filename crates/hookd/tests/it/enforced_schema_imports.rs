//! The two bulk writers of event types (`import/openapi` and the environment import) keep
//! payload validation's rule: a type that enforces its schema only ever holds one that can be
//! enforced, and an import that would break it is a 422 that writes nothing.

use serde_json::{Value, json};

use crate::harness::TestApp;

fn spec_with_schema(schema: Value) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Acme", "version": "1"},
        "webhooks": {"user.created": {"post": {
            "description": "A user signed up",
            "requestBody": {"content": {"application/json": {"schema": schema}}}
        }}}
    })
}

#[tokio::test]
async fn an_openapi_import_keeps_enforcement_and_refuses_a_schema_it_cannot_enforce() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .post(
            "/event-type",
            json!({"name": "user.created", "description": "d", "enforceSchema": true,
                   "schemas": {"1": {"type": "object", "required": ["id"]}}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");

    let bad = spec_with_schema(json!({"type": "no-such-type"}));
    let (status, refused) = app
        .post("/event-type/import/openapi", json!({"spec": bad}))
        .await;
    assert_eq!(status, 422, "{refused}");
    let (_, kept) = app.get("/event-type/user.created").await;
    assert_eq!(kept["schemas"]["1"]["required"], json!(["id"]), "{kept}");
    assert_eq!(kept["description"], "d", "{kept}");

    let good = spec_with_schema(json!({"type": "object", "required": ["email"]}));
    let (status, imported) = app
        .post("/event-type/import/openapi", json!({"spec": good}))
        .await;
    assert_eq!(status, 200, "{imported}");
    let (_, updated) = app.get("/event-type/user.created").await;
    assert_eq!(updated["enforceSchema"], true, "{updated}");
    let app_id = {
        let (status, body) = app.post("/app", json!({"name": "a"})).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    };
    let (status, body) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": "user.created", "payload": {"id": "u_1"}}),
        )
        .await;
    assert_eq!(
        status, 422,
        "the imported schema is the one enforced: {body}"
    );
}

#[tokio::test]
async fn an_environment_import_refuses_an_enforced_type_whose_schema_cannot_be_enforced() {
    let app = TestApp::spawn().await;
    let document = json!({
        "eventTypes": [
            {"name": "fine.type", "description": "d"},
            {"name": "bad.type", "description": "d", "enforceSchema": true,
             "schemas": {"1": {"type": "no-such-type"}}}
        ]
    });
    let (status, refused) = app.post("/environment/import", document).await;
    assert_eq!(status, 422, "{refused}");
    let loc = refused["detail"][0]["loc"].clone();
    assert_eq!(
        loc,
        json!(["body", "eventTypes", "1", "schemas", "1"]),
        "{refused}"
    );
    let (_, listed) = app.get("/event-type").await;
    assert_eq!(listed["data"], json!([]), "nothing was written: {listed}");
}
