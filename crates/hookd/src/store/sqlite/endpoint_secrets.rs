//! SQL for endpoint signing secrets on SQLite: the current secret, the ones still in their grace
//! period, and rotation.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use std::sync::Arc;

use super::rows::{from_micros, to_micros};
use super::{SqliteStore, backend, missing_parent};
use crate::domain::{EndpointId, EndpointSecret, Secret, SigningSecrets, Timestamp};
use crate::store::sealing::{Place, Sealing, open_signing_key};
use crate::store::stored;
use crate::store::{EndpointSecretStore, StoreError};

#[async_trait]
impl EndpointSecretStore for SqliteStore {
    async fn endpoint_secrets(
        &self,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<Vec<EndpointSecret>, StoreError> {
        let (id, sealing) = (id.clone(), Arc::clone(&self.sealing));
        self.read(move |c| endpoint_secrets(c, &sealing, &id, now))
            .await
    }

    async fn rotate_endpoint_secret(
        &self,
        id: &EndpointId,
        new_key: Secret,
        old_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (id, sealing) = (id.clone(), Arc::clone(&self.sealing));
        self.write(move |c| {
            let id = &id;
            let key = sealing.seal(Place::endpoint_secret(id.as_str()), &new_key.to_string());
            c.prepare_cached(
        "UPDATE endpoint_secret SET expires_at = ?2 WHERE endpoint_id = ?1 AND expires_at IS NULL",
    )
    .map_err(backend)?
    .execute(params![id.as_str(), to_micros(old_expires_at)])
    .map_err(backend)?;
            // Secrets whose grace period is over are of no further use.
            c.prepare_cached(
                "DELETE FROM endpoint_secret WHERE endpoint_id = ?1 AND expires_at <= ?2",
            )
            .map_err(backend)?
            .execute(params![id.as_str(), to_micros(now)])
            .map_err(backend)?;
            c.prepare_cached(
                "INSERT INTO endpoint_secret (endpoint_id, key, expires_at, created_at)
         VALUES (?1, ?2, NULL, ?3)",
            )
            .map_err(backend)?
            .execute(params![id.as_str(), key, to_micros(now)])
            .map_err(missing_parent("endpoint not found"))?;
            Ok(())
        })
        .await
    }
}

/// The endpoint's secrets that are valid at `now`, the current one first; a stored secret that
/// does not parse is a `CorruptValue`.
pub fn endpoint_secrets(
    c: &Connection,
    sealing: &Sealing,
    id: &EndpointId,
    now: Timestamp,
) -> Result<Vec<EndpointSecret>, StoreError> {
    stored_secrets(c, id, now)?
        .into_iter()
        .map(|(key, expires_at)| {
            let key = sealing.open(Place::endpoint_secret(id.as_str()), &key)?;
            Ok(stored::endpoint_secret(&key, expires_at)?)
        })
        .collect()
}

/// The secrets that sign the endpoint's deliveries now; see `SigningSecrets` for why a stored
/// secret that does not parse, or does not open, is counted rather than an error here.
pub fn signing_secrets(
    c: &Connection,
    sealing: &Sealing,
    id: &EndpointId,
    now: Timestamp,
) -> Result<SigningSecrets, StoreError> {
    let opened = stored_secrets(c, id, now)?
        .iter()
        .map(|(key, _)| open_signing_key(sealing, id, key))
        .collect::<Vec<_>>();
    Ok(SigningSecrets::from_opened(
        opened.iter().map(Option::as_deref),
    ))
}

/// The endpoint's `(key, expires_at)` rows valid at `now`, the current one first.
pub(super) fn stored_secrets(
    c: &Connection,
    id: &EndpointId,
    now: Timestamp,
) -> Result<Vec<(String, Option<Timestamp>)>, StoreError> {
    let mut statement = c
        .prepare_cached(
            "SELECT key, expires_at FROM endpoint_secret
             WHERE endpoint_id = ?1 AND (expires_at IS NULL OR expires_at > ?2)
             ORDER BY expires_at IS NOT NULL, expires_at DESC",
        )
        .map_err(backend)?;
    statement
        .query_map(params![id.as_str(), to_micros(now)], |row| {
            Ok((row.get(0)?, row.get::<_, Option<i64>>(1)?.map(from_micros)))
        })
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)
}
