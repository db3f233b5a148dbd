//! A claim: the due endpoints in fair order (`policy::claim_order`), and for each one its state
//! read, planned by `policy::claim_plan::plan`, and the plan applied. No rule of a claim lives
//! here; a claim runs in one writer job, so nothing else writes while it reads and leases.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::super::backend;
use super::super::catalog::endpoint_secrets;
use super::super::rows::{corrupt, from_json, from_micros, to_json, to_micros};
use super::{forget_endpoint, park_endpoint, postpone, refresh_queue_entry};
use crate::domain::{
    AppId, DeliveryId, DeliveryOptions, EndpointId, EventTypeName, MessageId, Timestamp,
    TriggerType,
};
use crate::policy::backpressure::Bucket;
use crate::policy::claim_order::{
    Candidate, ClaimShares, Turn, fair_order, scan_may_miss_quick_endpoints,
    with_due_quick_endpoints,
};
use crate::policy::claim_plan::{ClaimLimits, ClaimPlan, EndpointClaimState, Throttle, plan};
use crate::policy::retry::RetrySchedule;
use crate::store::delivery_state::PENDING;
use crate::store::{ClaimBudget, ClaimedDelivery, StoreError};

pub fn claim_due(
    c: &Connection,
    now: Timestamp,
    lease: Duration,
    budget: &ClaimBudget,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let candidates = fair_order(due_endpoints(c, to_micros(now), budget)?);
    let mut claim = Claim {
        c,
        now,
        lease_end: to_micros(now + lease),
        app_buckets: HashMap::new(),
        claimed: Vec::new(),
    };
    let mut shares = ClaimShares::new(budget, &candidates);
    for candidate in &candidates {
        let share = match shares.turn(candidate) {
            Turn::ClaimIsFull => break,
            Turn::PassOver => continue,
            Turn::TakeAtMost(share) => share,
        };
        let taken = claim.visit(candidate, &budget.limits(&candidate.endpoint_id, share))?;
        shares.took(candidate, taken);
    }
    claim.save_app_buckets()?;
    Ok(claim.claimed)
}

