//! SQL for the delivery queue: claiming due deliveries under a lease, fairly across endpoints and
//! applications; recording attempts; deferring and releasing leases.
//!
//! The lease is the row's own `next_attempt_at`: a claim moves it to the end of the lease and
//! stamps a fresh `lease_token`. If the worker dies, the delivery simply falls due again. A late
//! result from an expired lease still records its attempt (it happened) but cannot move the
//! delivery on, because its token no longer matches. A live lease is one whose token is set and
//! whose time has not passed; counting them per endpoint gives the endpoint's in-flight attempts
//! across every worker.
//!
//! Claims walk `endpoint_queue` (one row per endpoint with pending work, see schema_2.sql), not
//! the delivery table, so a backlog on one endpoint costs other endpoints nothing.

use std::collections::VecDeque;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::backend;
use super::catalog::endpoint_secrets;
use super::messages::insert_attempt;
use super::rows::{corrupt, from_json, from_micros, to_micros};
use crate::delivery::retry::RetrySchedule;
use crate::domain::{
    AppId, DeliveryId, DeliveryOptions, DeliveryStatus, EndpointId, EventTypeName, MessageId,
    Timestamp, TriggerType,
};
use crate::store::{
    AttemptRecord, ClaimBudget, ClaimedDelivery, Deferral, DisabledEndpoint, NextStep, StoreError,
};

const PENDING: i64 = 1;
const SUCCESS: i64 = 0;
const FAILED: i64 = 2;
const PARKED: i64 = 9;

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
    Ok(delivery_id)
}

/// An endpoint with due work, as the claim sees it.
struct Candidate {
    endpoint_id: String,
    app_id: String,
}

/// The endpoint settings a claim needs.
struct EndpointRow {
    url: String,
    headers: String,
    disabled: bool,
    options: DeliveryOptions,
    endpoint_throttle_rate: Option<u32>,
    app_throttle_rate: Option<u32>,
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
    let mut endpoints_left = candidates.len();
    for candidate in candidates {
        let limit_left = budget.limit.saturating_sub(claimed.len());
        if limit_left == 0 {
            break;
        }
        // Each endpoint gets an equal share of what is left before any takes more.
        let share = limit_left.div_ceil(endpoints_left.max(1));
        endpoints_left = endpoints_left.saturating_sub(1);
        claim_for_endpoint(c, &candidate, now, lease_end, share, budget, &mut claimed)?;
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
    let fetch = budget.limit.saturating_mul(2) + blocked + budget.blocked_apps.len() * 4 + 16;
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
    Ok(rows
        .into_iter()
        .filter(|candidate| {
            let endpoint = EndpointId::from_trusted(candidate.endpoint_id.clone());
            let app = AppId::from_trusted(candidate.app_id.clone());
            budget.endpoint_allowance.get(&endpoint) != Some(&0)
                && !budget.blocked_apps.contains(&app)
        })
        .collect())
}

/// Interleaves applications: the first endpoint of each application, then the second of each,
/// and so on, keeping the oldest-due order within an application.
fn fair_order(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut by_app: Vec<(String, VecDeque<Candidate>)> = Vec::new();
    for candidate in candidates {
        match by_app.iter_mut().find(|(app, _)| *app == candidate.app_id) {
            Some((_, queue)) => queue.push_back(candidate),
            None => by_app.push((candidate.app_id.clone(), VecDeque::from([candidate]))),
        }
    }
    let mut ordered = Vec::new();
    while by_app.iter().any(|(_, queue)| !queue.is_empty()) {
        for (_, queue) in &mut by_app {
            if let Some(candidate) = queue.pop_front() {
                ordered.push(candidate);
            }
        }
    }
    ordered
}

fn claim_for_endpoint(
    c: &Connection,
    candidate: &Candidate,
    now: Timestamp,
    lease_end: i64,
    share: usize,
    budget: &ClaimBudget,
    claimed: &mut Vec<ClaimedDelivery>,
) -> Result<(), StoreError> {
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
    if endpoint.options.ordered {
        // FIFO: only the oldest pending delivery may go, and only when nothing is in flight.
        room = if live_leases == 0 { room.min(1) } else { 0 };
    }
    let take = room.min(share);
    let due = if take == 0 {
        Vec::new()
    } else if endpoint.options.ordered {
        head_if_due(c, endpoint_id, now_micros)?
    } else {
        due_deliveries(c, endpoint_id, now_micros, take)?
    };

    let secrets: Vec<String> = if due.is_empty() {
        Vec::new()
    } else {
        endpoint_secrets(c, &EndpointId::from_trusted(endpoint_id), now)?
            .into_iter()
            .map(|secret| secret.key)
            .collect()
    };
    let headers: std::collections::BTreeMap<String, String> = from_json(&endpoint.headers)?;
    let mut take_lease = c
        .prepare_cached("UPDATE delivery SET next_attempt_at = ?2, lease_token = ?3 WHERE id = ?1")
        .map_err(backend)?;
    for row in due {
        let lease_token: i64 = rand::random();
        take_lease
            .execute(params![row.id, lease_end, lease_token])
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
            url: endpoint.url.clone(),
            headers: headers.clone(),
            options: endpoint.options.clone(),
            endpoint_throttle_rate: endpoint.endpoint_throttle_rate,
            app_throttle_rate: endpoint.app_throttle_rate,
            secrets: secrets.clone(),
            payload: row.payload,
        });
    }
    refresh_queue_entry(c, endpoint_id, endpoint.options.ordered)
}

