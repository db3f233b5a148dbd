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

use deadpool_postgres::GenericClient;

use super::super::attempts::insert_attempts;
use super::super::outbox::Outbox;
use super::super::rows::{from_micros, to_micros};
use super::super::{backend, get};
use super::{DueMarks, marks_from, notify_deliveries, park_endpoint};
use crate::domain::Timestamp;
use crate::policy::backpressure::CircuitPolicy;
use crate::policy::health::{self, EndpointHealth, HealthChange};
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

    // Endpoint health, in endpoint-id order (the lock order of every multi-endpoint write).
    let mut by_endpoint: Vec<&AttemptRecord> = records.iter().collect();
    by_endpoint.sort_by(|a, b| a.attempt.endpoint_id.cmp(&b.attempt.endpoint_id));
    let mut disabled = Vec::new();
    for record in by_endpoint {
        disabled.extend(record_health(c, record, circuit).await?);
    }
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
/// two recording nodes cannot deadlock on them); returns the queue entries to lower.
async fn move_deliveries(
    c: &impl GenericClient,
    records: &[AttemptRecord],
) -> Result<DueMarks, StoreError> {
    let statement = c
        .prepare_cached(
            "UPDATE delivery d SET status = step.status, next_attempt_at = step.next_attempt_at,
             lease_token = NULL, leased_by = NULL, attempts_made = d.attempts_made + 1
             FROM unnest($1::text[], $2::bigint[], $3::smallint[], $4::bigint[])
                  AS step(id, lease_token, status, next_attempt_at)
             WHERE d.id = step.id AND d.lease_token = step.lease_token
             RETURNING d.endpoint_id, d.app_id, d.next_attempt_at, d.status",
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
    // A retry makes the delivery due again; a finished one may unblock the next in line of an
    // ordered endpoint. Either way the endpoint may have work due from then on.
    marks_from(&moved)
}

/// Applies the attempt to its endpoint's health; returns the endpoint if this disabled it.
async fn record_health(
    c: &impl GenericClient,
    record: &AttemptRecord,
    circuit: &CircuitPolicy,
) -> Result<Option<DisabledEndpoint>, StoreError> {
    let endpoint_id = record.attempt.endpoint_id.as_str();
    let Some(stored) = endpoint_health(c, endpoint_id).await? else {
        return Ok(None);
    };
    let change = health::apply(&stored, &record.health_result(), circuit);
    if change.changed {
        save_health(c, endpoint_id, &change).await?;
    }
    if change.disable.is_some()
        && disable_endpoint(c, endpoint_id, record.attempt.created_at).await?
    {
        return Ok(Some(DisabledEndpoint {
            app_id: record.attempt.app_id.clone(),
            endpoint_id: record.attempt.endpoint_id.clone(),
            failing_since: change.after.failing_since,
        }));
    }
    Ok(None)
}

/// The endpoint's stored health, read without a lock: a healthy endpoint's success writes
/// nothing, so recording on it takes no row lock.
async fn endpoint_health(
    c: &impl GenericClient,
    endpoint_id: &str,
) -> Result<Option<EndpointHealth>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT failing_since, consecutive_failures, paused_until FROM endpoint WHERE id = $1",
        )
        .await
        .map_err(backend)?;
    let Some(row) = c
        .query_opt(&statement, &[&endpoint_id])
        .await
        .map_err(backend)?
    else {
        return Ok(None);
    };
    Ok(Some(EndpointHealth {
        failing_since: get::<Option<i64>>(&row, 0)?.map(from_micros),
        consecutive_failures: u32::try_from(get::<i32>(&row, 1)?).unwrap_or(0),
        resting_until: get::<Option<i64>>(&row, 2)?.map(from_micros),
    }))
}

async fn save_health(
    c: &impl GenericClient,
    endpoint_id: &str,
    change: &HealthChange,
) -> Result<(), StoreError> {
    // The count is written relative to the stored one, so concurrent recorders on other nodes
    // add up.
    let statement = c
        .prepare_cached(
            "UPDATE endpoint SET failing_since = $2, paused_until = $4,
             consecutive_failures = CASE WHEN $3 THEN 0 ELSE consecutive_failures + 1 END
             WHERE id = $1",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &endpoint_id,
            &change.after.failing_since.map(to_micros),
            &change.resets_failures(),
            &change.after.resting_until.map(to_micros),
        ],
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
