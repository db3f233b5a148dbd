//! What a claim reads: the due endpoints, an endpoint's settings and state (with its live
//! leases), and its due deliveries.

use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, params};

use super::super::super::backend;
use super::super::super::rows::{from_json, from_micros, to_json};
use crate::domain::{DeliveryOptions, EndpointId, Timestamp};
use crate::policy::backpressure::Bucket;
use crate::policy::claim_order::{
    Candidate, scan_may_miss_quick_endpoints, with_due_quick_endpoints,
};
use crate::policy::retry::RetrySchedule;
use crate::store::delivery_state::PENDING;
use crate::store::sealing::{Place, Sealing};
use crate::store::{ClaimBudget, StoreError};

// The pending status is written into these statements' text, not bound: connections plan
// without looking at bound values (the planner stability guarantee, see `open_connection`), so
// only a literal status lets the planner use the partial indexes (`WHERE status = 1`).

/// An endpoint's settings and state, with its live leases counted (`?1` endpoint, `?2` now).
pub(in crate::store::sqlite::deliveries) static ENDPOINT_ROW_SQL: LazyLock<String> =
    LazyLock::new(|| {
        format!(
            "SELECT e.url, e.headers, e.disabled, e.max_in_flight, e.ordered, e.retry_schedule,
                e.auth, e.throttle_rate, a.throttle_rate, e.consecutive_failures,
                e.paused_until, e.throttle_tokens, e.throttle_updated, a.throttle_tokens,
                a.throttle_updated,
                (SELECT COUNT(*) FROM delivery d WHERE d.endpoint_id = e.id
                 AND d.status = {PENDING} AND d.lease_token IS NOT NULL
                 AND d.next_attempt_at > ?2),
                CASE WHEN e.transformation_enabled THEN e.transformation_code END
         FROM endpoint e JOIN application a ON a.id = e.app_id WHERE e.id = ?1"
        )
    });

/// An endpoint's due deliveries, soonest first (`?1` endpoint, `?2` now, `?3` how many).
pub(in crate::store::sqlite::deliveries) static DUE_DELIVERIES_SQL: LazyLock<String> =
    LazyLock::new(|| {
        format!(
            "SELECT d.id, d.msg_id, d.attempts_made, d.trigger_type, m.payload, m.event_type,
                m.content_type, m.original_headers
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE d.endpoint_id = ?1 AND d.status = {PENDING} AND d.next_attempt_at <= ?2
         ORDER BY d.next_attempt_at LIMIT ?3"
        )
    });

/// An ordered endpoint's oldest pending delivery and when it is due (`?1` endpoint).
pub(in crate::store::sqlite::deliveries) static HEAD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT d.id, d.msg_id, d.attempts_made, d.trigger_type, m.payload, m.event_type,
                m.content_type, m.original_headers, d.next_attempt_at
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE d.endpoint_id = ?1 AND d.status = {PENDING} ORDER BY d.id LIMIT 1"
    )
});

/// Endpoints whose queue entry is due, oldest first (`?1` now, `?2` how many).
pub(in crate::store::sqlite::deliveries) const DUE_ENDPOINTS_SQL: &str =
    "SELECT endpoint_id, app_id FROM endpoint_queue WHERE next_due <= ?1
     ORDER BY next_due LIMIT ?2";

/// Endpoints whose queue entry is due, oldest first, skipping those the budget blocks.
pub(super) fn due_endpoints(
    c: &Connection,
    now: i64,
    budget: &ClaimBudget,
) -> Result<Vec<Candidate<EndpointId>>, StoreError> {
    let fetch = budget.scan_limit();
    let rows = query_candidates(
        c,
        DUE_ENDPOINTS_SQL,
        params![now, i64::try_from(fetch).unwrap_or(i64::MAX)],
    )?;
    let rows_scanned = rows.len();
    let candidates = rows
        .into_iter()
        .filter(|candidate| !budget.blocks(&candidate.endpoint_id))
        .collect();
    if !scan_may_miss_quick_endpoints(budget, rows_scanned, fetch) {
        return Ok(candidates);
    }
    let quick: Vec<&str> = budget
        .quick_endpoints
        .iter()
        .map(EndpointId::as_str)
        .collect();
    let due_quick = query_candidates(
        c,
        "SELECT endpoint_id, app_id FROM endpoint_queue WHERE next_due <= ?1
         AND endpoint_id IN (SELECT value FROM json_each(?2)) ORDER BY next_due LIMIT ?3",
        params![
            now,
            to_json(&quick)?,
            i64::try_from(budget.quick_scan_limit()).unwrap_or(i64::MAX)
        ],
    )?;
    Ok(with_due_quick_endpoints(budget, candidates, due_quick))
}