fn endpoint_row(c: &Connection, endpoint_id: &str) -> Result<Option<EndpointRow>, StoreError> {
    let row = c
        .prepare_cached(
            "SELECT e.url, e.headers, e.disabled, e.max_in_flight, e.ordered, e.retry_schedule,
                    e.auth, e.throttle_rate, a.throttle_rate
             FROM endpoint e JOIN application a ON a.id = e.app_id WHERE e.id = ?1",
        )
        .map_err(backend)?
        .query_row([endpoint_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, bool>(2)?,
                row.get::<_, Option<u32>>(3)?,
                row.get::<_, bool>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, Option<u32>>(7)?,
                row.get::<_, Option<u32>>(8)?,
            ))
        })
        .optional()
        .map_err(backend)?;
    let Some((url, headers, disabled, max_in_flight, ordered, schedule, auth, ep_rate, app_rate)) =
        row
    else {
        return Ok(None);
    };
    Ok(Some(EndpointRow {
        url,
        headers,
        disabled,
        options: DeliveryOptions {
            max_in_flight,
            ordered,
            retry_schedule: schedule
                .as_deref()
                .map(str::parse::<RetrySchedule>)
                .transpose()
                .map_err(backend)?,
            auth: auth.as_deref().map(from_json).transpose()?,
        },
        endpoint_throttle_rate: ep_rate,
        app_throttle_rate: app_rate,
    }))
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
            NextStep::Done => (SUCCESS, record.attempt.created_at),
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
        let failing_since = track_failure(c, endpoint_id, &record)?;
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

/// Keeps `failing_since`: cleared by a success, set by the first failure after one. Returns it.
fn track_failure(
    c: &Connection,
    endpoint_id: &str,
    record: &AttemptRecord,
) -> Result<Option<Timestamp>, StoreError> {
    // Writes only when the state changes (the first failure, the first success after failing),
    // so a healthy endpoint costs a lookup per attempt, not a row write.
    let (change, value) = if record.attempt.status == DeliveryStatus::Success {
        (
            "UPDATE endpoint SET failing_since = NULL WHERE id = ?1 AND failing_since IS NOT NULL",
            None,
        )
    } else {
        (
            "UPDATE endpoint SET failing_since = ?2 WHERE id = ?1 AND failing_since IS NULL",
            Some(to_micros(record.attempt.created_at)),
        )
    };
    match value {
        Some(at) => c
            .prepare_cached(change)
            .map_err(backend)?
            .execute(params![endpoint_id, at]),
        None => c
            .prepare_cached(change)
            .map_err(backend)?
            .execute(params![endpoint_id]),
    }
    .map_err(backend)?;
    let since: Option<i64> = c
        .prepare_cached("SELECT failing_since FROM endpoint WHERE id = ?1")
        .map_err(backend)?
        .query_row([endpoint_id], |row| row.get(0))
        .optional()
        .map_err(backend)?
        .flatten();
    Ok(since.map(from_micros))
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

pub fn defer(c: &Connection, deferrals: &[Deferral]) -> Result<(), StoreError> {
    let mut statement = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = ?3, lease_token = NULL
             WHERE id = ?1 AND lease_token = ?2 AND status = ?4",
        )
        .map_err(backend)?;
    for deferral in deferrals {
        let due = to_micros(deferral.due_at);
        let moved = statement
            .execute(params![
                deferral.delivery_id.as_str(),
                deferral.lease_token,
                due,
                PENDING
            ])
            .map_err(backend)?;
        if moved > 0 {
            mark_delivery_due(c, deferral.delivery_id.as_str(), due)?;
        }
    }
    Ok(())
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
