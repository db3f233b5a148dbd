//! The secret columns as one aggregate for key rotation: which key sealed each stored secret
//! (a census), and re-sealing them under the newest key in short batches. `hookd rotate-key`
//! and the start-up check use it; no other caller needs to know a value is sealed. Each
//! backend's `sealed_values.rs` holds its SQL.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::StoreError;
use super::sealing::{KeyId, Keyring};

/// How many stored secrets each key sealed, and how many are plain. Counts every value of
/// every secret column: endpoint headers and credentials, signing secrets (also those still
/// in a grace period), inbound source configs, and idempotency answers holding credentials.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SealingCensus {
    pub plain: u64,
    pub by_key: BTreeMap<KeyId, u64>,
    /// Values that start like a sealed value but name no key id (damaged).
    pub malformed: u64,
}

impl SealingCensus {
    pub fn values(&self) -> u64 {
        self.plain + self.malformed + self.by_key.values().sum::<u64>()
    }

    /// Values that `hookd rotate-key` would still have to rewrite under `keyring`: plain ones
    /// and those sealed with any key but the newest. Without a key, none.
    pub fn not_under_newest(&self, keyring: Option<&Keyring>) -> u64 {
        let Some(keyring) = keyring else {
            return 0;
        };
        self.values() - self.by_key.get(keyring.newest_id()).copied().unwrap_or(0)
    }

    /// The keys that sealed some value and that `keyring` lacks: with any of them, reads of
    /// those values would fail.
    pub fn missing_keys(&self, keyring: Option<&Keyring>) -> Vec<(KeyId, u64)> {
        self.by_key
            .iter()
            .filter(|(key_id, _)| !keyring.is_some_and(|keyring| keyring.holds(key_id)))
            .map(|(key_id, count)| (key_id.clone(), *count))
            .collect()
    }

    /// Adds `count` values whose first `SEALED_HEAD_LEN` characters are `head` (empty for a
    /// plain value).
    pub fn count(&mut self, head: &str, count: u64) {
        match super::sealing::sealed_with(head) {
            None => self.plain += count,
            Some(None) => self.malformed += count,
            Some(Some(key_id)) => *self.by_key.entry(key_id).or_default() += count,
        }
    }
}

/// The rows one re-sealing pass walks, in id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedRows {
    /// Each endpoint's headers, credentials and signing secrets.
    Endpoints,
    /// Each inbound source's config.
    Sources,
    /// Each stored idempotency answer that holds a credential, by key.
    IdempotentAnswers,
}

impl SealedRows {
    /// Every kind of row, in the order `hookd rotate-key` walks them.
    pub const ALL: [SealedRows; 3] = [
        SealedRows::Endpoints,
        SealedRows::Sources,
        SealedRows::IdempotentAnswers,
    ];
}

/// What one batch did: the last row id it visited (`None`: the pass is over), how many values
/// it looked at and how many it rewrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResealBatch {
    pub last_id: Option<String>,
    pub values: u64,
    pub resealed: u64,
}

impl ResealBatch {
    /// Where the next batch starts: after the last row read (`last_id`), unless fewer than
    /// `limit` rows came back and this batch was the last.
    pub fn ends_after(&mut self, rows_read: usize, last_id: Option<&String>, limit: usize) {
        self.last_id = if rows_read < limit.max(1) {
            None
        } else {
            last_id.cloned()
        };
    }
}

/// A batch's row limit as a SQL parameter: at least one row.
pub fn limit_parameter(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}

#[async_trait]
pub trait SealedValueStore {
    /// Counts the stored secrets by the key that sealed them.
    async fn sealing_census(&self) -> Result<SealingCensus, StoreError>;

    /// Re-seals, under the store's newest key, every value of up to `limit` rows after
    /// `after` that is plain or sealed with an older key, in one short transaction. A value
    /// changed concurrently is left as the other writer wrote it (sealed under the newest
    /// key too), so the batch is safe beside a running server and may be repeated.
    async fn reseal_batch(
        &self,
        rows: SealedRows,
        after: Option<String>,
        limit: usize,
    ) -> Result<ResealBatch, StoreError>;
}
