//! A claim, in the caller's transaction: the due endpoints' queue rows locked (`SKIP LOCKED`) in
//! fair order (`policy::claim_order`), and for each one its state read (live leases across every
//! node), planned by `policy::claim_plan::plan`, and the plan applied. No rule of a claim lives
//! here, only the locks that make the plan hold across nodes (see the parent module).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::super::catalog::{delivery_options, endpoint_secrets_of, optional_u32};
use super::super::rows::{corrupt, from_json, from_micros, to_micros};
use super::super::{backend, get};
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
use crate::store::{ClaimBudget, ClaimedDelivery, StoreError};

/// Claims within `budget`; runs in the caller's transaction (see the module docs).
pub async fn claim_due(
    c: &impl GenericClient,
    node_id: &str,
    now: Timestamp,
    lease: Duration,
    budget: &ClaimBudget,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let candidates = fair_order(due_endpoints(c, to_micros(now), budget).await?);
    let mut claim = Claim {
        node_id,
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
        let limits = budget.limits(&candidate.endpoint_id, share);
        let taken = claim.visit(c, candidate, &limits).await?;
        shares.took(candidate, taken);
    }
    claim.save_app_buckets(c).await?;
    add_secrets(c, now, &mut claim.claimed).await?;
    Ok(claim.claimed)
}

/// Locks the queue rows of due endpoints that no other claim holds, oldest first, and drops
/// those the budget blocks.
async fn due_endpoints(
    c: &impl GenericClient,
    now: i64,
    budget: &ClaimBudget,
) -> Result<Vec<Candidate<EndpointId>>, StoreError> {
    let fetch = budget.scan_limit();
    let statement = c
        .prepare_cached(
            "SELECT endpoint_id, app_id FROM endpoint_queue WHERE next_due <= $1
             ORDER BY next_due LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .await
        .map_err(backend)?;
    let rows = c
        .query(
            &statement,
            &[&now, &i64::try_from(fetch).unwrap_or(i64::MAX)],
        )
        .await
        .map_err(backend)?;
    let mut candidates = candidates(&rows)?;
    candidates.retain(|candidate| !budget.blocks(&candidate.endpoint_id));
    if !scan_may_miss_quick_endpoints(budget, rows.len(), fetch) {
        return Ok(candidates);
    }
    // The budget's quick endpoints that are due, looked up by id (see `ClaimBudget`), locked
    // like the scan's rows; rows this claim already holds come back again and are dropped as
    // repeats.
    let quick: Vec<&str> = budget
        .quick_endpoints
        .iter()
        .map(EndpointId::as_str)
        .collect();
    let statement = c
        .prepare_cached(
            "SELECT endpoint_id, app_id FROM endpoint_queue
             WHERE next_due <= $1 AND endpoint_id = ANY($2)
             ORDER BY next_due LIMIT $3 FOR UPDATE SKIP LOCKED",
        )
        .await
        .map_err(backend)?;
    let fetch_quick = i64::try_from(budget.quick_scan_limit()).unwrap_or(i64::MAX);
    let rows = c
        .query(&statement, &[&now, &quick, &fetch_quick])
        .await
        .map_err(backend)?;
    Ok(with_due_quick_endpoints(
        budget,
        candidates,
        self::candidates(&rows)?,
    ))
}

fn candidates(rows: &[Row]) -> Result<Vec<Candidate<EndpointId>>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                endpoint_id: EndpointId::from_trusted(get::<String>(row, 0)?),
                app_id: get(row, 1)?,
            })
        })
        .collect()
}

/// One claim in progress: what it took so far and the application buckets it is spending.
struct Claim<'a> {
    node_id: &'a str,
    now: Timestamp,
    lease_end: i64,
    /// Each throttled application's bucket during the claim: read under a row lock (so claims
    /// on other nodes wait their turn), written back at the claim's end.
    app_buckets: HashMap<String, Throttle>,
    claimed: Vec<ClaimedDelivery>,
}