fn query_candidates(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Candidate<EndpointId>>, StoreError> {
    let mut statement = c.prepare_cached(sql).map_err(backend)?;
    statement
        .query_map(params, |row| {
            Ok(Candidate {
                endpoint_id: EndpointId::from_trusted(row.get::<_, String>(0)?),
                app_id: row.get(1)?,
            })
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)
}

/// The endpoint settings and state a claim needs, with its live leases.
pub(super) struct EndpointRow {
    pub(super) url: String,
    pub(super) headers: String,
    pub(super) disabled: bool,
    pub(super) options: DeliveryOptions,
    pub(super) live_leases: u32,
    pub(super) endpoint_throttle_rate: Option<u32>,
    pub(super) app_throttle_rate: Option<u32>,
    pub(super) consecutive_failures: u32,
    pub(super) resting_until: Option<Timestamp>,
    pub(super) endpoint_bucket: Option<Bucket>,
    pub(super) app_bucket: Option<Bucket>,
    /// The endpoint's transformation code while it is enabled.
    pub(super) transformation: Option<String>,
}

pub(super) fn endpoint_row(
    c: &Connection,
    sealing: &Sealing,
    endpoint_id: &str,
    now: i64,
) -> Result<Option<EndpointRow>, StoreError> {
    c.prepare_cached(&ENDPOINT_ROW_SQL)
        .map_err(backend)?
        .query_row(params![endpoint_id, now], |row| {
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
                    live_leases: row.get(15)?,
                    transformation: row.get(16)?,
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
            endpoint.options.auth = auth
                .map(|auth| sealing.open(Place::endpoint_auth(endpoint_id), &auth))
                .transpose()?
                .as_deref()
                .map(from_json)
                .transpose()?;
            Ok(endpoint)
        })
        .transpose()
}

pub(super) struct DueRow {
    pub(super) id: String,
    pub(super) msg_id: String,
    pub(super) attempts_made: u32,
    pub(super) trigger_type: i64,
    pub(super) payload: Option<String>,
    pub(super) event_type: String,
    pub(super) content_type: Option<String>,
    /// `message.original_headers`: JSON, `None` for none.
    pub(super) original_headers: Option<String>,
}

fn due_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DueRow> {
    Ok(DueRow {
        id: row.get(0)?,
        msg_id: row.get(1)?,
        attempts_made: row.get(2)?,
        trigger_type: row.get(3)?,
        payload: row.get(4)?,
        event_type: row.get(5)?,
        content_type: row.get(6)?,
        original_headers: row.get(7)?,
    })
}

pub(super) fn due_deliveries(
    c: &Connection,
    endpoint_id: &str,
    now: i64,
    take: usize,
) -> Result<Vec<DueRow>, StoreError> {
    c.prepare_cached(&DUE_DELIVERIES_SQL)
        .map_err(backend)?
        .query_map(
            params![endpoint_id, now, i64::try_from(take).unwrap_or(i64::MAX)],
            due_row,
        )
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)
}

/// The oldest pending delivery of an ordered endpoint, if it is due.
pub(super) fn head_if_due(
    c: &Connection,
    endpoint_id: &str,
    now: i64,
) -> Result<Vec<DueRow>, StoreError> {
    let head = c
        .prepare_cached(&HEAD_SQL)
        .map_err(backend)?
        .query_row(params![endpoint_id], |row| {
            Ok((due_row(row)?, row.get::<_, i64>(8)?))
        })
        .optional()
        .map_err(backend)?;
    Ok(head
        .filter(|(_, due)| *due <= now)
        .map(|(row, _)| row)
        .into_iter()
        .collect())
}
