//! Recording attempts, in the caller's transaction: the attempts' rows, their deliveries' next
//! steps (only under the lease that claimed them), each endpoint's health as
//! `policy::health::apply` decides it, and the operational events all this raises (`outbox`).
//!
//! Lock order: delivery rows (by id), then every `endpoint_queue` row the write touches in one
//! sorted pass (its own endpoints', and the operational endpoints' its events go to), then
//! endpoint rows (by id). The queue rows come before the endpoint rows as in every other write
//! (a claim holds an endpoint's queue row while it updates the endpoint's bucket), and in one
//! pass: were the operational endpoints' taken after the rest, a batch recording for an
//! operational endpoint and for one of these endpoints could hold one row each and wait for
//! the other's.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::super::attempts::insert_attempts;
use super::super::outbox::Outbox;
use super::super::rows::{from_micros, to_micros};
use super::super::{backend, get};
use super::{DueMarks, notify_deliveries, park_endpoint};
use crate::domain::Timestamp;
use crate::policy::backpressure::CircuitPolicy;
use crate::policy::health::{self, EndpointHealth};
use crate::store::outbox;
use crate::store::parsed_filters::ParsedFilters;
use crate::store::{AttemptRecord, DisabledEndpoint, StoreError};

/// Records the attempts and moves on the deliveries whose lease token still matches; runs in
/// the caller's transaction. Returns the endpoints it disabled, and how many deliveries the
/// operational events it raised added.
pub async fn record_attempts(
    c: &impl GenericClient,
    filters: &ParsedFilters,
    records: &[AttemptRecord],
    circuit: &CircuitPolicy,
) -> Result<(Vec<DisabledEndpoint>, usize), StoreError> {
    let attempts: Vec<_> = records.iter().map(|record| &record.attempt).collect();
    insert_attempts(c, &attempts).await?;
    let mut due_marks = move_deliveries(c, records).await?;

    // The events are decided from the records; the outbox is read only when there may be some.
    let Some(now) = outbox::recorded_at(records) else {
        return Ok((Vec::new(), 0));
    };
    let attempt_events = outbox::attempt_events(records);
    let may_disable = records.iter().any(AttemptRecord::may_disable_endpoint);
    let operational = if attempt_events.is_empty() && !may_disable {
        Outbox::default()
    } else {
        Outbox::read(c, filters).await?
    };
    let mut added = operational
        .insert(c, &attempt_events, now, &mut due_marks)
        .await?;
    if may_disable {
        for endpoint_id in operational.subscribers(outbox::ENDPOINT_DISABLED) {
            due_marks.lock(endpoint_id.as_str());
        }
    }
    due_marks.apply(c).await?;

    // Endpoint health: every endpoint's stored health read in one statement, each endpoint's
    // attempts applied in order, and what changed written back in endpoint-id order.
    let disabled = record_health(c, records, circuit).await?;
    // Their queue rows were locked above, with the others.
    let mut disabled_marks = DueMarks::default();
    added += operational
        .insert(
            c,
            &outbox::disabled_events(&disabled),
            now,
            &mut disabled_marks,
        )
        .await?;
    disabled_marks.apply(c).await?;
    if added > 0 {
        notify_deliveries(c).await?;
    }
    Ok((disabled, added))
}