impl Claim<'_> {
    /// Plans one endpoint's turn and applies the plan; returns how many deliveries it leased.
    async fn visit(
        &mut self,
        c: &impl GenericClient,
        candidate: &Candidate<EndpointId>,
        limits: &ClaimLimits,
    ) -> Result<usize, StoreError> {
        let now = self.now;
        let endpoint_id = candidate.endpoint_id.as_str();
        let endpoint = endpoint_row(c, endpoint_id, to_micros(now)).await?;
        let state = match &endpoint {
            Some(endpoint) => Some(self.claim_state(c, &candidate.app_id, endpoint).await?),
            None => None,
        };
        let due = match plan(state.as_ref(), limits, now) {
            ClaimPlan::Forget => return forget_endpoint(c, endpoint_id).await.map(|()| 0),
            ClaimPlan::Park => return park_endpoint(c, endpoint_id).await.map(|()| 0),
            ClaimPlan::Postpone(until) => {
                return postpone(c, endpoint_id, until).await.map(|()| 0);
            }
            ClaimPlan::Skip => Vec::new(),
            ClaimPlan::Take { at_most, head_only } => {
                due_deliveries(c, endpoint_id, to_micros(now), at_most, head_only).await?
            }
        };
        // Only a gone endpoint has no row, and its plan is `Forget`.
        let (Some(endpoint), Some(state)) = (endpoint, state) else {
            return Ok(0);
        };
        let taken = due.len();
        self.spend_tokens(c, candidate, &state, taken).await?;
        self.lease(c, candidate, &endpoint, &due).await?;
        refresh_queue_entry(c, endpoint_id, endpoint.options.ordered).await?;
        Ok(taken)
    }

    /// The planner's view of the endpoint, with the application's bucket as this claim has
    /// left it (read and locked on first use).
    async fn claim_state(
        &mut self,
        c: &impl GenericClient,
        app_id: &str,
        endpoint: &EndpointRow,
    ) -> Result<EndpointClaimState, StoreError> {
        let app_throttle = match endpoint.app_throttle_rate {
            None => None,
            Some(rate) => {
                if !self.app_buckets.contains_key(app_id) {
                    let stored = app_bucket(c, app_id).await?;
                    let bucket = Throttle::at(rate, stored, self.now);
                    self.app_buckets.insert(app_id.to_owned(), bucket);
                }
                self.app_buckets.get(app_id).copied()
            }
        };
        Ok(EndpointClaimState {
            disabled: endpoint.disabled,
            ordered: endpoint.options.ordered,
            max_in_flight: endpoint.options.max_in_flight,
            live_leases: endpoint.live_leases,
            consecutive_failures: endpoint.consecutive_failures,
            resting_until: endpoint.resting_until,
            endpoint_throttle: endpoint
                .endpoint_throttle_rate
                .map(|rate| Throttle::at(rate, endpoint.endpoint_bucket, self.now)),
            app_throttle,
        })
    }

    /// Takes what the visit leased from the endpoint's bucket (stored now) and the
    /// application's (stored at the claim's end).
    async fn spend_tokens(
        &mut self,
        c: &impl GenericClient,
        candidate: &Candidate<EndpointId>,
        state: &EndpointClaimState,
        taken: usize,
    ) -> Result<(), StoreError> {
        if let Some(mut bucket) = state.endpoint_throttle {
            bucket.spend(taken);
            let statement = c
                .prepare_cached(
                    "UPDATE endpoint SET throttle_tokens = $2, throttle_updated = $3 WHERE id = $1",
                )
                .await
                .map_err(backend)?;
            let endpoint_id = candidate.endpoint_id.as_str();
            c.execute(
                &statement,
                &[&endpoint_id, &bucket.tokens, &to_micros(self.now)],
            )
            .await
            .map_err(backend)?;
        }
        if state.app_throttle.is_some()
            && let Some(bucket) = self.app_buckets.get_mut(&candidate.app_id)
        {
            bucket.spend(taken);
        }
        Ok(())
    }

    /// Leases the due rows to this node until the lease end and hands them out (their secrets
    /// are added for the whole claim at its end).
    async fn lease(
        &mut self,
        c: &impl GenericClient,
        candidate: &Candidate<EndpointId>,
        endpoint: &EndpointRow,
        due: &[Row],
    ) -> Result<(), StoreError> {
        if due.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = due
            .iter()
            .map(|row| get(row, 0))
            .collect::<Result<_, _>>()?;
        let tokens: Vec<i64> = ids.iter().map(|_| rand::random()).collect();
        let statement = c
            .prepare_cached(
                "UPDATE delivery d SET next_attempt_at = $3, lease_token = lease.token,
                 leased_by = $4
                 FROM unnest($1::text[], $2::bigint[]) AS lease(id, token)
                 WHERE d.id = lease.id",
            )
            .await
            .map_err(backend)?;
        c.execute(&statement, &[&ids, &tokens, &self.lease_end, &self.node_id])
            .await
            .map_err(backend)?;
        let headers: BTreeMap<String, String> = from_json(&endpoint.headers)?;
        for ((row, id), lease_token) in due.iter().zip(ids).zip(tokens) {
            self.claimed.push(ClaimedDelivery {
                delivery_id: DeliveryId::from_trusted(id),
                lease_token,
                app_id: AppId::from_trusted(candidate.app_id.clone()),
                msg_id: MessageId::from_trusted(get::<String>(row, 1)?),
                endpoint_id: candidate.endpoint_id.clone(),
                event_type: EventTypeName::parse(&get::<String>(row, 5)?).map_err(corrupt)?,
                attempts_made: u32::try_from(get::<i32>(row, 2)?).unwrap_or(0),
                trigger_type: TriggerType::from_code(i64::from(get::<i16>(row, 3)?)),
                url: endpoint.url.clone(),
                headers: headers.clone(),
                options: endpoint.options.clone(),
                secrets: Vec::new(),
                payload: get(row, 4)?,
            });
        }
        Ok(())
    }

    /// Writes the applications' buckets back, in application-id order.
    async fn save_app_buckets(&self, c: &impl GenericClient) -> Result<(), StoreError> {
        if self.app_buckets.is_empty() {
            return Ok(());
        }
        let statement = c
            .prepare_cached(
                "UPDATE application SET throttle_tokens = $2, throttle_updated = $3 WHERE id = $1",
            )
            .await
            .map_err(backend)?;
        let mut buckets: Vec<(&String, &Throttle)> = self.app_buckets.iter().collect();
        buckets.sort_by(|a, b| a.0.cmp(b.0));
        for (app_id, bucket) in buckets {
            c.execute(&statement, &[app_id, &bucket.tokens, &to_micros(self.now)])
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
}

/// An application's stored throttle bucket, read under a row lock until the claim commits.
async fn app_bucket(c: &impl GenericClient, app_id: &str) -> Result<Option<Bucket>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT throttle_tokens, throttle_updated FROM application WHERE id = $1 FOR UPDATE",
        )
        .await
        .map_err(backend)?;
    match c.query_opt(&statement, &[&app_id]).await.map_err(backend)? {
        Some(row) => Ok(bucket(get(&row, 0)?, get(&row, 1)?)),
        None => Ok(None),
    }
}

