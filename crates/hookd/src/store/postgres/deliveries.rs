//! SQL for the delivery queue shared by every node: claiming due deliveries under a lease, fairly
//! across endpoints and applications (`claim`); recording attempts and endpoint health
//! (`record`); renewing and releasing leases (`leases`). This file keeps each endpoint's queue
//! entry and wakes the nodes. The rules of a claim and of endpoint health are
//! `policy::claim_plan` and `policy::health`, shared with SQLite: this backend only reads the
//! state they need (under the locks described below) and writes what they decide.
//!
//! The lease is the row's own `next_attempt_at`, exactly as in the SQLite backend: a claim moves
//! it to the end of the lease and stamps a fresh random `lease_token` (and `leased_by`, the node).
//! Leases are short; a live node renews all of its leases in one statement every second or so
//! (`renew`). If a node dies, its deliveries simply fall due again when their leases end, within
//! seconds; and a node that starts under the name of a dead one releases that one's leases at
//! once (`release_node_leases`). A late result from
//! an expired lease still records its attempt (it happened) but cannot move the delivery on,
//! because its token no longer matches.
//!
//! A claim is one transaction. It first locks the `endpoint_queue` rows of due endpoints with
//! `FOR UPDATE SKIP LOCKED`: endpoints another node is claiming for right now are skipped, not
//! waited for. Holding an endpoint's row, the claim counts that endpoint's live leases (every
//! node's), takes what the limit and FIFO rule allow with `FOR UPDATE SKIP LOCKED` on the
//! delivery rows, and recomputes the endpoint's `next_due`. Two nodes therefore never lease the
//! same delivery, never exceed an endpoint's limit together, and never both send an ordered
//! endpoint's head.
//!
//! Every write that touches several `endpoint_queue` rows touches them in endpoint-id order
//! (`DueMarks`), so concurrent transactions cannot deadlock on them.

mod claim;
mod leases;
mod record;