/// Moves on the deliveries whose lease token still matches, locking their rows in id order (so
/// recorders and renewals cannot deadlock on them); returns the queue entries to lower. An
/// `UPDATE ... FROM unnest` alone locks rows in whatever order its join visits them, so the
/// rows are locked by a sorted `FOR UPDATE` in the same statement, which the update joins: it
/// touches only rows that pass already holds.
async fn move_deliveries(
    c: &impl GenericClient,
    records: &[AttemptRecord],
) -> Result<DueMarks, StoreError> {
    let statement = c
        .prepare_cached(
            "WITH step AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::smallint[],
                                                $4::bigint[])
                           AS step(id, lease_token, status, next_attempt_at)),
             locked AS MATERIALIZED (SELECT d.id FROM delivery d JOIN step ON d.id = step.id
                        WHERE d.lease_token = step.lease_token
                        ORDER BY d.id FOR NO KEY UPDATE OF d)
             UPDATE delivery d SET status = step.status, next_attempt_at = step.next_attempt_at,
             lease_token = NULL, leased_by = NULL, attempts_made = d.attempts_made + 1
             FROM step, locked
             WHERE d.id = step.id AND d.id = locked.id AND d.lease_token = step.lease_token
             RETURNING d.endpoint_id, d.app_id, d.next_attempt_at,
                       d.status = 1 OR COALESCE((SELECT e.ordered FROM endpoint e
                                                 WHERE e.id = d.endpoint_id), true)",
        )
        .await
        .map_err(backend)?;
    let mut sorted: Vec<&AttemptRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    let ids: Vec<&str> = sorted.iter().map(|r| r.delivery_id.as_str()).collect();
    let tokens: Vec<i64> = sorted.iter().map(|r| r.lease_token).collect();
    let (statuses, next_at): (Vec<i16>, Vec<i64>) = sorted
        .iter()
        .map(|record| {
            let (status, at) = record.delivery_step();
            (status, to_micros(at))
        })
        .unzip();
    let moved = c
        .query(&statement, &[&ids, &tokens, &statuses, &next_at])
        .await
        .map_err(backend)?;
    // A retry makes the delivery due again, and a finished one may unblock the next in line of
    // an ordered endpoint: then the endpoint may have work due from then on. A finished delivery
    // of any other endpoint makes nothing due (its lease only frees room, and a claim that found
    // the endpoint at its limit left its queue entry due), so it leaves the queue row alone: that
    // row is what claims and every node's message writers wait for, and lowering it would send
    // claims to an endpoint that may have nothing due.
    let mut marks = DueMarks::default();
    for row in &moved {
        if get::<bool>(row, 3)? {
            marks.mark(
                &get::<String>(row, 0)?,
                &get::<String>(row, 1)?,
                get(row, 2)?,
            );
        }
    }
    Ok(marks)
}

/// Applies every attempt to its endpoint's health (`policy::health::apply`, in the batch's
/// order for each endpoint), from the stored health read for all endpoints in one statement,
/// and writes back what changed; returns the endpoints this disabled.
async fn record_health(
    c: &impl GenericClient,
    records: &[AttemptRecord],
    circuit: &CircuitPolicy,
) -> Result<Vec<DisabledEndpoint>, StoreError> {
    let mut by_endpoint: Vec<&AttemptRecord> = records.iter().collect();
    // Stable: each endpoint's attempts keep the batch's order.
    by_endpoint.sort_by(|a, b| a.attempt.endpoint_id.cmp(&b.attempt.endpoint_id));
    let mut endpoint_ids: Vec<&str> = by_endpoint
        .iter()
        .map(|record| record.attempt.endpoint_id.as_str())
        .collect();
    endpoint_ids.dedup();
    let mut stored = endpoint_health(c, &endpoint_ids).await?;
    let mut folds: Vec<HealthFold<'_>> = Vec::new();
    for record in by_endpoint {
        let endpoint_id = record.attempt.endpoint_id.as_str();
        if folds
            .last()
            .is_none_or(|fold| fold.endpoint_id != endpoint_id)
        {
            // A gone endpoint has no health to keep.
            let Some(health) = stored.remove(endpoint_id) else {
                continue;
            };
            folds.push(HealthFold::new(endpoint_id, health));
        }
        if let Some(fold) = folds.last_mut() {
            fold.apply(record, circuit);
        }
    }
    save_health(c, &folds).await?;
    let mut disabled = Vec::new();
    for fold in &folds {
        let Some((record, failing_since)) = fold.disabled_by else {
            continue;
        };
        if disable_endpoint(c, fold.endpoint_id, record.attempt.created_at).await? {
            disabled.push(DisabledEndpoint {
                app_id: record.attempt.app_id.clone(),
                endpoint_id: record.attempt.endpoint_id.clone(),
                failing_since,
            });
        }
    }
    Ok(disabled)
}

/// One endpoint's health through a batch of its attempts.
struct HealthFold<'a> {
    endpoint_id: &'a str,
    health: EndpointHealth,
    /// Whether any attempt changed the stored health (if none, nothing is written).
    changed: bool,
    /// Whether an attempt reset the failure count: the stored count is then set to `failures`;
    /// otherwise `failures` is added to it, so concurrent recorders on other nodes add up.
    reset: bool,
    /// Failures counted since the last reset (or the batch's start).
    failures: i32,
    /// The first attempt that disabled the endpoint, with the failing-since it left.
    disabled_by: Option<(&'a AttemptRecord, Option<Timestamp>)>,
}