fn bucket(tokens: Option<f64>, updated: Option<i64>) -> Option<Bucket> {
    tokens.zip(updated).map(|(tokens, updated)| Bucket {
        tokens,
        updated: from_micros(updated),
    })
}

/// The endpoint settings a claim needs, with the endpoint's live leases across all nodes.
struct EndpointRow {
    url: String,
    headers: String,
    disabled: bool,
    options: DeliveryOptions,
    endpoint_throttle_rate: Option<u32>,
    app_throttle_rate: Option<u32>,
    live_leases: u32,
    consecutive_failures: u32,
    resting_until: Option<Timestamp>,
    endpoint_bucket: Option<Bucket>,
}

async fn endpoint_row(
    c: &impl GenericClient,
    endpoint_id: &str,
    now: i64,
) -> Result<Option<EndpointRow>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT e.url, e.headers, e.disabled, e.throttle_rate, a.throttle_rate,
                    (SELECT COUNT(*) FROM delivery d WHERE d.endpoint_id = e.id
                     AND d.status = 1 AND d.lease_token IS NOT NULL AND d.next_attempt_at > $2),
                    e.max_in_flight, e.ordered, e.retry_schedule, e.auth,
                    e.consecutive_failures, e.paused_until, e.throttle_tokens, e.throttle_updated
             FROM endpoint e JOIN application a ON a.id = e.app_id WHERE e.id = $1",
        )
        .await
        .map_err(backend)?;
    let Some(row) = c
        .query_opt(&statement, &[&endpoint_id, &now])
        .await
        .map_err(backend)?
    else {
        return Ok(None);
    };
    Ok(Some(EndpointRow {
        url: get(&row, 0)?,
        headers: get(&row, 1)?,
        disabled: get(&row, 2)?,
        endpoint_throttle_rate: optional_u32(get(&row, 3)?),
        app_throttle_rate: optional_u32(get(&row, 4)?),
        live_leases: u32::try_from(get::<i64>(&row, 5)?).unwrap_or(u32::MAX),
        options: delivery_options(&row, 6)?,
        consecutive_failures: u32::try_from(get::<i32>(&row, 10)?).unwrap_or(0),
        resting_until: get::<Option<i64>>(&row, 11)?.map(from_micros),
        endpoint_bucket: bucket(get(&row, 12)?, get(&row, 13)?),
    }))
}

