//! A fresh PostgreSQL schema per test, so PostgreSQL tests run side by side and leave nothing
//! behind. The server comes from `HOOKD_TEST_DATABASE_URL`. A test that cannot reach it fails,
//! saying why: a test that did not run must not count as passed. `scripts/test` leaves these
//! tests out when the variable is unset (and says how many); it finds them by name, so every
//! PostgreSQL test's module or function name starts with `postgres`.

use tokio_postgres::NoTls;

pub const DATABASE_URL_VARIABLE: &str = "HOOKD_TEST_DATABASE_URL";

/// A schema that exists for one test; dropped (with everything in it) when this is dropped.
pub struct TestSchema {
    /// A connection URL whose `search_path` is the schema: give it to hookd.
    pub url: String,
    pub name: String,
    server_url: String,
}

impl TestSchema {
    /// Creates the schema, or fails the test when no database is configured.
    pub async fn create(test: &str) -> TestSchema {
        let server_url = match std::env::var(DATABASE_URL_VARIABLE) {
            Ok(url) if !url.is_empty() => url,
            _ => panic!(
                "{test} needs PostgreSQL: set {DATABASE_URL_VARIABLE}, e.g. \
                 postgres://postgres@127.0.0.1:5432/test (scripts/test leaves PostgreSQL tests \
                 out when it is unset)"
            ),
        };
        let name = format!("test_{:016x}", rand::random::<u64>());
        let client = connect(&server_url).await;
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("creating the test schema");
        let separator = if server_url.contains('?') { '&' } else { '?' };
        // The sessions are named after the schema so that dropping it can end them first.
        let url = format!(
            "{server_url}{separator}options=-csearch_path%3D{name}&application_name={name}"
        );
        TestSchema {
            url,
            name,
            server_url,
        }
    }

    /// A plain connection whose `search_path` is this schema, for looking at rows directly.
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop runs outside async code (and during panics), so the schema is dropped on a
        // thread with its own runtime.
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            // A few tries: PostgreSQL may be restarting (the restart test) or still ending the
            // sessions of killed nodes.
            runtime.block_on(async move {
                let mut outcome = Err(String::new());
                for _ in 0..5 {
                    outcome = drop_schema(&server_url, &name).await;
                    if outcome.is_ok() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                outcome
            })
        })
        .join();
        if let Ok(Err(error)) = &dropped {
            eprintln!("could not drop test schema {}: {error}", self.name);
        }
    }
}

async fn drop_schema(server_url: &str, name: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(server_url, NoTls)
        .await
        .map_err(|error| error.to_string())?;
    tokio::spawn(connection);
    // An in-process hookd may still hold this schema's locks in an open transaction, and it
    // cannot finish it while this drop blocks its runtime: end its sessions first.
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .map_err(|error| error.to_string())?;
    client
        .batch_execute(&format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE"
        ))
        .await
        .map_err(|error| error.to_string())
}

/// Connects, failing the test with a message that says what is wrong: a database that does
/// not exist is not an unreachable server.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|error| panic!("{}", connect_failure(&error)));
    tokio::spawn(connection);
    client
}

fn connect_failure(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db_error)
            if *db_error.code() == tokio_postgres::error::SqlState::INVALID_CATALOG_NAME =>
        {
            format!(
                "the database named in {DATABASE_URL_VARIABLE} does not exist ({}); create it \
                 (e.g. createdb -h 127.0.0.1 -U postgres test) or name one that does",
                db_error.message()
            )
        }
        Some(db_error) => format!(
            "PostgreSQL at {DATABASE_URL_VARIABLE} refused the connection: {}",
            db_error.message()
        ),
        None => format!("PostgreSQL at {DATABASE_URL_VARIABLE} is unreachable: {error:?}"),
    }
}

#[tokio::test]
async fn postgres_a_missing_database_is_named_not_called_unreachable() {
    let schema = TestSchema::create("postgres_a_missing_database_is_named").await;
    let mut missing = url::Url::parse(&schema.server_url).expect("a URL");
    missing.set_path("/hookd_no_such_database");
    let failed = tokio::spawn(async move {
        connect(missing.as_str()).await;
    })
    .await
    .expect_err("connecting to a missing database fails the test");
    let message = failed
        .into_panic()
        .downcast::<String>()
        .map(|message| *message)
        .unwrap_or_default();
    assert!(
        message.contains("does not exist") && !message.contains("unreachable"),
        "{message}"
    );
}
