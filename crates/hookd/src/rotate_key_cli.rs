//! `hookd rotate-key`: re-seals every stored secret under the newest key
//! (`HOOKD_ENCRYPTION_KEY`), opening the old ones with `HOOKD_ENCRYPTION_OLD_KEYS`, and seals
//! the plain ones a database kept from before a key was set. Unlike the other operator
//! commands it opens the database itself (the secrets never cross the API), beside a running
//! `hookd serve`: each batch is one short transaction that rewrites a value only if it is
//! unchanged, so it can be interrupted and run again. It ends by saying how many values still
//! need an old key; at 0 the old keys can be dropped.

use anyhow::Context;
use clap::Args;

use crate::config::{EncryptionKeys, parse_database_url};
use crate::store::sealed_values::{SealedRows, SealingCensus};
use crate::store::sealing::{Keyring, Sealing};
use crate::store::{Backend, StoreError};
use crate::telemetry::instruments::Instruments;

#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// The SQLite data directory of the hookd whose secrets to re-seal.
    #[arg(long, env = "HOOKD_DATA_DIR", default_value = "./hookd-data")]
    data_dir: std::path::PathBuf,
    /// Re-seal the secrets in this PostgreSQL database instead (`postgres://...`).
    #[arg(long, env = "HOOKD_DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
    database_url: Option<String>,
    /// Rows per transaction.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch_size: u64,
    #[command(flatten)]
    encryption: EncryptionKeys,
}

/// Runs `hookd rotate-key`.
pub fn rotate_key(args: RotateKeyArgs) -> anyhow::Result<()> {
    let keyring = args
        .encryption
        .keyring()
        .context("reading the encryption keys")?
        .context(
            "rotate-key seals under HOOKD_ENCRYPTION_KEY (--encryption-key), which is not set",
        )?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let backend = open(&args, &keyring).await?;
        let result = reseal_everything(&backend, &keyring, args.batch_size).await;
        backend.close().await;
        result
    })
}

/// Opens the store the server uses. On SQLite a running server holds the data directory, so
/// the database is then opened beside it (no migrations, no lease release).
async fn open(args: &RotateKeyArgs, keyring: &Keyring) -> anyhow::Result<Backend> {
    let sealing = || Sealing::new(Some(keyring.clone()));
    match args.database_url.as_deref().filter(|url| !url.is_empty()) {
        Some(url) => {
            let node_id = format!("rotate-key-{}", std::process::id());
            Backend::open(
                Some(url),
                &args.data_dir,
                &node_id,
                sealing(),
                &Instruments::new(),
            )
            .await
            .context("opening the PostgreSQL database")
        }
        None => {
            let opened =
                match Backend::open(None, &args.data_dir, "", sealing(), &Instruments::new()).await
                {
                    Err(StoreError::Locked) => {
                        crate::store::sqlite::SqliteStore::open_beside_server(
                            &args.data_dir,
                            sealing(),
                        )
                        .map(|store| Backend::Sqlite(std::sync::Arc::new(store)))
                    }
                    other => other,
                };
            opened.with_context(|| format!("opening the database in {}", args.data_dir.display()))
        }
    }
}

async fn reseal_everything(
    backend: &Backend,
    keyring: &Keyring,
    batch_size: u64,
) -> anyhow::Result<()> {
    let store = backend.store();
    let before = store
        .sealing_census()
        .await
        .context("counting the stored secrets")?;
    // A value under a key not given here would stop the batch that reaches it, on every run.
    crate::app::require_every_key(&before, Some(keyring))?;
    let total = before.values();
    println!(
        "re-sealing {total} stored secret values under key {} ({} plain, {} under an older key)",
        keyring.newest_id(),
        before.plain,
        before.not_under_newest(Some(keyring)) - before.plain,
    );
    let limit = usize::try_from(batch_size).unwrap_or(usize::MAX);
    let (mut seen, mut resealed) = (0u64, 0u64);
    for rows in SealedRows::ALL {
        let mut after = None;
        loop {
            let batch = store.reseal_batch(rows, after, limit).await.context(
                "re-sealing a batch (the batches before it were kept; this one was not)",
            )?;
            seen += batch.values;
            resealed += batch.resealed;
            println!(
                "{} of {total} values checked, {resealed} re-sealed",
                seen.min(total)
            );
            after = batch.last_id;
            if after.is_none() {
                break;
            }
        }
    }
    let after = store
        .sealing_census()
        .await
        .context("counting the stored secrets")?;
    print!("{}", summary(&after, keyring));
    Ok(())
}

/// The closing lines: how many values still need a key other than the newest.
fn summary(census: &SealingCensus, keyring: &Keyring) -> String {
    let waiting = census.not_under_newest(Some(keyring));
    if waiting == 0 {
        format!(
            "done: all {} values are sealed with key {}; 0 values use an old key, so \
             HOOKD_ENCRYPTION_OLD_KEYS can be dropped\n",
            census.values(),
            keyring.newest_id()
        )
    } else {
        format!(
            "{waiting} values are still plain or sealed with an old key (written while this ran, \
             or by a server without the newest key): run rotate-key again before dropping an \
             old key\n"
        )
    }
}
