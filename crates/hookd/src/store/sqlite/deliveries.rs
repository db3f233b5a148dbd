//! SQL for the delivery queue: claiming due deliveries under a lease, fairly across endpoints and
//! applications (`claim`); recording attempts and endpoint health (`record`); renewing and
//! releasing leases (`leases`). This file keeps each endpoint's queue entry. The rules of a
//! claim and of endpoint health are `policy::claim_plan` and `policy::health`, shared with
//! PostgreSQL: this backend only reads the state they need and writes what they decide.
//!
//! The lease is the row's own `next_attempt_at`: a claim moves it to the end of the lease and
//! stamps a fresh `lease_token`. If the worker dies, the delivery simply falls due again. A late
//! result from an expired lease still records its attempt (it happened) but cannot move the
//! delivery on, because its token no longer matches. A live lease is one whose token is set and
//! whose time has not passed; counting them per endpoint gives the endpoint's in-flight attempts
//! across every worker. Leases are short and the dispatcher renews them while its attempts run
//! (`renew_leases`), exactly as on PostgreSQL.
//!
//! Claims walk `endpoint_queue` (one row per endpoint with pending work, see schema_2.sql), not
//! the delivery table, so a backlog on one endpoint costs other endpoints nothing.

mod claim;
mod leases;
mod record;
#[cfg(test)]
mod reprepare_tests;

pub use claim::claim_due;
pub use leases::{next_due_at, release, release_all_leases, renew_leases};
pub use record::record_attempts;

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::to_micros;
use super::{SqliteStore, backend, outbox};
use crate::domain::{AppId, DeliveryId, EndpointId, MessageId, Timestamp, TriggerType};
use crate::policy::backpressure::CircuitPolicy;
use crate::store::delivery_state::{PARKED, PENDING};
use crate::store::{
    AttemptRecord, ClaimBudget, ClaimedDelivery, DeliveryStore, DisabledEndpoint, HeldLease,
    StoreError,
};
#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        budget: ClaimBudget,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let sealing = std::sync::Arc::clone(&self.sealing);
        self.write(move |c| claim_due(c, &sealing, now, lease, &budget))
            .await
    }

    async fn record_attempts(
        &self,
        records: Vec<AttemptRecord>,
        circuit: CircuitPolicy,
    ) -> Result<Vec<DisabledEndpoint>, StoreError> {
        let filters = std::sync::Arc::clone(&self.filters);
        self.write_adding(move |c| {
            // The events are decided from the records before the write consumes them.
            let recorded_at = crate::store::outbox::recorded_at(&records);
            let mut events = crate::store::outbox::attempt_events(&records);
            let disabled = record_attempts(c, records, &circuit)?;
            events.extend(crate::store::outbox::disabled_events(&disabled));
            let added = match recorded_at {
                Some(now) => outbox::raise(c, &filters, &events, now)?,
                None => 0,
            };
            Ok((disabled, added))
        })
        .await
    }

    async fn release_deliveries(&self, ids: Vec<DeliveryId>) -> Result<(), StoreError> {
        self.write(move |c| release(c, &ids)).await
    }

    async fn renew_leases(
        &self,
        leases: Vec<HeldLease>,
        until: Timestamp,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |c| renew_leases(c, &leases, until)).await
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError> {
        self.read(next_due_at).await
    }
}

/// Lowers an endpoint's queue entry to `due` (creating it if missing). Every write that makes a
/// pending delivery due earlier calls this, which keeps `next_due` a lower bound.
pub fn mark_due(
    c: &Connection,
    endpoint_id: &str,
    app_id: &str,
    due: i64,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO endpoint_queue (endpoint_id, app_id, next_due) VALUES (?1, ?2, ?3)
         ON CONFLICT (endpoint_id) DO UPDATE SET next_due = MIN(next_due, excluded.next_due)",
    )
    .map_err(backend)?
    .execute(params![endpoint_id, app_id, due])
    .map_err(backend)?;
    Ok(())
}

