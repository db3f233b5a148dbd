//! `POST /event-type/import/openapi`: event types from an OpenAPI 3.1 document's `webhooks`,
//! with `$ref`s resolved, `dryRun` writing nothing, `replaceAll` archiving the rest, and bad
//! documents refused with a 422 that says where.

use serde_json::{Value, json};

use crate::harness::TestApp;

fn spec() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Acme", "version": "1"},
        "webhooks": {
            "user.created": {"post": {
                "description": "A user signed up",
                "requestBody": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/User"},
                    "example": {"id": "u_1", "email": "a@example.com"}
                }}}
            }},
            "user.deleted": {"post": {"summary": "A user left", "deprecated": true}}
        },
        "components": {"schemas": {
            "User": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string"}, "email": {"$ref": "#/components/schemas/Email"}}},
            "Email": {"type": "string", "format": "email"}
        }}
    })
}

async fn import(app: &TestApp, body: Value) -> (u16, Value) {
    app.post("/event-type/import/openapi", body).await
}

async fn names(app: &TestApp) -> Vec<(String, bool)> {
    let (status, page) = app.get("/event-type?include_archived=true").await;
    assert_eq!(status, 200, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["archived"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn webhooks_become_event_types_with_resolved_schemas() {
    let app = TestApp::spawn().await;
    let (status, dry) = import(&app, json!({"spec": spec(), "dryRun": true})).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["data"]["modified"], json!([]));
    let planned: Vec<&str> = dry["data"]["to_modify"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(planned, ["user.created", "user.deleted"]);
    assert!(names(&app).await.is_empty(), "a dry run writes nothing");

    let (status, done) = import(&app, json!({"spec": spec()})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done["data"]["modified"],
        json!(["user.created", "user.deleted"])
    );
    let (status, created) = app.get("/event-type/user.created").await;
    assert_eq!(status, 200);
    assert_eq!(created["description"], "A user signed up");
    assert_eq!(
        created["schemas"]["1"],
        json!({"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string"}, "email": {"type": "string", "format": "email"}},
            "examples": [{"id": "u_1", "email": "a@example.com"}]})
    );
    let (_, deleted) = app.get("/event-type/user.deleted").await;
    assert_eq!(deleted["description"], "A user left");
    assert_eq!(deleted["deprecated"], true);

    // Importing the same document again changes nothing; specRaw reads the same text.
    let raw = spec().to_string();
    let (status, again) = import(&app, json!({"specRaw": raw})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"]["modified"], json!([]));
}

#[tokio::test]
async fn replace_all_archives_the_types_the_document_leaves_out() {
    let app = TestApp::spawn().await;
    for name in ["old.type", "user.created"] {
        let (status, answer) = app
            .post(
                "/event-type",
                json!({"name": name, "description": "x", "featureFlag": "beta"}),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    let (status, done) = import(&app, json!({"spec": spec(), "replaceAll": true})).await;
    assert_eq!(status, 200, "{done}");
    let mut modified: Vec<&str> = done["data"]["modified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    modified.sort_unstable();
    assert_eq!(modified, ["old.type", "user.created", "user.deleted"]);
    let mut listed = names(&app).await;
    listed.sort();
    assert_eq!(
        listed,
        [
            ("old.type".into(), true),
            ("user.created".into(), false),
            ("user.deleted".into(), false)
        ]
    );
    // An updated type keeps what only hookd knows of it.
    let (_, created) = app.get("/event-type/user.created").await;
    assert_eq!(created["featureFlag"], "beta");
}

#[tokio::test]
async fn bad_documents_are_refused_with_their_place_and_write_nothing() {
    let app = TestApp::spawn().await;
    let with_schema = |schema: Value| json!({"spec": {"webhooks": {"ok.type": {"post": {}}, "a.b": {"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}}}});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["body", "spec"]),
        (
            json!({"spec": {}, "specRaw": "{}"}),
            vec!["body", "specRaw"],
        ),
        (
            json!({"specRaw": "openapi: 3.1.0"}),
            vec!["body", "specRaw"],
        ),
        (
            json!({"spec": {"openapi": "3.1.0", "paths": {}}}),
            vec!["body", "spec"],
        ),
        (
            json!({"spec": {"openapi": "2.0", "webhooks": {}}}),
            vec!["body", "spec", "openapi"],
        ),
        (
            json!({"spec": {"webhooks": ["a"]}}),
            vec!["body", "spec", "webhooks"],
        ),
        (
            json!({"spec": {"webhooks": {"ok.type": {"post": {}}, "bad name!": {"post": {}}}}}),
            vec!["body", "spec", "webhooks", "bad name!"],
        ),
        (
            json!({"spec": {"webhooks": {"a.b": {"get": {}}}}}),
            vec!["body", "spec", "webhooks", "a.b"],
        ),
        (
            with_schema(json!({"$ref": "#/components/schemas/Missing"})),
            vec!["body", "spec", "webhooks", "a.b", "post", "requestBody"],
        ),
        (
            with_schema(json!({"$ref": "https://example.com/schema.json"})),
            vec!["body", "spec", "webhooks", "a.b", "post", "requestBody"],
        ),
        (json!({"spec": "a string"}), vec!["body", "spec"]),
    ];
    for (body, loc) in cases {
        let (status, answer) = import(&app, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let got: Vec<&str> = answer["detail"][0]["loc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|part| part.as_str().unwrap())
            .collect();
        assert_eq!(got, loc, "{body}: {answer}");
        assert!(names(&app).await.is_empty(), "{body} wrote event types");
    }
}