/// Due deliveries of one endpoint: `take` of the earliest due, or for an ordered endpoint its
/// oldest pending delivery if that one is due. Rows another transaction holds are skipped.
async fn due_deliveries(
    c: &impl GenericClient,
    endpoint_id: &str,
    now: i64,
    take: usize,
    ordered: bool,
) -> Result<Vec<Row>, StoreError> {
    const COLUMNS: &str =
        "d.id, d.msg_id, d.attempts_made, d.trigger_type, m.payload, m.event_type";
    let sql = if ordered {
        // The head is found without SKIP LOCKED: skipping it would send the second one first.
        format!(
            "SELECT {COLUMNS} FROM delivery d JOIN message m ON m.id = d.msg_id
             WHERE d.id = (SELECT id FROM delivery WHERE endpoint_id = $1 AND status = 1
                           ORDER BY id LIMIT 1)
             AND d.next_attempt_at <= $2 AND $3 > 0
             FOR UPDATE OF d"
        )
    } else {
        format!(
            "SELECT {COLUMNS} FROM delivery d JOIN message m ON m.id = d.msg_id
             WHERE d.endpoint_id = $1 AND d.status = 1 AND d.next_attempt_at <= $2
             ORDER BY d.next_attempt_at LIMIT $3
             FOR UPDATE OF d SKIP LOCKED"
        )
    };
    let statement = c.prepare_cached(&sql).await.map_err(backend)?;
    c.query(
        &statement,
        &[&endpoint_id, &now, &i64::try_from(take).unwrap_or(i64::MAX)],
    )
    .await
    .map_err(backend)
}

/// Fills in every claimed delivery's signing secrets, with one query for all its endpoints.
async fn add_secrets(
    c: &impl GenericClient,
    now: Timestamp,
    claimed: &mut [ClaimedDelivery],
) -> Result<(), StoreError> {
    if claimed.is_empty() {
        return Ok(());
    }
    let mut endpoint_ids: Vec<&str> = claimed.iter().map(|d| d.endpoint_id.as_str()).collect();
    endpoint_ids.dedup();
    let mut secrets: HashMap<String, Vec<String>> = HashMap::new();
    for (endpoint_id, secret) in endpoint_secrets_of(c, &endpoint_ids, now).await? {
        secrets.entry(endpoint_id).or_default().push(secret.key);
    }
    for delivery in claimed {
        delivery.secrets = secrets
            .get(delivery.endpoint_id.as_str())
            .cloned()
            .unwrap_or_default();
    }
    Ok(())
}