/// Lowers the queue entry of a delivery's endpoint to `due`.
fn mark_delivery_due(c: &Connection, delivery_id: &str, due: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO endpoint_queue (endpoint_id, app_id, next_due)
         SELECT endpoint_id, app_id, ?2 FROM delivery WHERE id = ?1
         ON CONFLICT (endpoint_id) DO UPDATE SET next_due = MIN(next_due, excluded.next_due)",
    )
    .map_err(backend)?
    .execute(params![delivery_id, due])
    .map_err(backend)?;
    Ok(())
}

/// After a record: lowers the queue entry of the delivery's endpoint to `due` when the delivery
/// is pending again (a retry) or the endpoint is ordered (the next in line may go now).
fn mark_recorded_delivery_due(
    c: &Connection,
    delivery_id: &str,
    due: i64,
) -> Result<(), StoreError> {
    c.prepare_cached(&MARK_RECORDED_DUE_SQL)
        .map_err(backend)?
        .execute(params![delivery_id, due])
        .map_err(backend)?;
    Ok(())
}

/// `mark_recorded_delivery_due`'s statement (`?1` delivery, `?2` due).
static MARK_RECORDED_DUE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO endpoint_queue (endpoint_id, app_id, next_due)
         SELECT d.endpoint_id, d.app_id, ?2 FROM delivery d JOIN endpoint e ON e.id = d.endpoint_id
         WHERE d.id = ?1 AND (d.status = {PENDING} OR e.ordered)
         ON CONFLICT (endpoint_id) DO UPDATE SET next_due = MIN(next_due, excluded.next_due)"
    )
});

pub fn enqueue_resend(
    c: &Connection,
    app_id: &AppId,
    msg_id: &MessageId,
    endpoint_id: &EndpointId,
    now: Timestamp,
) -> Result<DeliveryId, StoreError> {
    let delivery_id = DeliveryId::generate(now, rand::random());
    c.prepare_cached(
        "INSERT INTO delivery (id, app_id, msg_id, endpoint_id, status, trigger_type,
         attempts_made, next_attempt_at, lease_token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, NULL)",
    )
    .map_err(backend)?
    .execute(params![
        delivery_id.as_str(),
        app_id.as_str(),
        msg_id.as_str(),
        endpoint_id.as_str(),
        PENDING,
        TriggerType::Manual as i64,
        to_micros(now),
    ])
    .map_err(backend)?;
    mark_due(c, endpoint_id.as_str(), app_id.as_str(), to_micros(now))?;
    // Someone asked for this delivery by hand: the endpoint's rest should not hold it back.
    end_rest(c, endpoint_id.as_str(), now)?;
    Ok(delivery_id)
}

/// Ends an endpoint's rest (circuit breaker or `Retry-After`) and brings its queue entry, which
/// the rest postponed, back to now. Its failure count is kept, so while it is failing it takes
/// one probe at a time until a success.
pub fn end_rest(c: &Connection, endpoint_id: &str, now: Timestamp) -> Result<(), StoreError> {
    let ended = c
        .prepare_cached(
            "UPDATE endpoint SET paused_until = NULL WHERE id = ?1 AND paused_until IS NOT NULL",
        )
        .map_err(backend)?
        .execute(params![endpoint_id])
        .map_err(backend)?;
    if ended > 0 {
        c.prepare_cached(
            "UPDATE endpoint_queue SET next_due = MIN(next_due, ?2) WHERE endpoint_id = ?1",
        )
        .map_err(backend)?
        .execute(params![endpoint_id, to_micros(now)])
        .map_err(backend)?;
    }
    Ok(())
}

// Statuses are written into these statements' text, not bound: connections plan
// without looking at bound values (the planner stability guarantee, see `open_connection`), so
// only a literal status lets the planner use the partial indexes (`WHERE status = 1`).

/// Makes a pending, unleased delivery due at `?2` at the latest (`?1` delivery).
static MAKE_DUE_NOW_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE delivery SET next_attempt_at = MIN(next_attempt_at, ?2)
         WHERE id = ?1 AND status = {PENDING} AND lease_token IS NULL"
    )
});

