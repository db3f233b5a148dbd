//! Leases after the claim: giving them back, renewing them while attempts run, and releasing
//! them all at start-up; and when the next endpoint falls due.

use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, params};

use super::super::backend;
use super::super::rows::{from_micros, to_micros};
use super::mark_delivery_due;
use crate::domain::{DeliveryId, Timestamp};
use crate::store::delivery_state::PENDING;
use crate::store::{HeldLease, StoreError};

// The pending status is written into these statements' text, not bound: connections plan
// without looking at bound values (the planner stability guarantee, see `open_connection`), so
// only a literal status lets the planner use the partial indexes (`WHERE status = 1`).

/// Gives a pending delivery's lease back and makes it due now (`?1` delivery).
pub(in crate::store::sqlite::deliveries) static RELEASE_SQL: LazyLock<String> =
    LazyLock::new(|| {
        format!(
            "UPDATE delivery SET next_attempt_at = 0, lease_token = NULL
         WHERE id = ?1 AND status = {PENDING}"
        )
    });

/// Extends a lease still held (`?1` delivery, `?2` token, `?3` until).
pub(in crate::store::sqlite::deliveries) static RENEW_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE delivery SET next_attempt_at = ?3
         WHERE id = ?1 AND lease_token = ?2 AND status = {PENDING}"
    )
});

pub fn release(c: &Connection, ids: &[DeliveryId]) -> Result<(), StoreError> {
    let mut statement = c.prepare_cached(&RELEASE_SQL).map_err(backend)?;
    for id in ids {
        statement.execute([id.as_str()]).map_err(backend)?;
        mark_delivery_due(c, id.as_str(), 0)?;
    }
    Ok(())
}

/// Extends the leases still held (same token, still pending) to `until`; returns their ids.
/// A lease that was released, recorded or taken over by a later claim is not renewed.
pub fn renew_leases(
    c: &Connection,
    leases: &[HeldLease],
    until: Timestamp,
) -> Result<Vec<DeliveryId>, StoreError> {
    let mut renew = c.prepare_cached(&RENEW_SQL).map_err(backend)?;
    let mut renewed = Vec::with_capacity(leases.len());
    for lease in leases {
        let changed = renew
            .execute(params![
                lease.delivery_id.as_str(),
                lease.lease_token,
                to_micros(until)
            ])
            .map_err(backend)?;
        if changed > 0 {
            renewed.push(lease.delivery_id.clone());
        }
    }
    Ok(renewed)
}

/// Makes every leased delivery due now. Only for start-up, when no live worker can hold a lease.
/// Start-up: every lease of the last run ends (see `release_all_leases`).
pub(in crate::store::sqlite::deliveries) static RELEASE_ALL_SQL: LazyLock<String> =
    LazyLock::new(|| {
        format!(
            "UPDATE delivery SET next_attempt_at = 0, lease_token = NULL
             WHERE status = {PENDING} AND lease_token IS NOT NULL"
        )
    });

/// Start-up: every endpoint with pending deliveries is in the queue, due at its earliest.
pub(in crate::store::sqlite::deliveries) static REQUEUE_ALL_SQL: LazyLock<String> =
    LazyLock::new(|| {
        format!(
            "INSERT INTO endpoint_queue (endpoint_id, app_id, next_due)
             SELECT endpoint_id, app_id, MIN(next_attempt_at) FROM delivery
             WHERE status = {PENDING}
             GROUP BY endpoint_id
             ON CONFLICT (endpoint_id) DO UPDATE SET next_due = MIN(next_due, excluded.next_due)"
        )
    });

pub fn release_all_leases(c: &Connection) -> Result<(), StoreError> {
    c.execute(&RELEASE_ALL_SQL, []).map_err(backend)?;
    c.execute(&REQUEUE_ALL_SQL, []).map_err(backend)?;
    Ok(())
}

/// When the next endpoint has work due, if any. It may be in the past when every due endpoint
/// is at its limit; the dispatcher then waits for a completion or its poll interval.
pub fn next_due_at(c: &Connection) -> Result<Option<Timestamp>, StoreError> {
    let next: Option<Option<i64>> = c
        .prepare_cached("SELECT MIN(next_due) FROM endpoint_queue")
        .map_err(backend)?
        .query_row([], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    Ok(next.flatten().map(from_micros))
}
