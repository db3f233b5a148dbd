//! The disk's durable-write rate: how many small writes per second can each be made durable
//! (512 bytes, then `fdatasync`) in the filesystem that holds hookd's data directory.
//!
//! Durable ingest is bounded by this number divided into group commits, and on shared machines it
//! swings by more than an order of magnitude, so every result is reported next to the rate
//! measured just before it. The probe writes into a preallocated file, overwriting in place, as a
//! database log does once it has grown.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

const WRITE_SIZE: usize = 512;
const FILE_SIZE: usize = 1024 * 1024;
/// A bound on the loop in case the filesystem does not really sync (tmpfs answers at once).
const MOST_SYNCS: u64 = 2_000_000;

/// Measures syncs per second for `duration` in a fresh file inside `directory`.
pub async fn measure_fsync_rate(directory: &Path, duration: Duration) -> anyhow::Result<f64> {
    let directory = directory.to_path_buf();
    tokio::task::spawn_blocking(move || fsync_rate_blocking(&directory, duration))
        .await
        .context("the fsync probe panicked")?
}

fn fsync_rate_blocking(directory: &Path, duration: Duration) -> anyhow::Result<f64> {
    let probe = tempfile::Builder::new()
        .prefix("hookd-bench-fsync-")
        .tempfile_in(directory)
        .with_context(|| format!("creating the fsync probe in {}", directory.display()))?;
    let mut file = OpenOptions::new()
        .write(true)
        .open(probe.path())
        .context("opening the fsync probe")?;
    file.write_all(&vec![0u8; FILE_SIZE])?;
    file.sync_all()?;

    let block = [0x5au8; WRITE_SIZE];
    let blocks_in_file = (FILE_SIZE / WRITE_SIZE) as u64;
    let started = Instant::now();
    let mut syncs = 0u64;
    while started.elapsed() < duration && syncs < MOST_SYNCS {
        let offset = (syncs % blocks_in_file) * WRITE_SIZE as u64;
        file.write_all_at(&block, offset)?;
        file.sync_data()?;
        syncs += 1;
    }
    Ok(syncs as f64 / started.elapsed().as_secs_f64())
}
