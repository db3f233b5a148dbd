//! A fresh PostgreSQL schema for each hookd started with `--database-url`, so the cases of a run
//! do not see each other's applications, queues or settings (as the data directory does for
//! SQLite). hookd gets the URL with `options=-csearch_path=<schema>`, so its tables, migrations
//! and advisory lock all live in the schema; the schema is dropped, with everything in it, after
//! hookd has been stopped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio_postgres::NoTls;

/// Numbers the schemas of one benchmark process.
static NEXT_SCHEMA: AtomicU32 = AtomicU32::new(0);

/// A schema that exists for one hookd process.
pub struct PgSchema {
    server_url: String,
    name: String,
    /// The server URL with the schema as `search_path`: what hookd is given.
    pub url: String,
}

impl PgSchema {
    /// Creates a new, empty schema in the database of `server_url`.
    pub async fn create(server_url: &str) -> anyhow::Result<Self> {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let name = format!(
            "hookd_bench_{started}_{}_{}",
            std::process::id(),
            NEXT_SCHEMA.fetch_add(1, Ordering::Relaxed)
        );
        let client = connect(server_url).await?;
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .with_context(|| format!("creating schema {name}"))?;
        let separator = if server_url.contains('?') { '&' } else { '?' };
        // hookd's sessions carry the schema's name, so they can be told apart (and ended).
        let url = format!(
            "{server_url}{separator}options=-csearch_path%3D{name}&application_name={name}"
        );
        Ok(PgSchema {
            server_url: server_url.to_owned(),
            name,
            url,
        })
    }

    /// Bytes of the schema's tables with their indexes and TOAST: what the data takes on disk.
    pub async fn size_bytes(&self) -> anyhow::Result<u64> {
        let client = connect(&self.server_url).await?;
        let row = client
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
                &[&self.name],
            )
            .await
            .context("measuring the schema")?;
        let bytes: i64 = row.get(0);
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Ends any session still using the schema and drops it with everything in it.
    pub async fn drop_schema(self) -> anyhow::Result<()> {
        let client = connect(&self.server_url).await?;
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .await
            .context("ending hookd's sessions")?;
        client
            .batch_execute(&format!(
                "SET lock_timeout = '30s'; DROP SCHEMA IF EXISTS {} CASCADE",
                self.name
            ))
            .await
            .with_context(|| format!("dropping schema {}", self.name))
    }
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to --database-url")?;
    tokio::spawn(connection);
    Ok(client)
}
