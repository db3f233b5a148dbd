//! Leases after the claim: giving them back, renewing them in one statement a heartbeat
//! (never waiting for a row another transaction holds),
//! releasing a dead run's leases at start-up; and when the next endpoint falls due.

use deadpool_postgres::GenericClient;

use super::super::rows::{from_micros, to_micros};
use super::super::{backend, get};
use super::marks_from;
use crate::domain::{DeliveryId, Timestamp};
use crate::store::{HeldLease, RenewedLeases, StoreError};

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
/// one statement for all of them. A lease that ran out and was taken by another node has a new
/// token there, so it is not renewed here (lost). A row another transaction holds is not waited
/// for: it is answered as busy. That transaction is most often this node's own record of the
/// finished attempt, which may itself be waiting for a queue row a claim of another node holds;
/// a renewal waiting behind it held up every other lease of the batch until the heartbeat gave
/// up, and leases ran out under live attempts. While the row is held no claim can take the
/// delivery (claims skip locked delivery rows), and the heartbeat does not count a busy lease
/// as granted again, so it still stops an attempt whose lease may lapse.
pub async fn renew(
    c: &impl GenericClient,
    node_id: &str,
    leases: &[HeldLease],
    until: Timestamp,
) -> Result<RenewedLeases, StoreError> {
    // Rows are locked in id order, as `record_attempts` locks them.
    let mut sorted: Vec<&HeldLease> = leases.iter().collect();
    sorted.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    let ids: Vec<&str> = sorted
        .iter()
        .map(|lease| lease.delivery_id.as_str())
        .collect();
    let tokens: Vec<i64> = sorted.iter().map(|lease| lease.lease_token).collect();
    // `held` reads the statement's snapshot, from before the update: a lease still this node's
    // there but missing from `renewed` was skipped because its row was locked.
    let statement = c
        .prepare_cached(
            "WITH lease AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS lease(id, token)),
             locked AS MATERIALIZED (SELECT d.id FROM delivery d JOIN lease ON d.id = lease.id
                        WHERE d.lease_token = lease.token AND d.status = 1 AND d.leased_by = $4
                        ORDER BY d.id FOR NO KEY UPDATE OF d SKIP LOCKED),
             renewed AS (UPDATE delivery d SET next_attempt_at = $3
                         FROM locked WHERE d.id = locked.id RETURNING d.id)
             SELECT d.id, EXISTS (SELECT 1 FROM renewed WHERE renewed.id = d.id)
             FROM delivery d JOIN lease ON d.id = lease.id
             WHERE d.lease_token = lease.token AND d.status = 1 AND d.leased_by = $4",
        )
        .await
        .map_err(backend)?;
    let rows = c
        .query(&statement, &[&ids, &tokens, &to_micros(until), &node_id])
        .await
        .map_err(backend)?;
    let mut answer = RenewedLeases::default();
    for row in &rows {
        let delivery_id = DeliveryId::from_trusted(get::<String>(row, 0)?);
        if get::<bool>(row, 1)? {
            answer.renewed.push(delivery_id);
        } else {
            answer.busy.push(delivery_id);
        }
    }
    Ok(answer)
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