/// Endpoints whose queue entry is due, oldest first, skipping those the budget blocks.
fn due_endpoints(
    c: &Connection,
    now: i64,
    budget: &ClaimBudget,
) -> Result<Vec<Candidate<EndpointId>>, StoreError> {
    let fetch = budget.scan_limit();
    let rows = query_candidates(
        c,
        "SELECT endpoint_id, app_id FROM endpoint_queue WHERE next_due <= ?1
         ORDER BY next_due LIMIT ?2",
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

/// One claim in progress: what it took so far and the application buckets it is spending.
struct Claim<'a> {
    c: &'a Connection,
    now: Timestamp,
    lease_end: i64,
    /// Each throttled application's bucket during the claim, written back at its end.
    app_buckets: HashMap<String, Throttle>,
    claimed: Vec<ClaimedDelivery>,
}

impl Claim<'_> {
    /// Plans one endpoint's turn and applies the plan; returns how many deliveries it leased.
    fn visit(
        &mut self,
        candidate: &Candidate<EndpointId>,
        limits: &ClaimLimits,
    ) -> Result<usize, StoreError> {
        let (c, now) = (self.c, self.now);
        let endpoint_id = candidate.endpoint_id.as_str();
        let endpoint = endpoint_row(c, endpoint_id, to_micros(now))?;
        let state = endpoint
            .as_ref()
            .map(|endpoint| self.claim_state(&candidate.app_id, endpoint));
        let due = match plan(state.as_ref(), limits, now) {
            ClaimPlan::Forget => return forget_endpoint(c, endpoint_id).map(|()| 0),
            ClaimPlan::Park => return park_endpoint(c, endpoint_id).map(|()| 0),
            ClaimPlan::Postpone(until) => return postpone(c, endpoint_id, until).map(|()| 0),
            ClaimPlan::Skip => Vec::new(),
            ClaimPlan::Take {
                head_only: true, ..
            } => head_if_due(c, endpoint_id, to_micros(now))?,
            ClaimPlan::Take { at_most, .. } => {
                due_deliveries(c, endpoint_id, to_micros(now), at_most)?
            }
        };
        // Only a gone endpoint has no row, and its plan is `Forget`.
        let (Some(endpoint), Some(state)) = (endpoint, state) else {
            return Ok(0);
        };
        let taken = due.len();
        self.spend_tokens(candidate, &state, taken)?;
        self.lease(candidate, &endpoint, due)?;
        refresh_queue_entry(c, endpoint_id, endpoint.options.ordered)?;
        Ok(taken)
    }

    /// The planner's view of the endpoint, with the application's bucket as this claim has
    /// left it.
    fn claim_state(&mut self, app_id: &str, endpoint: &EndpointRow) -> EndpointClaimState {
        let now = self.now;
        let app_throttle = endpoint.app_throttle_rate.map(|rate| {
            *self
                .app_buckets
                .entry(app_id.to_owned())
                .or_insert_with(|| Throttle::at(rate, endpoint.app_bucket, now))
        });
        EndpointClaimState {
            disabled: endpoint.disabled,
            ordered: endpoint.options.ordered,
            max_in_flight: endpoint.options.max_in_flight,
            live_leases: endpoint.live_leases,
            consecutive_failures: endpoint.consecutive_failures,
            resting_until: endpoint.resting_until,
            endpoint_throttle: endpoint
                .endpoint_throttle_rate
                .map(|rate| Throttle::at(rate, endpoint.endpoint_bucket, now)),
            app_throttle,
        }
    }

    /// Takes what the visit leased from the endpoint's bucket (stored now) and the
    /// application's (stored at the claim's end).
    fn spend_tokens(
        &mut self,
        candidate: &Candidate<EndpointId>,
        state: &EndpointClaimState,
        taken: usize,
    ) -> Result<(), StoreError> {
        if let Some(mut bucket) = state.endpoint_throttle {
            bucket.spend(taken);
            self.c
                .prepare_cached(
                    "UPDATE endpoint SET throttle_tokens = ?2, throttle_updated = ?3 WHERE id = ?1",
                )
                .map_err(backend)?
                .execute(params![
                    candidate.endpoint_id.as_str(),
                    bucket.tokens,
                    to_micros(self.now)
                ])
                .map_err(backend)?;
        }
        if state.app_throttle.is_some()
            && let Some(bucket) = self.app_buckets.get_mut(&candidate.app_id)
        {
            bucket.spend(taken);
        }
        Ok(())
    }

    /// Leases the due rows until the lease end and hands them out.
    fn lease(
        &mut self,
        candidate: &Candidate<EndpointId>,
        endpoint: &EndpointRow,
        due: Vec<DueRow>,
    ) -> Result<(), StoreError> {
        if due.is_empty() {
            return Ok(());
        }
        let secrets: Vec<String> = endpoint_secrets(self.c, &candidate.endpoint_id, self.now)?
            .into_iter()
            .map(|secret| secret.key)
            .collect();
        let headers: BTreeMap<String, String> = from_json(&endpoint.headers)?;
        let mut take_lease = self
            .c
            .prepare_cached(
                "UPDATE delivery SET next_attempt_at = ?2, lease_token = ?3 WHERE id = ?1",
            )
            .map_err(backend)?;
        for row in due {
            let lease_token: i64 = rand::random();
            take_lease
                .execute(params![row.id, self.lease_end, lease_token])
                .map_err(backend)?;
            self.claimed.push(ClaimedDelivery {
                delivery_id: DeliveryId::from_trusted(row.id),
                lease_token,
                app_id: AppId::from_trusted(candidate.app_id.clone()),
                msg_id: MessageId::from_trusted(row.msg_id),
                endpoint_id: candidate.endpoint_id.clone(),
                event_type: EventTypeName::parse(&row.event_type).map_err(corrupt)?,
                attempts_made: row.attempts_made,
                trigger_type: TriggerType::from_code(row.trigger_type),
                url: endpoint.url.clone(),
                headers: headers.clone(),
                options: endpoint.options.clone(),
                secrets: secrets.clone(),
                payload: row.payload,
            });
        }
        Ok(())
    }

    fn save_app_buckets(&self) -> Result<(), StoreError> {
        let mut save = self
            .c
            .prepare_cached(
                "UPDATE application SET throttle_tokens = ?2, throttle_updated = ?3 WHERE id = ?1",
            )
            .map_err(backend)?;
        for (app_id, bucket) in &self.app_buckets {
            save.execute(params![app_id, bucket.tokens, to_micros(self.now)])
                .map_err(backend)?;
        }
        Ok(())
    }
}

/// The endpoint settings and state a claim needs, with its live leases.
struct EndpointRow {
    url: String,
    headers: String,
    disabled: bool,
    options: DeliveryOptions,
    live_leases: u32,
    endpoint_throttle_rate: Option<u32>,
    app_throttle_rate: Option<u32>,
    consecutive_failures: u32,
    resting_until: Option<Timestamp>,
    endpoint_bucket: Option<Bucket>,
    app_bucket: Option<Bucket>,
}

fn endpoint_row(
    c: &Connection,
    endpoint_id: &str,
    now: i64,
) -> Result<Option<EndpointRow>, StoreError> {
    c.prepare_cached(
        "SELECT e.url, e.headers, e.disabled, e.max_in_flight, e.ordered, e.retry_schedule,
                e.auth, e.throttle_rate, a.throttle_rate, e.consecutive_failures,
                e.paused_until, e.throttle_tokens, e.throttle_updated, a.throttle_tokens,
                a.throttle_updated,
                (SELECT COUNT(*) FROM delivery d WHERE d.endpoint_id = e.id AND d.status = ?2
                 AND d.lease_token IS NOT NULL AND d.next_attempt_at > ?3)
         FROM endpoint e JOIN application a ON a.id = e.app_id WHERE e.id = ?1",
    )
    .map_err(backend)?
    .query_row(params![endpoint_id, PENDING, now], |row| {
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