pub use claim::claim_due;
pub use leases::{next_due_at, release, release_node_leases, renew};
pub use record::record_attempts;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::rows::to_micros;
use super::{NOTIFY_CHANNEL, PostgresStore, backend, get};
use crate::domain::{AppId, DeliveryId, EndpointId, MessageId, Timestamp, TriggerType};
use crate::policy::backpressure::CircuitPolicy;
use crate::store::delivery_state::{PARKED, PENDING};
use crate::store::{
    AttemptRecord, ClaimBudget, ClaimedDelivery, DeliveryStore, DisabledEndpoint, HeldLease,
    RenewedLeases, StoreError,
};
#[async_trait]
impl DeliveryStore for PostgresStore {
    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        budget: ClaimBudget,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let claimed = claim_due(
            &transaction,
            &self.sealing,
            &self.node_id,
            now,
            lease,
            &budget,
        )
        .await?;
        transaction.commit().await.map_err(backend)?;
        Ok(claimed)
    }

    async fn record_attempts(
        &self,
        records: Vec<AttemptRecord>,
        circuit: CircuitPolicy,
    ) -> Result<Vec<DisabledEndpoint>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let (disabled, added) =
            record_attempts(&transaction, &self.filters, &records, &circuit).await?;
        transaction.commit().await.map_err(backend)?;
        self.committed(added);
        Ok(disabled)
    }

    async fn release_deliveries(&self, ids: Vec<DeliveryId>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        release(&transaction, &self.node_id, &ids).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn renew_leases(
        &self,
        leases: Vec<HeldLease>,
        until: Timestamp,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        renew(&self.client().await?, &self.node_id, &leases, until)
            .await
            .map(|renewed| renewed.renewed)
    }

    async fn renew_leases_unless_busy(
        &self,
        leases: Vec<HeldLease>,
        until: Timestamp,
    ) -> Result<RenewedLeases, StoreError> {
        if leases.is_empty() {
            return Ok(RenewedLeases::default());
        }
        renew(&self.client().await?, &self.node_id, &leases, until).await
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError> {
        next_due_at(&self.client().await?).await
    }
}

/// Tells every listening node that deliveries may be due. Sent inside the writing transaction,
/// PostgreSQL delivers it only when (and if) that transaction commits.
pub async fn notify_deliveries(c: &impl GenericClient) -> Result<(), StoreError> {
    c.batch_execute(&format!("NOTIFY {NOTIFY_CHANNEL}"))
        .await
        .map_err(backend)
}

/// Endpoints whose queue entry must come down to a due time, collected during a transaction and
/// written at its end in one statement, in endpoint-id order. `lock` adds endpoints whose
/// queue rows the transaction may write later (the operational endpoints an `endpoint.disabled`
/// event would go to): their rows are locked in the same sorted pass, so every queue row a
/// transaction writes is taken in one order, before any endpoint row.
#[derive(Default)]
pub struct DueMarks {
    earliest: BTreeMap<String, (String, i64)>,
    locked: BTreeSet<String>,
}

impl DueMarks {
    pub fn mark(&mut self, endpoint_id: &str, app_id: &str, due: i64) {
        let entry = self
            .earliest
            .entry(endpoint_id.to_owned())
            .or_insert_with(|| (app_id.to_owned(), due));
        entry.1 = entry.1.min(due);
    }

    /// Locks the endpoint's queue row (if it has one) with the marked ones, without moving it.
    pub fn lock(&mut self, endpoint_id: &str) {
        self.locked.insert(endpoint_id.to_owned());
    }

    /// Whether nothing was marked (rows only to be locked do not count).
    pub fn is_empty(&self) -> bool {
        self.earliest.is_empty()
    }

    /// Locks the rows to be locked together with the marked ones, in endpoint-id order, then
    /// lowers (or creates) each marked endpoint's queue entry.
    pub async fn apply(self, c: &impl GenericClient) -> Result<(), StoreError> {
        if !self.locked.is_empty() {
            let statement = c
                .prepare_cached(
                    "SELECT 1 FROM endpoint_queue WHERE endpoint_id = ANY($1)
                     ORDER BY endpoint_id FOR UPDATE",
                )
                .await
                .map_err(backend)?;
            let every: BTreeSet<&str> = self
                .earliest
                .keys()
                .chain(&self.locked)
                .map(String::as_str)
                .collect();
            let every: Vec<&str> = every.into_iter().collect();
            c.execute(&statement, &[&every]).await.map_err(backend)?;
        }
        if self.earliest.is_empty() {
            return Ok(());
        }
        let statement = c
            .prepare_cached(
                "INSERT INTO endpoint_queue (endpoint_id, app_id, next_due)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
                 ON CONFLICT (endpoint_id) DO UPDATE
                 SET next_due = LEAST(endpoint_queue.next_due, excluded.next_due)",
            )
            .await
            .map_err(backend)?;
        let endpoints: Vec<&str> = self.earliest.keys().map(String::as_str).collect();
        let apps: Vec<&str> = self
            .earliest
            .values()
            .map(|(app, _)| app.as_str())
            .collect();
        let due: Vec<i64> = self.earliest.values().map(|(_, due)| *due).collect();
        c.execute(&statement, &[&endpoints, &apps, &due])
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Marks what an `UPDATE ... RETURNING endpoint_id, app_id, next_attempt_at` moved.
fn marks_from(rows: &[Row]) -> Result<DueMarks, StoreError> {
    let mut marks = DueMarks::default();
    for row in rows {
        marks.mark(
            &get::<String>(row, 0)?,
            &get::<String>(row, 1)?,
            get(row, 2)?,
        );
    }
    Ok(marks)
}

pub async fn enqueue_resend(
    c: &impl GenericClient,
    app_id: &AppId,
    msg_id: &MessageId,
    endpoint_id: &EndpointId,
    now: Timestamp,
) -> Result<DeliveryId, StoreError> {
    let delivery_id = DeliveryId::generate(now, rand::random());
    let statement = c
        .prepare_cached(
            "INSERT INTO delivery (id, app_id, msg_id, endpoint_id, status, trigger_type,
             attempts_made, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &delivery_id.as_str(),
            &app_id.as_str(),
            &msg_id.as_str(),
            &endpoint_id.as_str(),
            &PENDING,
            &(TriggerType::Manual as i16),
            &to_micros(now),
        ],
    )
    .await
    .map_err(backend)?;
    let mut marks = DueMarks::default();
    marks.mark(endpoint_id.as_str(), app_id.as_str(), to_micros(now));
    marks.apply(c).await?;
    // Someone asked for this delivery by hand: the endpoint's rest should not hold it back.
    end_rest(c, endpoint_id.as_str(), now).await?;
    notify_deliveries(c).await?;
    Ok(delivery_id)
}

/// Ends an endpoint's rest (circuit breaker or `Retry-After`) and brings its queue entry, which
/// the rest postponed, back to now. Its failure count is kept, so while it is failing it takes
/// one probe at a time (across every node) until a success. Takes the queue row before the
/// endpoint row, the order every other write takes them in.
pub async fn end_rest(
    c: &impl GenericClient,
    endpoint_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    // The queue row is locked first, in a statement of its own: an UPDATE of the endpoint in the
    // same statement would lock the endpoint row first and could deadlock with a claim or a
    // recorder holding the queue row.
    let lock_queue = c
        .prepare_cached("SELECT 1 FROM endpoint_queue WHERE endpoint_id = $1 FOR UPDATE")
        .await
        .map_err(backend)?;
    c.execute(&lock_queue, &[&endpoint_id])
        .await
        .map_err(backend)?;
    let statement = c
        .prepare_cached(
            "WITH ended AS (UPDATE endpoint SET paused_until = NULL
                            WHERE id = $1 AND paused_until IS NOT NULL RETURNING id)
             UPDATE endpoint_queue SET next_due = LEAST(next_due, $2)
             FROM ended WHERE endpoint_queue.endpoint_id = ended.id",
        )
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id, &to_micros(now)])
        .await
        .map_err(backend)?;
    Ok(())
}

