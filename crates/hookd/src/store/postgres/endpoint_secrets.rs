//! SQL for endpoint signing secrets on PostgreSQL: the current secret, the ones still in their
//! grace period, and rotation.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{from_micros, to_micros};
use super::{PostgresStore, backend, get};
use crate::domain::{EndpointId, EndpointSecret, Secret, Timestamp};
use crate::store::sealing::{Place, Sealing};
use crate::store::stored;
use crate::store::{EndpointSecretStore, StoreError};

#[async_trait]
impl EndpointSecretStore for PostgresStore {
    async fn endpoint_secrets(
        &self,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<Vec<EndpointSecret>, StoreError> {
        endpoint_secrets(&self.client().await?, &self.sealing, id, now).await
    }

    async fn rotate_endpoint_secret(
        &self,
        id: &EndpointId,
        new_key: Secret,
        old_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let key = self
            .sealing
            .seal(Place::endpoint_secret(id.as_str()), &new_key.to_string());
        rotate_endpoint_secret(&transaction, id, &key, old_expires_at, now).await?;
        transaction.commit().await.map_err(backend)
    }
}

/// The `(endpoint_id, key, expires_at)` rows of these endpoints valid at `now`, per endpoint
/// the current one first. The keys are unparsed: `endpoint_secrets` refuses one that does not
/// parse, a claim's `SigningSecrets` counts it.
pub async fn stored_secrets_of(
    c: &impl GenericClient,
    ids: &[&str],
    now: Timestamp,
) -> Result<Vec<(String, String, Option<Timestamp>)>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT endpoint_id, key, expires_at FROM endpoint_secret
             WHERE endpoint_id = ANY($1) AND (expires_at IS NULL OR expires_at > $2)
             ORDER BY endpoint_id, expires_at IS NOT NULL, expires_at DESC",
        )
        .await
        .map_err(backend)?;
    c.query(&statement, &[&ids, &to_micros(now)])
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            Ok((
                get(row, 0)?,
                get(row, 1)?,
                get::<Option<i64>>(row, 2)?.map(from_micros),
            ))
        })
        .collect()
}

/// The endpoint's secrets that are valid at `now`, the current one first; a stored secret that
/// does not parse is a `CorruptValue`.
pub async fn endpoint_secrets(
    c: &impl GenericClient,
    sealing: &Sealing,
    id: &EndpointId,
    now: Timestamp,
) -> Result<Vec<EndpointSecret>, StoreError> {
    stored_secrets_of(c, &[id.as_str()], now)
        .await?
        .into_iter()
        .map(|(_, key, expires_at)| {
            let key = sealing.open(Place::endpoint_secret(id.as_str()), &key)?;
            Ok(stored::endpoint_secret(&key, expires_at)?)
        })
        .collect()
}

/// Runs inside one transaction (see the caller): lock the endpoint, expire the current secret,
/// drop the ones whose grace period is over, add the new one. The endpoint's row is locked
/// first, as a delete locks it before cascading to the secrets: so a rotation and a delete
/// wait for each other instead of deadlocking, and two rotations cannot both leave a current
/// secret.
async fn rotate_endpoint_secret(
    c: &impl GenericClient,
    id: &EndpointId,
    stored_key: &str,
    old_expires_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let lock = c
        .prepare_cached("SELECT 1 FROM endpoint WHERE id = $1 FOR NO KEY UPDATE")
        .await
        .map_err(backend)?;
    if c.query_opt(&lock, &[&id.as_str()])
        .await
        .map_err(backend)?
        .is_none()
    {
        return Err(StoreError::NotFound("endpoint not found"));
    }
    let expire = c
        .prepare_cached(
            "UPDATE endpoint_secret SET expires_at = $2
             WHERE endpoint_id = $1 AND expires_at IS NULL",
        )
        .await
        .map_err(backend)?;
    c.execute(&expire, &[&id.as_str(), &to_micros(old_expires_at)])
        .await
        .map_err(backend)?;
    let prune = c
        .prepare_cached("DELETE FROM endpoint_secret WHERE endpoint_id = $1 AND expires_at <= $2")
        .await
        .map_err(backend)?;
    c.execute(&prune, &[&id.as_str(), &to_micros(now)])
        .await
        .map_err(backend)?;
    let insert = c
        .prepare_cached(
            "INSERT INTO endpoint_secret (endpoint_id, key, expires_at, created_at)
             VALUES ($1, $2, NULL, $3)",
        )
        .await
        .map_err(backend)?;
    c.execute(&insert, &[&id.as_str(), &stored_key, &to_micros(now)])
        .await
        .map_err(backend)?;
    Ok(())
}