/// When an ordered endpoint's head is due (`?1` endpoint).
pub(in crate::store::sqlite::deliveries) static ORDERED_HEAD_DUE_SQL: LazyLock<String> =
    LazyLock::new(|| {
        format!(
            "SELECT next_attempt_at FROM delivery WHERE endpoint_id = ?1 AND status = {PENDING}
         ORDER BY id LIMIT 1"
        )
    });

/// When an endpoint's earliest pending delivery is due (`?1` endpoint).
pub(in crate::store::sqlite::deliveries) static EARLIEST_DUE_SQL: LazyLock<String> = LazyLock::new(
    || {
        format!(
            "SELECT MIN(next_attempt_at) FROM delivery WHERE endpoint_id = ?1 AND status = {PENDING}"
        )
    },
);

/// Parks an endpoint's pending deliveries that no live lease holds (`?1` endpoint, `?2` now).
static PARK_ENDPOINT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE delivery SET status = {PARKED} WHERE endpoint_id = ?1 AND status = {PENDING}
         AND (lease_token IS NULL OR next_attempt_at <= ?2)"
    )
});

/// Makes pending, unleased deliveries due at `now` at the latest (a recovery does not wait for
/// their retry).
pub fn make_due_now(
    c: &Connection,
    delivery_ids: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut statement = c.prepare_cached(&MAKE_DUE_NOW_SQL).map_err(backend)?;
    for delivery_id in delivery_ids {
        statement
            .execute(params![delivery_id, to_micros(now)])
            .map_err(backend)?;
        mark_delivery_due(c, delivery_id, to_micros(now))?;
    }
    Ok(())
}

/// Sets an endpoint's queue entry to the time it may go again (a rest or a throttle). The entry
/// may then lie later than the endpoint's due deliveries: it says when to look, not what is due.
fn postpone(c: &Connection, endpoint_id: &str, until: Timestamp) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE endpoint_queue SET next_due = ?2 WHERE endpoint_id = ?1")
        .map_err(backend)?
        .execute(params![endpoint_id, to_micros(until)])
        .map_err(backend)?;
    Ok(())
}

/// Recomputes an endpoint's queue entry from its pending deliveries; removes it when none are
/// left. For an ordered endpoint only the head counts, since nothing behind it can go first.
fn refresh_queue_entry(c: &Connection, endpoint_id: &str, ordered: bool) -> Result<(), StoreError> {
    let sql: &str = if ordered {
        &ORDERED_HEAD_DUE_SQL
    } else {
        &EARLIEST_DUE_SQL
    };
    let next: Option<i64> = c
        .prepare_cached(sql)
        .map_err(backend)?
        .query_row([endpoint_id], |row| row.get(0))
        .optional()
        .map_err(backend)?
        .flatten();
    match next {
        Some(next_due) => {
            c.prepare_cached("UPDATE endpoint_queue SET next_due = ?2 WHERE endpoint_id = ?1")
                .map_err(backend)?
                .execute(params![endpoint_id, next_due])
                .map_err(backend)?;
        }
        None => forget_endpoint(c, endpoint_id)?,
    }
    Ok(())
}

fn forget_endpoint(c: &Connection, endpoint_id: &str) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM endpoint_queue WHERE endpoint_id = ?1")
        .map_err(backend)?
        .execute([endpoint_id])
        .map_err(backend)?;
    Ok(())
}

/// Parks every pending delivery of a disabled endpoint that no live lease holds: kept, not
/// sent. A lease that ran out (its node died) holds nothing, so its delivery is parked too
/// instead of waiting forever as "sending".
fn park_endpoint(c: &Connection, endpoint_id: &str, now_micros: i64) -> Result<(), StoreError> {
    c.prepare_cached(&PARK_ENDPOINT_SQL)
        .map_err(backend)?
        .execute(params![endpoint_id, now_micros])
        .map_err(backend)?;
    refresh_queue_entry(c, endpoint_id, false)
}
