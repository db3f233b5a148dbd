//! SQL for the delivery queue: claiming due deliveries under a lease, fairly across endpoints and
//! applications; recording attempts; deferring and releasing leases.
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

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::backend;
use super::catalog::signing_secrets;
use super::messages::insert_attempt;
use super::rows::{corrupt, from_json, from_micros, to_json, to_micros};
use crate::domain::{
    AppId, DeliveryId, DeliveryOptions, DeliveryStatus, EndpointId, EndpointUrl, EventTypeName,
    MessageId, SigningSecrets, Timestamp, TriggerType,
};
use crate::policy::backpressure::{Bucket, CircuitPolicy, time_to_token, tokens_at};
use crate::policy::claim_order::{
    Candidate, ClaimShares, Turn, fair_order, scan_may_miss_quick_endpoints,
    with_due_quick_endpoints,
};
use crate::policy::retry::RetrySchedule;
use crate::store::delivery_state::{FAILED, PARKED, PENDING, SUCCEEDED};
use crate::store::{
    AttemptRecord, ClaimBudget, ClaimedDelivery, DisabledEndpoint, HeldLease, NextStep, StoreError,
};

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

/// Makes pending, unleased deliveries due at `now` at the latest (a recovery does not wait for
/// their retry).
pub fn make_due_now(
    c: &Connection,
    delivery_ids: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut statement = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = MIN(next_attempt_at, ?2)
             WHERE id = ?1 AND status = ?3 AND lease_token IS NULL",
        )
        .map_err(backend)?;
    for delivery_id in delivery_ids {
        statement
            .execute(params![delivery_id, to_micros(now), PENDING])
            .map_err(backend)?;
        mark_delivery_due(c, delivery_id, to_micros(now))?;
    }
    Ok(())
}

/// The endpoint settings and state a claim needs.
struct EndpointRow {
    url: String,
    headers: String,
    disabled: bool,
    options: DeliveryOptions,
    endpoint_throttle_rate: Option<u32>,
    app_throttle_rate: Option<u32>,
    consecutive_failures: u32,
    resting_until: Option<Timestamp>,
    endpoint_bucket: Option<Bucket>,
    app_bucket: Option<Bucket>,
}

/// An application's throttle bucket during one claim, written back at its end.
struct AppBucket {
    rate: u32,
    tokens: f64,
}

pub fn claim_due(
    c: &Connection,
    now: Timestamp,
    lease: Duration,
    budget: &ClaimBudget,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let now_micros = to_micros(now);
    let lease_end = to_micros(now + lease);
    let candidates = fair_order(due_endpoints(c, now_micros, budget)?);
    let mut claimed = Vec::new();
    let mut app_buckets: HashMap<String, AppBucket> = HashMap::new();
    let mut shares = ClaimShares::new(budget, &candidates);
    for candidate in &candidates {
        let share = match shares.turn(candidate) {
            Turn::ClaimIsFull => break,
            Turn::PassOver => continue,
            Turn::TakeAtMost(share) => share,
        };
        let visit = Visit {
            candidate,
            now,
            lease_end,
            share,
            budget,
        };
        let claimed_before = claimed.len();
        claim_for_endpoint(c, &visit, &mut app_buckets, &mut claimed)?;
        shares.took(candidate, claimed.len() - claimed_before);
    }
    for (app_id, bucket) in app_buckets {
        c.prepare_cached(
            "UPDATE application SET throttle_tokens = ?2, throttle_updated = ?3 WHERE id = ?1",
        )
        .map_err(backend)?
        .execute(params![app_id, bucket.tokens, now_micros])
        .map_err(backend)?;
    }
    Ok(claimed)
}

/// Endpoints whose queue entry is due, oldest first, skipping those the budget blocks.
fn due_endpoints(
    c: &Connection,
    now: i64,
    budget: &ClaimBudget,
) -> Result<Vec<Candidate>, StoreError> {
    let blocked = budget
        .endpoint_allowance
        .values()
        .filter(|allowance| **allowance == 0)
        .count();
    let fetch = budget.limit.saturating_mul(2) + blocked + 16;
    let mut statement = c
        .prepare_cached(
            "SELECT endpoint_id, app_id FROM endpoint_queue WHERE next_due <= ?1
             ORDER BY next_due LIMIT ?2",
        )
        .map_err(backend)?;
    let rows = statement
        .query_map(
            params![now, i64::try_from(fetch).unwrap_or(i64::MAX)],
            |row| {
                Ok(Candidate {
                    endpoint_id: row.get(0)?,
                    app_id: row.get(1)?,
                })
            },
        )
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let rows_scanned = rows.len();
    let candidates = rows
        .into_iter()
        .filter(|candidate| {
            let endpoint = EndpointId::from_trusted(candidate.endpoint_id.clone());
            budget.endpoint_allowance.get(&endpoint) != Some(&0)
        })
        .collect();
    if !scan_may_miss_quick_endpoints(budget, rows_scanned, fetch) {
        return Ok(candidates);
    }
    let due_quick = due_quick_endpoints(c, now, budget)?;
    Ok(with_due_quick_endpoints(budget, candidates, due_quick))
}

