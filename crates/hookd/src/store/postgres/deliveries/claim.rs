//! A claim, in the caller's transaction: the due endpoints' queue rows locked (`SKIP LOCKED`),
//! all their states read in one statement (live leases across every node), then in fair order
//! (`policy::claim_order`) each one planned by `policy::claim_plan::plan` and the plan applied,
//! a take in one statement (`take_due`). No rule of a claim lives here, only the locks that make
//! the plan hold across nodes (see the parent module).

mod reads;

use reads::{EndpointRow, TakeTurn, app_bucket, due_endpoints, endpoint_rows, take_due};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::super::rows::{corrupt, from_json, to_micros};
use super::super::{backend, get};
use super::{forget_endpoint, park_endpoint, postpone};
use crate::domain::{
    AppId, DeliveryId, EndpointId, EndpointUrl, EventTypeName, MessageId, Timestamp, TriggerType,
};
use crate::policy::claim_order::{Candidate, ClaimTurns};
use crate::policy::claim_plan::{ClaimLimits, ClaimPlan, EndpointClaimState, Throttle, plan};
use crate::store::sealing::Sealing;
use crate::store::{ClaimBudget, ClaimedDelivery, StoreError};

/// Claims within `budget`; runs in the caller's transaction (see the module docs).
pub async fn claim_due(
    c: &impl GenericClient,
    sealing: &Sealing,
    node_id: &str,
    now: Timestamp,
    lease: Duration,
    budget: &ClaimBudget,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let due = due_endpoints(c, to_micros(now), budget).await?;
    let ids: Vec<&str> = due.iter().map(|due| due.endpoint_id.as_str()).collect();
    let endpoints = endpoint_rows(c, sealing, &ids, to_micros(now)).await?;
    let mut turns = ClaimTurns::new(budget, due);
    let mut claim = Claim {
        sealing,
        node_id,
        now,
        lease_end: to_micros(now + lease),
        endpoints,
        app_buckets: HashMap::new(),
        claimed: Vec::new(),
    };
    while let Some((candidate, limits)) = turns.next_turn() {
        let taken = claim.visit(c, &candidate, &limits).await?;
        turns.took(taken);
    }
    claim.save_app_buckets(c).await?;
    Ok(claim.claimed)
}

/// One claim in progress: what it took so far and the application buckets it is spending.
struct Claim<'a> {
    sealing: &'a Sealing,
    node_id: &'a str,
    now: Timestamp,
    lease_end: i64,
    /// The candidates' settings and state, read for all of them at the claim's start.
    endpoints: HashMap<String, EndpointRow>,
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
        let endpoint = self.endpoints.remove(endpoint_id);
        let state = match &endpoint {
            Some(endpoint) => Some(self.claim_state(c, &candidate.app_id, endpoint).await?),
            None => None,
        };
        let (take, ordered) = match plan(state.as_ref(), limits, now) {
            ClaimPlan::Forget => return forget_endpoint(c, endpoint_id).await.map(|()| 0),
            ClaimPlan::Park => {
                return park_endpoint(c, endpoint_id, to_micros(now))
                    .await
                    .map(|()| 0);
            }
            ClaimPlan::Postpone(until) => {
                return postpone(c, endpoint_id, until).await.map(|()| 0);
            }
            // Nothing is taken, but the queue entry is still brought up to date.
            ClaimPlan::Skip => (0, endpoint.as_ref().is_some_and(|e| e.options.ordered)),
            ClaimPlan::Take { at_most, head_only } => (at_most, head_only),
        };
        // Only a gone endpoint has no row, and its plan is `Forget`.
        let (Some(endpoint), Some(state)) = (endpoint, state) else {
            return Ok(0);
        };
        let tokens: Vec<i64> = (0..take).map(|_| rand::random()).collect();
        let turn = TakeTurn {
            endpoint_id,
            node_id: self.node_id,
            now: to_micros(now),
            lease_end: self.lease_end,
            take,
            ordered,
        };
        let leased = take_due(c, &turn, &tokens).await?;
        let taken = leased.len();
        self.spend_tokens(c, candidate, &state, taken).await?;
        self.hand_out(candidate, &endpoint, &leased)?;
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

    /// Hands out the rows `take_due` leased, signed with the endpoint's secrets.
    fn hand_out(
        &mut self,
        candidate: &Candidate<EndpointId>,
        endpoint: &EndpointRow,
        leased: &[Row],
    ) -> Result<(), StoreError> {
        if leased.is_empty() {
            return Ok(());
        }
        let headers: BTreeMap<String, String> = from_json(&endpoint.headers)?;
        let url = EndpointUrl::parse(&endpoint.url).map_err(corrupt)?;
        let transformation: Option<Arc<str>> = endpoint.transformation.as_deref().map(Arc::from);
        let secrets = endpoint.secrets(self.sealing, &candidate.endpoint_id);
        for row in leased {
            self.claimed.push(ClaimedDelivery {
                delivery_id: DeliveryId::from_trusted(get::<String>(row, 0)?),
                lease_token: get(row, 8)?,
                app_id: AppId::from_trusted(candidate.app_id.clone()),
                msg_id: MessageId::from_trusted(get::<String>(row, 1)?),
                endpoint_id: candidate.endpoint_id.clone(),
                event_type: EventTypeName::parse(&get::<String>(row, 5)?).map_err(corrupt)?,
                attempts_made: u32::try_from(get::<i32>(row, 2)?).unwrap_or(0),
                trigger_type: TriggerType::from_code(i64::from(get::<i16>(row, 3)?)),
                url: url.clone(),
                headers: headers.clone(),
                options: endpoint.options.clone(),
                secrets: secrets.clone(),
                payload: get(row, 4)?,
                content_type: get(row, 6)?,
                original_headers: match get::<Option<String>>(row, 7)? {
                    Some(json) => from_json(&json)?,
                    None => Vec::new(),
                },
                transformation: transformation.clone(),
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
