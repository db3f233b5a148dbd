//! A fresh PostgreSQL schema per test, so PostgreSQL tests run side by side and leave nothing
//! behind. The server comes from `HOOKD_TEST_DATABASE_URL`; without it the tests say why and
//! return early, except in CI (`CI` set), where an unset or unreachable database fails them.

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
    /// Creates the schema, or returns `None` (after printing why) when no database is configured
    /// outside CI.
    pub async fn create(test: &str) -> Option<TestSchema> {
        let in_ci = std::env::var_os("CI").is_some_and(|value| !value.is_empty());
        let server_url = match std::env::var(DATABASE_URL_VARIABLE) {
            Ok(url) if !url.is_empty() => url,
            _ if in_ci => panic!("{DATABASE_URL_VARIABLE} must be set in CI ({test})"),
            _ => {
                eprintln!("skipping {test}: set {DATABASE_URL_VARIABLE} to run it on PostgreSQL");
                return None;
            }
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
        Some(TestSchema {
            url,
            name,
            server_url,
        })
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

/// Connects, failing the test with a clear message when PostgreSQL does not answer.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|error| {
            panic!("PostgreSQL at {DATABASE_URL_VARIABLE} is unreachable: {error}")
        });
    tokio::spawn(connection);
    client
}