/// The budget's quick endpoints that are due, looked up by id (see `ClaimBudget`).
fn due_quick_endpoints(
    c: &Connection,
    now: i64,
    budget: &ClaimBudget,
) -> Result<Vec<Candidate>, StoreError> {
    let quick: Vec<&str> = budget
        .quick_endpoints
        .iter()
        .map(|endpoint_id| endpoint_id.as_str())
        .collect();
    let fetch = budget.limit.saturating_mul(2) + 16;
    let mut statement = c
        .prepare_cached(
            "SELECT endpoint_id, app_id FROM endpoint_queue WHERE next_due <= ?1
             AND endpoint_id IN (SELECT value FROM json_each(?2)) ORDER BY next_due LIMIT ?3",
        )
        .map_err(backend)?;
    let due_quick = statement
        .query_map(
            params![
                now,
                to_json(&quick)?,
                i64::try_from(fetch).unwrap_or(i64::MAX)
            ],
            |row| {
                Ok(Candidate {
                    endpoint_id: row.get(0)?,
                    app_id: row.get(1)?,
                })
            },
        )
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    Ok(due_quick)
}

/// One endpoint's turn in a claim.
struct Visit<'a> {
    candidate: &'a Candidate,
    now: Timestamp,
    lease_end: i64,
    share: usize,
    budget: &'a ClaimBudget,
}

fn claim_for_endpoint(
    c: &Connection,
    visit: &Visit<'_>,
    app_buckets: &mut HashMap<String, AppBucket>,
    claimed: &mut Vec<ClaimedDelivery>,
) -> Result<(), StoreError> {
    let (candidate, now, budget) = (visit.candidate, visit.now, visit.budget);
    let now_micros = to_micros(now);
    let endpoint_id = candidate.endpoint_id.as_str();
    let Some(endpoint) = endpoint_row(c, endpoint_id)? else {
        // The endpoint is gone; its deliveries went with it.
        forget_endpoint(c, endpoint_id)?;
        return Ok(());
    };
    if endpoint.disabled {
        park_endpoint(c, endpoint_id)?;
        return Ok(());
    }
    if let Some(until) = endpoint.resting_until.filter(|until| *until > now) {
        // Resting (circuit open or Retry-After): come back when the rest is over.
        return postpone(c, endpoint_id, until);
    }
    let live_leases = live_leases(c, endpoint_id, now_micros)?;
    let max_in_flight = endpoint
        .options
        .max_in_flight
        .unwrap_or(budget.default_max_in_flight);
    let mut room = usize::try_from(max_in_flight.saturating_sub(live_leases)).unwrap_or(0);
    if let Some(allowance) = budget
        .endpoint_allowance
        .get(&EndpointId::from_trusted(endpoint_id))
    {
        room = room.min(usize::try_from(*allowance).unwrap_or(0));
    }
    if endpoint.options.ordered || budget.circuit.is_probing(endpoint.consecutive_failures) {
        // FIFO, or a failing endpoint's single probe: one at a time, across every node.
        room = if live_leases == 0 { room.min(1) } else { 0 };
    }
    let endpoint_tokens = endpoint
        .endpoint_throttle_rate
        .map(|rate| (rate, tokens_at(rate, endpoint.endpoint_bucket, now)));
    let app_tokens = endpoint.app_throttle_rate.map(|rate| {
        let bucket = app_buckets
            .entry(candidate.app_id.clone())
            .or_insert_with(|| AppBucket {
                rate,
                tokens: tokens_at(rate, endpoint.app_bucket, now),
            });
        (bucket.rate, bucket.tokens)
    });
    for (rate, tokens) in endpoint_tokens.into_iter().chain(app_tokens) {
        room = room.min(tokens.max(0.0).floor() as usize);
        if tokens < 1.0 {
            // Throttled: come back when the next token is there. Waiting is not an attempt.
            let ready =
                now + chrono::Duration::from_std(time_to_token(rate, tokens)).unwrap_or_default();
            return postpone(c, endpoint_id, ready);
        }
    }
    let take = room.min(visit.share);
    let due = if take == 0 {
        Vec::new()
    } else if endpoint.options.ordered {
        head_if_due(c, endpoint_id, now_micros)?
    } else {
        due_deliveries(c, endpoint_id, now_micros, take)?
    };
    let taken = due.len();
    spend_tokens(c, endpoint_id, endpoint_tokens, taken, now_micros)?;
    if let Some(bucket) = app_buckets.get_mut(&candidate.app_id)
        && endpoint.app_throttle_rate.is_some()
    {
        bucket.tokens -= taken as f64;
    }

    let secrets = if due.is_empty() {
        SigningSecrets::default()
    } else {
        signing_secrets(c, &EndpointId::from_trusted(endpoint_id), now)?
    };
    let url = EndpointUrl::parse(&endpoint.url).map_err(corrupt)?;
    let headers: std::collections::BTreeMap<String, String> = from_json(&endpoint.headers)?;
    let mut take_lease = c
        .prepare_cached("UPDATE delivery SET next_attempt_at = ?2, lease_token = ?3 WHERE id = ?1")
        .map_err(backend)?;
    for row in due {
        let lease_token: i64 = rand::random();
        take_lease
            .execute(params![row.id, visit.lease_end, lease_token])
            .map_err(backend)?;
        claimed.push(ClaimedDelivery {
            delivery_id: DeliveryId::from_trusted(row.id),
            lease_token,
            app_id: AppId::from_trusted(candidate.app_id.clone()),
            msg_id: MessageId::from_trusted(row.msg_id),
            endpoint_id: EndpointId::from_trusted(endpoint_id),
            event_type: EventTypeName::parse(&row.event_type).map_err(corrupt)?,
            attempts_made: row.attempts_made,
            trigger_type: TriggerType::from_code(row.trigger_type),
            url: url.clone(),
            headers: headers.clone(),
            options: endpoint.options.clone(),
            secrets: secrets.clone(),
            payload: row.payload,
        });
    }
    refresh_queue_entry(c, endpoint_id, endpoint.options.ordered)
}