impl<'a> HealthFold<'a> {
    fn new(endpoint_id: &'a str, health: EndpointHealth) -> Self {
        HealthFold {
            endpoint_id,
            health,
            changed: false,
            reset: false,
            failures: 0,
            disabled_by: None,
        }
    }

    fn apply(&mut self, record: &'a AttemptRecord, circuit: &CircuitPolicy) {
        let change = health::apply(&self.health, &record.health_result(), circuit);
        if change.changed {
            self.changed = true;
            if change.resets_failures() {
                self.reset = true;
                self.failures = 0;
            } else {
                self.failures = self.failures.saturating_add(1);
            }
        }
        if change.disable.is_some() && self.disabled_by.is_none() {
            self.disabled_by = Some((record, change.after.failing_since));
        }
        self.health = change.after;
    }
}

/// The stored health of the endpoints, read without a lock: a healthy endpoint's success writes
/// nothing, so recording on it takes no row lock.
async fn endpoint_health(
    c: &impl GenericClient,
    endpoint_ids: &[&str],
) -> Result<HashMap<String, EndpointHealth>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT id, failing_since, consecutive_failures, paused_until FROM endpoint
             WHERE id = ANY($1)",
        )
        .await
        .map_err(backend)?;
    let rows = c
        .query(&statement, &[&endpoint_ids])
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|row| {
            let health = EndpointHealth {
                failing_since: get::<Option<i64>>(row, 1)?.map(from_micros),
                consecutive_failures: u32::try_from(get::<i32>(row, 2)?).unwrap_or(0),
                resting_until: get::<Option<i64>>(row, 3)?.map(from_micros),
            };
            Ok((get::<String>(row, 0)?, health))
        })
        .collect()
}

/// Writes the changed endpoints' health in one statement, their rows locked in endpoint-id
/// order by a sorted `FOR UPDATE` the update joins (see `move_deliveries`).
async fn save_health(c: &impl GenericClient, folds: &[HealthFold<'_>]) -> Result<(), StoreError> {
    let changed: Vec<&HealthFold<'_>> = folds.iter().filter(|fold| fold.changed).collect();
    if changed.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = changed.iter().map(|fold| fold.endpoint_id).collect();
    let statement = c
        .prepare_cached(
            "WITH h AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bool[],
                                             $5::integer[])
                        AS h(id, failing_since, paused_until, reset, failures)),
             locked AS MATERIALIZED (SELECT e.id FROM endpoint e JOIN h ON e.id = h.id
                        ORDER BY e.id FOR NO KEY UPDATE OF e)
             UPDATE endpoint e SET failing_since = h.failing_since, paused_until = h.paused_until,
             consecutive_failures = CASE WHEN h.reset THEN h.failures
                                    ELSE e.consecutive_failures + h.failures END
             FROM h, locked WHERE e.id = h.id AND e.id = locked.id",
        )
        .await
        .map_err(backend)?;
    let failing_since: Vec<Option<i64>> = changed
        .iter()
        .map(|fold| fold.health.failing_since.map(to_micros))
        .collect();
    let paused_until: Vec<Option<i64>> = changed
        .iter()
        .map(|fold| fold.health.resting_until.map(to_micros))
        .collect();
    let resets: Vec<bool> = changed.iter().map(|fold| fold.reset).collect();
    let failures: Vec<i32> = changed.iter().map(|fold| fold.failures).collect();
    c.execute(
        &statement,
        &[&ids, &failing_since, &paused_until, &resets, &failures],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// Disables an endpoint that is enabled and parks its deliveries; false if it already was.
async fn disable_endpoint(
    c: &impl GenericClient,
    endpoint_id: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let statement = c
        .prepare_cached(
            "UPDATE endpoint SET disabled = TRUE, updated_at = $2 WHERE id = $1 AND NOT disabled",
        )
        .await
        .map_err(backend)?;
    let changed = c
        .execute(&statement, &[&endpoint_id, &to_micros(now)])
        .await
        .map_err(backend)?;
    park_endpoint(c, endpoint_id, to_micros(now)).await?;
    Ok(changed > 0)
}
