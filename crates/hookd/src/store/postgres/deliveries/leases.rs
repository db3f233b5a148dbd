//! Leases after the claim: giving them back, renewing them in one statement a heartbeat,
//! releasing a dead run's leases at start-up; and when the next endpoint falls due.

use deadpool_postgres::GenericClient;

use super::super::rows::{from_micros, to_micros};
use super::super::{backend, get};
use super::marks_from;
use crate::domain::{DeliveryId, Timestamp};
use crate::store::{HeldLease, StoreError};

/// Makes this node's leased deliveries due at once. A lease that already ran out and was taken
/// by another node is that node's now, and is left alone.
pub async fn release(
    c: &impl GenericClient,
    node_id: &str,
    ids: &[DeliveryId],
) -> Result<(), StoreError> {
    let mut ids: Vec<&str> = ids.iter().map(DeliveryId::as_str).collect();
    ids.sort_unstable();
    let statement = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = 0, lease_token = NULL, leased_by = NULL
             WHERE id = ANY($1) AND status = 1 AND leased_by = $2
             RETURNING endpoint_id, app_id, next_attempt_at",
        )
        .await
        .map_err(backend)?;
    let moved = c
        .query(&statement, &[&ids, &node_id])
        .await
        .map_err(backend)?;
    marks_from(&moved)?.apply(c).await
}

/// Extends this node's leases that are still held (same token, still pending) to `until`, in
/// one statement for all of them; returns the ids it renewed. A lease that ran out and was taken
/// by another node has a new token there, so it is not renewed here.
pub async fn renew(
    c: &impl GenericClient,
    node_id: &str,
    leases: &[HeldLease],
    until: Timestamp,
) -> Result<Vec<DeliveryId>, StoreError> {
    // Rows are locked in id order by a sorted `FOR UPDATE` the update joins, as
    // `record_attempts` locks them, so the two cannot deadlock (an `UPDATE ... FROM unnest`
    // alone locks in its join's order, and did deadlock with a record).
    let mut sorted: Vec<&HeldLease> = leases.iter().collect();
    sorted.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    let ids: Vec<&str> = sorted
        .iter()
        .map(|lease| lease.delivery_id.as_str())
        .collect();
    let tokens: Vec<i64> = sorted.iter().map(|lease| lease.lease_token).collect();
    let statement = c
        .prepare_cached(
            "WITH lease AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS lease(id, token)),
             locked AS MATERIALIZED (SELECT d.id FROM delivery d JOIN lease ON d.id = lease.id
                        WHERE d.lease_token = lease.token AND d.status = 1 AND d.leased_by = $4
                        ORDER BY d.id FOR NO KEY UPDATE OF d)
             UPDATE delivery d SET next_attempt_at = $3
             FROM lease, locked
             WHERE d.id = lease.id AND d.id = locked.id AND d.lease_token = lease.token
             AND d.status = 1 AND d.leased_by = $4
             RETURNING d.id",
        )
        .await
        .map_err(backend)?;
    let renewed = c
        .query(&statement, &[&ids, &tokens, &to_micros(until), &node_id])
        .await
        .map_err(backend)?;
    renewed
        .iter()
        .map(|row| get::<String>(row, 0).map(DeliveryId::from_trusted))
        .collect()
}

/// Makes every lease stamped with `node_id` due at once. Run when a node starts: a lease
/// carrying its name belongs to an earlier run of it that died, since node ids are unique
/// among live nodes. Other nodes' leases are left alone.
pub async fn release_node_leases(c: &impl GenericClient, node_id: &str) -> Result<u64, StoreError> {
    let statement = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = 0, lease_token = NULL, leased_by = NULL
             WHERE leased_by = $1 AND status = 1
             RETURNING endpoint_id, app_id, next_attempt_at",
        )
        .await
        .map_err(backend)?;
    let moved = c.query(&statement, &[&node_id]).await.map_err(backend)?;
    marks_from(&moved)?.apply(c).await?;
    Ok(moved.len() as u64)
}

/// When the next endpoint has work due, if any. It may be in the past when every due endpoint
/// is at its limit or being claimed by another node.
pub async fn next_due_at(c: &impl GenericClient) -> Result<Option<Timestamp>, StoreError> {
    let statement = c
        .prepare_cached("SELECT MIN(next_due) FROM endpoint_queue")
        .await
        .map_err(backend)?;
    let row = c.query_one(&statement, &[]).await.map_err(backend)?;
    Ok(get::<Option<i64>>(&row, 0)?.map(from_micros))
}