/// Stores what a claim took from an endpoint's throttle bucket.
fn spend_tokens(
    c: &Connection,
    endpoint_id: &str,
    bucket: Option<(u32, f64)>,
    taken: usize,
    now: i64,
) -> Result<(), StoreError> {
    if let Some((_, tokens)) = bucket {
        c.prepare_cached(
            "UPDATE endpoint SET throttle_tokens = ?2, throttle_updated = ?3 WHERE id = ?1",
        )
        .map_err(backend)?
        .execute(params![endpoint_id, tokens - taken as f64, now])
        .map_err(backend)?;
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

fn endpoint_row(c: &Connection, endpoint_id: &str) -> Result<Option<EndpointRow>, StoreError> {
    c.prepare_cached(
        "SELECT e.url, e.headers, e.disabled, e.max_in_flight, e.ordered, e.retry_schedule,
                e.auth, e.throttle_rate, a.throttle_rate, e.consecutive_failures,
                e.paused_until, e.throttle_tokens, e.throttle_updated, a.throttle_tokens,
                a.throttle_updated
         FROM endpoint e JOIN application a ON a.id = e.app_id WHERE e.id = ?1",
    )
    .map_err(backend)?
    .query_row([endpoint_id], |row| {
        let bucket = |tokens: Option<f64>, updated: Option<i64>| {
            tokens.zip(updated).map(|(tokens, updated)| Bucket {
                tokens,
                updated: from_micros(updated),
            })
        };
        let schedule: Option<String> = row.get(5)?;
        let auth: Option<String> = row.get(6)?;
        Ok((
            EndpointRow {
                url: row.get(0)?,
                headers: row.get(1)?,
                disabled: row.get(2)?,
                options: DeliveryOptions {
                    max_in_flight: row.get(3)?,
                    ordered: row.get(4)?,
                    retry_schedule: None,
                    auth: None,
                },
                endpoint_throttle_rate: row.get(7)?,
                app_throttle_rate: row.get(8)?,
                consecutive_failures: row.get(9)?,
                resting_until: row.get::<_, Option<i64>>(10)?.map(from_micros),
                endpoint_bucket: bucket(row.get(11)?, row.get(12)?),
                app_bucket: bucket(row.get(13)?, row.get(14)?),
            },
            schedule,
            auth,
        ))
    })
    .optional()
    .map_err(backend)?
    .map(|(mut endpoint, schedule, auth)| {
        endpoint.options.retry_schedule = schedule
            .as_deref()
            .map(str::parse::<RetrySchedule>)
            .transpose()
            .map_err(backend)?;
        endpoint.options.auth = auth.as_deref().map(from_json).transpose()?;
        Ok(endpoint)
    })
    .transpose()
}

fn live_leases(c: &Connection, endpoint_id: &str, now: i64) -> Result<u32, StoreError> {
    c.prepare_cached(
        "SELECT COUNT(*) FROM delivery WHERE endpoint_id = ?1 AND status = ?2
         AND lease_token IS NOT NULL AND next_attempt_at > ?3",
    )
    .map_err(backend)?
    .query_row(params![endpoint_id, PENDING, now], |row| row.get(0))
    .map_err(backend)
}

struct DueRow {
    id: String,
    msg_id: String,
    attempts_made: u32,
    trigger_type: i64,
    payload: Option<String>,
    event_type: String,
}

fn due_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DueRow> {
    Ok(DueRow {
        id: row.get(0)?,
        msg_id: row.get(1)?,
        attempts_made: row.get(2)?,
        trigger_type: row.get(3)?,
        payload: row.get(4)?,
        event_type: row.get(5)?,
    })
}

fn due_deliveries(
    c: &Connection,
    endpoint_id: &str,
    now: i64,
    take: usize,
) -> Result<Vec<DueRow>, StoreError> {
    c.prepare_cached(
        "SELECT d.id, d.msg_id, d.attempts_made, d.trigger_type, m.payload, m.event_type
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE d.endpoint_id = ?1 AND d.status = ?2 AND d.next_attempt_at <= ?3
         ORDER BY d.next_attempt_at LIMIT ?4",
    )
    .map_err(backend)?
    .query_map(
        params![
            endpoint_id,
            PENDING,
            now,
            i64::try_from(take).unwrap_or(i64::MAX)
        ],
        due_row,
    )
    .map_err(backend)?
    .collect::<Result<_, _>>()
    .map_err(backend)
}

/// The oldest pending delivery of an ordered endpoint, if it is due.
fn head_if_due(c: &Connection, endpoint_id: &str, now: i64) -> Result<Vec<DueRow>, StoreError> {
    let head = c
        .prepare_cached(
            "SELECT d.id, d.msg_id, d.attempts_made, d.trigger_type, m.payload, m.event_type,
                    d.next_attempt_at
             FROM delivery d JOIN message m ON m.id = d.msg_id
             WHERE d.endpoint_id = ?1 AND d.status = ?2 ORDER BY d.id LIMIT 1",
        )
        .map_err(backend)?
        .query_row(params![endpoint_id, PENDING], |row| {
            Ok((due_row(row)?, row.get::<_, i64>(6)?))
        })
        .optional()
        .map_err(backend)?;
    Ok(head
        .filter(|(_, due)| *due <= now)
        .map(|(row, _)| row)
        .into_iter()
        .collect())
}

/// Recomputes an endpoint's queue entry from its pending deliveries; removes it when none are
/// left. For an ordered endpoint only the head counts, since nothing behind it can go first.
fn refresh_queue_entry(c: &Connection, endpoint_id: &str, ordered: bool) -> Result<(), StoreError> {
    let sql = if ordered {
        "SELECT next_attempt_at FROM delivery WHERE endpoint_id = ?1 AND status = ?2
         ORDER BY id LIMIT 1"
    } else {
        "SELECT MIN(next_attempt_at) FROM delivery WHERE endpoint_id = ?1 AND status = ?2"
    };
    let next: Option<i64> = c
        .prepare_cached(sql)
        .map_err(backend)?
        .query_row(params![endpoint_id, PENDING], |row| row.get(0))
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

/// Parks every pending, unleased delivery of a disabled endpoint: kept, not sent.
fn park_endpoint(c: &Connection, endpoint_id: &str) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE delivery SET status = ?2 WHERE endpoint_id = ?1 AND status = ?3
         AND lease_token IS NULL",
    )
    .map_err(backend)?
    .execute(params![endpoint_id, PARKED, PENDING])
    .map_err(backend)?;
    refresh_queue_entry(c, endpoint_id, false)
}

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
        let (status, next_attempt_at) = match record.next {
            NextStep::Done => (SUCCEEDED, record.attempt.created_at),
            NextStep::RetryAt(at) => (PENDING, at),
            NextStep::GiveUp => (FAILED, record.attempt.created_at),
        };
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
            // of an ordered endpoint. Either way the endpoint may have work due from then on.
            mark_delivery_due(c, record.delivery_id.as_str(), to_micros(next_attempt_at))?;
        }
        let endpoint_id = record.attempt.endpoint_id.as_str();
        let failing_since = track_health(c, endpoint_id, &record, circuit)?;
        let failing_too_long = match (failing_since, record.disable_if_failing_since) {
            (Some(since), Some(limit)) => since <= limit,
            _ => false,
        };
        if (record.disable_endpoint || failing_too_long)
            && disable_endpoint(c, endpoint_id, record.attempt.created_at)?
        {
            disabled.push(DisabledEndpoint {
                app_id: record.attempt.app_id.clone(),
                endpoint_id: record.attempt.endpoint_id.clone(),
                failing_since,
            });
        }
    }
    Ok(disabled)
}

