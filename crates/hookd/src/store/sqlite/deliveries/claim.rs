//! A claim: the due endpoints in fair order (`policy::claim_order`), and for each one its state
//! read, planned by `policy::claim_plan::plan`, and the plan applied. No rule of a claim lives
//! here; a claim runs in one writer job, so nothing else writes while it reads and leases.

pub(super) mod reads;

use reads::{DueRow, EndpointRow, due_deliveries, due_endpoints, endpoint_row, head_if_due};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, params};

use super::super::backend;
use super::super::endpoint_secrets::signing_secrets;
use super::super::rows::{corrupt, from_json, to_micros};
use super::{forget_endpoint, park_endpoint, postpone, refresh_queue_entry};
use crate::domain::{
    AppId, DeliveryId, EndpointId, EndpointUrl, EventTypeName, MessageId, Timestamp, TriggerType,
};
use crate::policy::claim_order::{Candidate, ClaimTurns};
use crate::policy::claim_plan::{ClaimLimits, ClaimPlan, EndpointClaimState, Throttle, plan};
use crate::store::sealing::{Place, Sealing};
use crate::store::{ClaimBudget, ClaimedDelivery, StoreError};

pub fn claim_due(
    c: &Connection,
    sealing: &Sealing,
    now: Timestamp,
    lease: Duration,
    budget: &ClaimBudget,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let mut turns = ClaimTurns::new(budget, due_endpoints(c, to_micros(now), budget)?);
    let mut claim = Claim {
        c,
        sealing,
        now,
        lease_end: to_micros(now + lease),
        app_buckets: HashMap::new(),
        claimed: Vec::new(),
    };
    while let Some((candidate, limits)) = turns.next_turn() {
        let taken = claim.visit(&candidate, &limits)?;
        turns.took(taken);
    }
    claim.save_app_buckets()?;
    Ok(claim.claimed)
}

/// One claim in progress: what it took so far and the application buckets it is spending.
struct Claim<'a> {
    c: &'a Connection,
    sealing: &'a Sealing,
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
        let endpoint = endpoint_row(c, self.sealing, endpoint_id, to_micros(now))?;
        let state = endpoint
            .as_ref()
            .map(|endpoint| self.claim_state(&candidate.app_id, endpoint));
        let due = match plan(state.as_ref(), limits, now) {
            ClaimPlan::Forget => return forget_endpoint(c, endpoint_id).map(|()| 0),
            ClaimPlan::Park => return park_endpoint(c, endpoint_id, to_micros(now)).map(|()| 0),
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
        let secrets = signing_secrets(self.c, self.sealing, &candidate.endpoint_id, self.now)?;
        let url = EndpointUrl::parse(&endpoint.url).map_err(corrupt)?;
        let headers: BTreeMap<String, String> = from_json(&self.sealing.open(
            Place::endpoint_headers(candidate.endpoint_id.as_str()),
            &endpoint.headers,
        )?)?;
        let transformation: Option<Arc<str>> = endpoint.transformation.as_deref().map(Arc::from);
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
                url: url.clone(),
                headers: headers.clone(),
                options: endpoint.options.clone(),
                secrets: secrets.clone(),
                payload: row.payload,
                content_type: row.content_type,
                original_headers: match row.original_headers {
                    Some(json) => from_json(&json)?,
                    None => Vec::new(),
                },
                transformation: transformation.clone(),
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