/// Makes pending, unleased deliveries due at `now` at the latest (a recovery does not wait for
/// their retry), and wakes every node.
pub async fn make_due_now(
    c: &impl GenericClient,
    delivery_ids: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    if delivery_ids.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = delivery_ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    let statement = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = LEAST(next_attempt_at, $2)
             WHERE id = ANY($1) AND status = 1 AND lease_token IS NULL
             RETURNING endpoint_id, app_id, next_attempt_at",
        )
        .await
        .map_err(backend)?;
    let moved = c
        .query(&statement, &[&ids, &to_micros(now)])
        .await
        .map_err(backend)?;
    marks_from(&moved)?.apply(c).await?;
    notify_deliveries(c).await
}

/// Sets an endpoint's queue entry to the time it may go again (a rest or a throttle). The entry
/// may then lie later than the endpoint's due deliveries: it says when to look, not what is due.
async fn postpone(
    c: &impl GenericClient,
    endpoint_id: &str,
    until: Timestamp,
) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached("UPDATE endpoint_queue SET next_due = $2 WHERE endpoint_id = $1")
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id, &to_micros(until)])
        .await
        .map_err(backend)?;
    Ok(())
}

/// Recomputes an endpoint's queue entry from its pending deliveries; removes it when none are
/// left. For an ordered endpoint only the head counts, since nothing behind it can go first.
async fn refresh_queue_entry(
    c: &impl GenericClient,
    endpoint_id: &str,
    ordered: bool,
) -> Result<(), StoreError> {
    let next_due = if ordered {
        "(SELECT next_attempt_at FROM delivery WHERE endpoint_id = $1 AND status = 1
          ORDER BY id LIMIT 1)"
    } else {
        "(SELECT MIN(next_attempt_at) FROM delivery WHERE endpoint_id = $1 AND status = 1)"
    };
    let statement = c
        .prepare_cached(&format!(
            "WITH next AS (SELECT {next_due} AS due),
             updated AS (UPDATE endpoint_queue SET next_due = next.due FROM next
                         WHERE endpoint_id = $1 AND next.due IS NOT NULL)
             DELETE FROM endpoint_queue USING next WHERE endpoint_id = $1 AND next.due IS NULL"
        ))
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id])
        .await
        .map_err(backend)?;
    Ok(())
}

async fn forget_endpoint(c: &impl GenericClient, endpoint_id: &str) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached("DELETE FROM endpoint_queue WHERE endpoint_id = $1")
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id])
        .await
        .map_err(backend)?;
    Ok(())
}

/// Parks every pending delivery of a disabled endpoint that no live lease holds: kept, not
/// sent. A lease that ran out (its node died) holds nothing, so its delivery is parked too
/// instead of waiting forever as "sending".
async fn park_endpoint(
    c: &impl GenericClient,
    endpoint_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached(
            "UPDATE delivery SET status = $2 WHERE endpoint_id = $1 AND status = 1
             AND (lease_token IS NULL OR next_attempt_at <= $3)",
        )
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id, &PARKED, &now])
        .await
        .map_err(backend)?;
    refresh_queue_entry(c, endpoint_id, false).await
}