/// Keeps the endpoint's health: `failing_since` (set by the first failure after a success),
/// the consecutive failures, and the rest they or a `Retry-After` impose (see
/// `policy::backpressure`); a success clears all three. Writes only when something changes, so
/// a healthy endpoint costs a lookup per attempt. Returns `failing_since`.
fn track_health(
    c: &Connection,
    endpoint_id: &str,
    record: &AttemptRecord,
    circuit: &CircuitPolicy,
) -> Result<Option<Timestamp>, StoreError> {
    let Some((failing_since, failures, resting_until)) = c
        .prepare_cached(
            "SELECT failing_since, consecutive_failures, paused_until FROM endpoint WHERE id = ?1",
        )
        .map_err(backend)?
        .query_row([endpoint_id], |row| {
            Ok((
                row.get::<_, Option<i64>>(0)?.map(from_micros),
                row.get::<_, u32>(1)?,
                row.get::<_, Option<i64>>(2)?.map(from_micros),
            ))
        })
        .optional()
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let at = record.attempt.created_at;
    let next = if record.attempt.status == DeliveryStatus::Success {
        (None, 0, None)
    } else {
        let failures = failures + 1;
        let rest = circuit.rest_after_failure(failures, record.retry_after, resting_until, at);
        (failing_since.or(Some(at)), failures, rest)
    };
    if next != (failing_since, failures, resting_until) {
        c.prepare_cached(
            "UPDATE endpoint SET failing_since = ?2, consecutive_failures = ?3, paused_until = ?4
             WHERE id = ?1",
        )
        .map_err(backend)?
        .execute(params![
            endpoint_id,
            next.0.map(to_micros),
            next.1,
            next.2.map(to_micros)
        ])
        .map_err(backend)?;
    }
    Ok(next.0)
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
    park_endpoint(c, endpoint_id)?;
    Ok(changed > 0)
}

