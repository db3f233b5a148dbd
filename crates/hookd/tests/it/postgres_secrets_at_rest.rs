//! Secrets at rest on PostgreSQL: `secrets_at_rest`'s scenario with the data in a fresh
//! schema, searched as `pg_dump` would see it (every row of every table as text).

use crate::harness::TestApp;
use crate::postgres_schema::TestSchema;
use crate::secrets_at_rest::{
    KEY_A, KEY_B, check_known_work, create_known, found_in, known_strings, rotate_key, with_keys,
};

async fn spawn_on(schema: &TestSchema, newest: Option<&str>, older: Option<&str>) -> TestApp {
    let url = schema.url.clone();
    let keys = with_keys(newest, older);
    TestApp::spawn_with(move |config| {
        config.database_url = Some(url);
        keys(config);
    })
    .await
}

/// Every row of every table of the schema, as text.
async fn dump(schema: &TestSchema) -> Vec<u8> {
    let client = schema.connect().await;
    let tables = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
            &[&schema.name],
        )
        .await
        .unwrap();
    assert!(tables.len() > 5, "the schema has hookd's tables");
    let mut text = String::new();
    for table in tables {
        let name: String = table.get(0);
        let row = client
            .query_one(
                &format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{name}\" t"),
                &[],
            )
            .await
            .unwrap();
        text.push_str(&row.get::<_, String>(0));
        text.push('\n');
    }
    // `bytea` columns print as hex above; stored answers are JSON text, so read them as such.
    let answers = client
        .query_one(
            "SELECT coalesce(string_agg(convert_from(body, 'UTF8'), E'\n'), '') FROM idempotency",
            &[],
        )
        .await
        .unwrap();
    text.push_str(&answers.get::<_, String>(0));
    text.into_bytes()
}

#[tokio::test]
async fn postgres_with_a_key_no_secret_reaches_the_database_and_all_still_work() {
    let schema = TestSchema::create("postgres_secrets_sealed").await;
    let mut app = spawn_on(&schema, Some(KEY_A), None).await;
    let mut known = create_known(&app).await;
    check_known_work(&app, &mut known).await;
    let dumped = dump(&schema).await;
    assert_eq!(found_in(&dumped), Vec::<String>::new());
    assert!(dumped.windows(7).any(|window| window == b"enc:v1:"));
    // The control: the same search finds them all in a schema written without a key.
    let plain_schema = TestSchema::create("postgres_secrets_plain").await;
    let plain_app = spawn_on(&plain_schema, None, None).await;
    create_known(&plain_app).await;
    assert_eq!(found_in(&dump(&plain_schema).await), known_strings());
    app.stop().await;
}

#[tokio::test]
async fn postgres_rotate_key_reseals_beside_a_running_node() {
    let schema = TestSchema::create("postgres_secrets_rotation").await;
    let mut app = spawn_on(&schema, None, None).await;
    let mut plain = create_known(&app).await;
    let url = schema.url.clone();
    app.restart_with(move |config| {
        config.database_url = Some(url);
        with_keys(Some(KEY_A), None)(config);
    })
    .await
    .unwrap();
    let mut sealed_a = create_known(&app).await;
    let error = app
        .restart_with(with_keys(Some(KEY_B), None))
        .await
        .expect_err("without key A the node must not start");
    assert!(
        format!("{error:#}").contains("sealed with key"),
        "{error:#}"
    );
    app.restart_with(with_keys(Some(KEY_B), Some(KEY_A)))
        .await
        .unwrap();
    let output = rotate_key(&["--database-url", &schema.url], KEY_B, Some(KEY_A));
    assert!(output.contains("0 values use an old key"), "{output}");
    check_known_work(&app, &mut plain).await;
    app.restart_with(with_keys(Some(KEY_B), None))
        .await
        .unwrap();
    check_known_work(&app, &mut plain).await;
    check_known_work(&app, &mut sealed_a).await;
    assert_eq!(found_in(&dump(&schema).await), Vec::<String>::new());
    app.stop().await;
}
