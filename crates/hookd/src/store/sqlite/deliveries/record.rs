//! Recording attempts: each attempt's row, its delivery's next step (only under the lease that
//! claimed it), and its endpoint's health as `policy::health::apply` decides it.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::attempts::insert_attempt;
use super::super::backend;
use super::super::rows::{from_micros, to_micros};
use super::{mark_recorded_delivery_due, park_endpoint};
use crate::domain::Timestamp;
use crate::policy::backpressure::CircuitPolicy;
use crate::policy::health::{self, EndpointHealth, HealthChange};
use crate::store::{AttemptRecord, DisabledEndpoint, StoreError};

pub fn record_attempts(
    c: &Connection,
    records: Vec<AttemptRecord>,
    circuit: &CircuitPolicy,
) -> Result<Vec<DisabledEndpoint>, StoreError> {
    let mut disabled = Vec::new();
    let mut advance = c
        .prepare_cached(
            "UPDATE delivery SET status = ?3, next_attempt_at = ?4, lease_token = NULL,
             attempts_made = attempts_made + 1 WHERE id = ?1 AND lease_token = ?2",
        )
        .map_err(backend)?;
    for record in records {
        insert_attempt(c, &record.attempt)?;
        let (status, next_attempt_at) = record.delivery_step();
        let advanced = advance
            .execute(params![
                record.delivery_id.as_str(),
                record.lease_token,
                status,
                to_micros(next_attempt_at),
            ])
            .map_err(backend)?;
        if advanced > 0 {
            // A retry makes the delivery due again; a finished one may unblock the next in line
            // of an ordered endpoint. Any other finished one unblocks nothing: an endpoint held
            // back at its limit is still due in the queue, and marking it again would only cost
            // the dispatcher a claim that finds nothing.
            mark_recorded_delivery_due(c, record.delivery_id.as_str(), to_micros(next_attempt_at))?;
        }
        disabled.extend(record_health(c, &record, circuit)?);
    }
    Ok(disabled)
}

/// Applies the attempt to its endpoint's health; returns the endpoint if this disabled it.
fn record_health(
    c: &Connection,
    record: &AttemptRecord,
    circuit: &CircuitPolicy,
) -> Result<Option<DisabledEndpoint>, StoreError> {
    let endpoint_id = record.attempt.endpoint_id.as_str();
    let Some(stored) = endpoint_health(c, endpoint_id)? else {
        return Ok(None);
    };
    let change = health::apply(&stored, &record.health_result(), circuit);
    if change.changed {
        save_health(c, endpoint_id, &change)?;
    }
    if change.disable.is_some() && disable_endpoint(c, endpoint_id, record.attempt.created_at)? {
        return Ok(Some(DisabledEndpoint {
            app_id: record.attempt.app_id.clone(),
            endpoint_id: record.attempt.endpoint_id.clone(),
            failing_since: change.after.failing_since,
        }));
    }
    Ok(None)
}

fn endpoint_health(
    c: &Connection,
    endpoint_id: &str,
) -> Result<Option<EndpointHealth>, StoreError> {
    c.prepare_cached(
        "SELECT failing_since, consecutive_failures, paused_until FROM endpoint WHERE id = ?1",
    )
    .map_err(backend)?
    .query_row([endpoint_id], |row| {
        Ok(EndpointHealth {
            failing_since: row.get::<_, Option<i64>>(0)?.map(from_micros),
            consecutive_failures: row.get(1)?,
            resting_until: row.get::<_, Option<i64>>(2)?.map(from_micros),
        })
    })
    .optional()
    .map_err(backend)
}

fn save_health(c: &Connection, endpoint_id: &str, change: &HealthChange) -> Result<(), StoreError> {
    let after = change.after;
    c.prepare_cached(
        "UPDATE endpoint SET failing_since = ?2, consecutive_failures = ?3, paused_until = ?4
         WHERE id = ?1",
    )
    .map_err(backend)?
    .execute(params![
        endpoint_id,
        after.failing_since.map(to_micros),
        after.consecutive_failures,
        after.resting_until.map(to_micros)
    ])
    .map_err(backend)?;
    Ok(())
}

/// Disables an endpoint that is enabled and parks its deliveries; false if it already was.
fn disable_endpoint(c: &Connection, endpoint_id: &str, now: Timestamp) -> Result<bool, StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE endpoint SET disabled = 1, updated_at = ?2 WHERE id = ?1 AND disabled = 0",
        )
        .map_err(backend)?
        .execute(params![endpoint_id, to_micros(now)])
        .map_err(backend)?;
    park_endpoint(c, endpoint_id, to_micros(now))?;
    Ok(changed > 0)
}