pub fn release(c: &Connection, ids: &[DeliveryId]) -> Result<(), StoreError> {
    let mut statement = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = 0, lease_token = NULL
             WHERE id = ?1 AND status = ?2",
        )
        .map_err(backend)?;
    for id in ids {
        statement
            .execute(params![id.as_str(), PENDING])
            .map_err(backend)?;
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
    let mut renew = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = ?3
             WHERE id = ?1 AND lease_token = ?2 AND status = ?4",
        )
        .map_err(backend)?;
    let mut renewed = Vec::with_capacity(leases.len());
    for lease in leases {
        let changed = renew
            .execute(params![
                lease.delivery_id.as_str(),
                lease.lease_token,
                to_micros(until),
                PENDING
            ])
            .map_err(backend)?;
        if changed > 0 {
            renewed.push(lease.delivery_id.clone());
        }
    }
    Ok(renewed)
}

/// Makes every leased delivery due now. Only for start-up, when no live worker can hold a lease.
pub fn release_all_leases(c: &Connection) -> Result<(), StoreError> {
    c.execute(
        "UPDATE delivery SET next_attempt_at = 0, lease_token = NULL
         WHERE status = ?1 AND lease_token IS NOT NULL",
        [PENDING],
    )
    .map_err(backend)?;
    c.execute(
        "INSERT INTO endpoint_queue (endpoint_id, app_id, next_due)
         SELECT endpoint_id, app_id, MIN(next_attempt_at) FROM delivery WHERE status = ?1
         GROUP BY endpoint_id
         ON CONFLICT (endpoint_id) DO UPDATE SET next_due = MIN(next_due, excluded.next_due)",
        [PENDING],
    )
    .map_err(backend)?;
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
