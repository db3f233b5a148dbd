//! SQL for the delivery queue shared by every node: claiming due deliveries under a lease, fairly
//! across endpoints and applications; recording attempts; releasing leases.
//!
//! The lease is the row's own `next_attempt_at`, exactly as in the SQLite backend: a claim moves
//! it to the end of the lease and stamps a fresh random `lease_token` (and `leased_by`, the node).
//! Leases are short; a live node renews all of its leases in one statement every second or so
//! (`renew`). If a node dies, its deliveries simply fall due again when their leases end, within
//! seconds; and a node that starts under the name of a dead one releases that one's leases at
//! once (`release_node_leases`). A late result from
//! an expired lease still records its attempt (it happened) but cannot move the delivery on,
//! because its token no longer matches.
//!
//! A claim is one transaction. It first locks the `endpoint_queue` rows of due endpoints with
//! `FOR UPDATE SKIP LOCKED`: endpoints another node is claiming for right now are skipped, not
//! waited for. Holding an endpoint's row, the claim counts that endpoint's live leases (every
//! node's), takes what the limit and FIFO rule allow with `FOR UPDATE SKIP LOCKED` on the
//! delivery rows, and recomputes the endpoint's `next_due`. Two nodes therefore never lease the
//! same delivery, never exceed an endpoint's limit together, and never both send an ordered
//! endpoint's head.
//!
//! Every write that touches several `endpoint_queue` rows touches them in endpoint-id order
//! (`DueMarks`), so concurrent transactions cannot deadlock on them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::catalog::{delivery_options, optional_u32, stored_secrets_of};
use super::messages::insert_attempts;
use super::rows::{corrupt, from_json, from_micros, to_micros};
use super::{NOTIFY_CHANNEL, backend, get};
use crate::domain::{
    AppId, DeliveryId, DeliveryOptions, DeliveryStatus, EndpointId, EndpointUrl, EventTypeName,
    MessageId, SigningSecrets, Timestamp, TriggerType,
};
use crate::policy::backpressure::{Bucket, CircuitPolicy, time_to_token, tokens_at};
use crate::policy::claim_order::{
    Candidate, ClaimShares, Turn, fair_order, scan_may_miss_quick_endpoints,
    with_due_quick_endpoints,
};
use crate::store::delivery_state::{FAILED, PARKED, PENDING, SUCCEEDED};
use crate::store::{
    AttemptRecord, ClaimBudget, ClaimedDelivery, DisabledEndpoint, HeldLease, NextStep, StoreError,
};

/// Tells every listening node that deliveries may be due. Sent inside the writing transaction,
/// PostgreSQL delivers it only when (and if) that transaction commits.
pub async fn notify_deliveries(c: &impl GenericClient) -> Result<(), StoreError> {
    c.batch_execute(&format!("NOTIFY {NOTIFY_CHANNEL}"))
        .await
        .map_err(backend)
}

/// Endpoints whose queue entry must come down to a due time, collected during a transaction and
/// written at its end in one statement, in endpoint-id order.
#[derive(Default)]
pub struct DueMarks {
    earliest: BTreeMap<String, (String, i64)>,
}

impl DueMarks {
    pub fn mark(&mut self, endpoint_id: &str, app_id: &str, due: i64) {
        let entry = self
            .earliest
            .entry(endpoint_id.to_owned())
            .or_insert_with(|| (app_id.to_owned(), due));
        entry.1 = entry.1.min(due);
    }

    pub fn is_empty(&self) -> bool {
        self.earliest.is_empty()
    }

    /// Lowers (or creates) each marked endpoint's queue entry.
    pub async fn apply(self, c: &impl GenericClient) -> Result<(), StoreError> {
        if self.earliest.is_empty() {
            return Ok(());
        }
        let statement = c
            .prepare_cached(
                "INSERT INTO endpoint_queue (endpoint_id, app_id, next_due)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
                 ON CONFLICT (endpoint_id) DO UPDATE
                 SET next_due = LEAST(endpoint_queue.next_due, excluded.next_due)",
            )
            .await
            .map_err(backend)?;
        let endpoints: Vec<&str> = self.earliest.keys().map(String::as_str).collect();
        let apps: Vec<&str> = self
            .earliest
            .values()
            .map(|(app, _)| app.as_str())
            .collect();
        let due: Vec<i64> = self.earliest.values().map(|(_, due)| *due).collect();
        c.execute(&statement, &[&endpoints, &apps, &due])
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Marks what an `UPDATE ... RETURNING endpoint_id, app_id, next_attempt_at` moved.
fn marks_from(rows: &[Row]) -> Result<DueMarks, StoreError> {
    let mut marks = DueMarks::default();
    for row in rows {
        marks.mark(
            &get::<String>(row, 0)?,
            &get::<String>(row, 1)?,
            get(row, 2)?,
        );
    }
    Ok(marks)
}

pub async fn enqueue_resend(
    c: &impl GenericClient,
    app_id: &AppId,
    msg_id: &MessageId,
    endpoint_id: &EndpointId,
    now: Timestamp,
) -> Result<DeliveryId, StoreError> {
    let delivery_id = DeliveryId::generate(now, rand::random());
    let statement = c
        .prepare_cached(
            "INSERT INTO delivery (id, app_id, msg_id, endpoint_id, status, trigger_type,
             attempts_made, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &delivery_id.as_str(),
            &app_id.as_str(),
            &msg_id.as_str(),
            &endpoint_id.as_str(),
            &PENDING,
            &(TriggerType::Manual as i16),
            &to_micros(now),
        ],
    )
    .await
    .map_err(backend)?;
    let mut marks = DueMarks::default();
    marks.mark(endpoint_id.as_str(), app_id.as_str(), to_micros(now));
    marks.apply(c).await?;
    // Someone asked for this delivery by hand: the endpoint's rest should not hold it back.
    end_rest(c, endpoint_id.as_str(), now).await?;
    notify_deliveries(c).await?;
    Ok(delivery_id)
}

/// Ends an endpoint's rest (circuit breaker or `Retry-After`) and brings its queue entry, which
/// the rest postponed, back to now. Its failure count is kept, so while it is failing it takes
/// one probe at a time (across every node) until a success. Takes the queue row before the
/// endpoint row, the order every other write takes them in.
pub async fn end_rest(
    c: &impl GenericClient,
    endpoint_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    // The queue row is locked first, in a statement of its own: an UPDATE of the endpoint in the
    // same statement would lock the endpoint row first and could deadlock with a claim or a
    // recorder holding the queue row.
    let lock_queue = c
        .prepare_cached("SELECT 1 FROM endpoint_queue WHERE endpoint_id = $1 FOR UPDATE")
        .await
        .map_err(backend)?;
    c.execute(&lock_queue, &[&endpoint_id])
        .await
        .map_err(backend)?;
    let statement = c
        .prepare_cached(
            "WITH ended AS (UPDATE endpoint SET paused_until = NULL
                            WHERE id = $1 AND paused_until IS NOT NULL RETURNING id)
             UPDATE endpoint_queue SET next_due = LEAST(next_due, $2)
             FROM ended WHERE endpoint_queue.endpoint_id = ended.id",
        )
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id, &to_micros(now)])
        .await
        .map_err(backend)?;
    Ok(())
}

/// Makes pending, unleased deliveries due at `now` at the latest (a recovery does not wait for
/// their retry), and wakes every node.
pub async fn make_due_now(
    c: &impl GenericClient,
    delivery_ids: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    if delivery_ids.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = delivery_ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    let statement = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = LEAST(next_attempt_at, $2)
             WHERE id = ANY($1) AND status = 1 AND lease_token IS NULL
             RETURNING endpoint_id, app_id, next_attempt_at",
        )
        .await
        .map_err(backend)?;
    let moved = c
        .query(&statement, &[&ids, &to_micros(now)])
        .await
        .map_err(backend)?;
    marks_from(&moved)?.apply(c).await?;
    notify_deliveries(c).await
}

/// Claims within `budget`; runs in the caller's transaction (see the module docs).
pub async fn claim_due(
    c: &impl GenericClient,
    node_id: &str,
    now: Timestamp,
    lease: Duration,
    budget: &ClaimBudget,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let candidates = fair_order(due_endpoints(c, to_micros(now), budget).await?);
    let lease_end = to_micros(now + lease);
    let mut claimed = Vec::new();
    let mut app_buckets: HashMap<String, AppBucket> = HashMap::new();
    let mut shares = ClaimShares::new(budget, &candidates);
    for candidate in &candidates {
        let share = match shares.turn(candidate) {
            Turn::ClaimIsFull => break,
            Turn::PassOver => continue,
            Turn::TakeAtMost(share) => share,
        };
        let claim = EndpointClaim {
            node_id,
            now,
            lease_end,
            share,
            budget,
        };
        let claimed_before = claimed.len();
        claim
            .run(c, candidate, &mut app_buckets, &mut claimed)
            .await?;
        shares.took(candidate, claimed.len() - claimed_before);
    }
    save_app_buckets(c, app_buckets, to_micros(now)).await?;
    add_secrets(c, now, &mut claimed).await?;
    Ok(claimed)
}

/// An application's throttle bucket during one claim: read under a row lock (so claims on other
/// nodes wait their turn), written back at the claim's end.
struct AppBucket {
    rate: u32,
    tokens: f64,
}

async fn app_bucket(
    c: &impl GenericClient,
    app_id: &str,
    rate: u32,
    now: Timestamp,
) -> Result<AppBucket, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT throttle_tokens, throttle_updated FROM application WHERE id = $1 FOR UPDATE",
        )
        .await
        .map_err(backend)?;
    let row = c.query_opt(&statement, &[&app_id]).await.map_err(backend)?;
    let stored = match row {
        Some(row) => bucket(get(&row, 0)?, get(&row, 1)?),
        None => None,
    };
    Ok(AppBucket {
        rate,
        tokens: tokens_at(rate, stored, now),
    })
}

async fn save_app_buckets(
    c: &impl GenericClient,
    buckets: HashMap<String, AppBucket>,
    now: i64,
) -> Result<(), StoreError> {
    if buckets.is_empty() {
        return Ok(());
    }
    let statement = c
        .prepare_cached(
            "UPDATE application SET throttle_tokens = $2, throttle_updated = $3 WHERE id = $1",
        )
        .await
        .map_err(backend)?;
    let mut buckets: Vec<(String, AppBucket)> = buckets.into_iter().collect();
    buckets.sort_by(|a, b| a.0.cmp(&b.0));
    for (app_id, bucket) in buckets {
        c.execute(&statement, &[&app_id, &bucket.tokens, &now])
            .await
            .map_err(backend)?;
    }
    Ok(())
}

fn bucket(tokens: Option<f64>, updated: Option<i64>) -> Option<Bucket> {
    tokens.zip(updated).map(|(tokens, updated)| Bucket {
        tokens,
        updated: from_micros(updated),
    })
}

/// Sets an endpoint's queue entry to the time it may go again (a rest or a throttle). The entry
/// may then lie later than the endpoint's due deliveries: it says when to look, not what is due.
async fn postpone(
    c: &impl GenericClient,
    endpoint_id: &str,
    until: Timestamp,
) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached("UPDATE endpoint_queue SET next_due = $2 WHERE endpoint_id = $1")
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id, &to_micros(until)])
        .await
        .map_err(backend)?;
    Ok(())
}

/// Locks the queue rows of due endpoints that no other claim holds, oldest first, and drops
/// those the budget blocks.
async fn due_endpoints(
    c: &impl GenericClient,
    now: i64,
    budget: &ClaimBudget,
) -> Result<Vec<Candidate>, StoreError> {
    let blocked = budget
        .endpoint_allowance
        .values()
        .filter(|allowance| **allowance == 0)
        .count();
    let fetch = budget.limit.saturating_mul(2) + blocked + 16;
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
    let mut candidates = Vec::with_capacity(rows.len());
    for row in &rows {
        let candidate = Candidate {
            endpoint_id: get(row, 0)?,
            app_id: get(row, 1)?,
        };
        let endpoint = EndpointId::from_trusted(candidate.endpoint_id.clone());
        if budget.endpoint_allowance.get(&endpoint) != Some(&0) {
            candidates.push(candidate);
        }
    }
    if !scan_may_miss_quick_endpoints(budget, rows.len(), fetch) {
        return Ok(candidates);
    }
    let due_quick = due_quick_endpoints(c, now, budget).await?;
    Ok(with_due_quick_endpoints(budget, candidates, due_quick))
}

/// The budget's quick endpoints that are due, looked up by id (see `ClaimBudget`), locked like
/// the scan's rows; rows this claim already holds come back again and are dropped as repeats.
async fn due_quick_endpoints(
    c: &impl GenericClient,
    now: i64,
    budget: &ClaimBudget,
) -> Result<Vec<Candidate>, StoreError> {
    let quick: Vec<&str> = budget
        .quick_endpoints
        .iter()
        .map(|endpoint_id| endpoint_id.as_str())
        .collect();
    let fetch = i64::try_from(budget.limit.saturating_mul(2) + 16).unwrap_or(i64::MAX);
    let statement = c
        .prepare_cached(
            "SELECT endpoint_id, app_id FROM endpoint_queue
             WHERE next_due <= $1 AND endpoint_id = ANY($2)
             ORDER BY next_due LIMIT $3 FOR UPDATE SKIP LOCKED",
        )
        .await
        .map_err(backend)?;
    let rows = c
        .query(&statement, &[&now, &quick, &fetch])
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                endpoint_id: get(row, 0)?,
                app_id: get(row, 1)?,
            })
        })
        .collect()
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

/// One endpoint's part of a claim.
struct EndpointClaim<'a> {
    node_id: &'a str,
    now: Timestamp,
    lease_end: i64,
    share: usize,
    budget: &'a ClaimBudget,
}

impl EndpointClaim<'_> {
    async fn run(
        &self,
        c: &impl GenericClient,
        candidate: &Candidate,
        app_buckets: &mut HashMap<String, AppBucket>,
        claimed: &mut Vec<ClaimedDelivery>,
    ) -> Result<(), StoreError> {
        let now = to_micros(self.now);
        let endpoint_id = candidate.endpoint_id.as_str();
        let Some(endpoint) = endpoint_row(c, endpoint_id, now).await? else {
            // The endpoint is gone; its deliveries went with it.
            return forget_endpoint(c, endpoint_id).await;
        };
        if endpoint.disabled {
            return park_endpoint(c, endpoint_id).await;
        }
        if let Some(until) = endpoint.resting_until.filter(|until| *until > self.now) {
            // Resting (circuit open or Retry-After): come back when the rest is over.
            return postpone(c, endpoint_id, until).await;
        }
        let max_in_flight = endpoint
            .options
            .max_in_flight
            .unwrap_or(self.budget.default_max_in_flight);
        let mut room =
            usize::try_from(max_in_flight.saturating_sub(endpoint.live_leases)).unwrap_or(0);
        if let Some(allowance) = self
            .budget
            .endpoint_allowance
            .get(&EndpointId::from_trusted(endpoint_id))
        {
            room = room.min(usize::try_from(*allowance).unwrap_or(0));
        }
        let ordered = endpoint.options.ordered;
        if ordered
            || self
                .budget
                .circuit
                .is_probing(endpoint.consecutive_failures)
        {
            // FIFO, or a failing endpoint's single probe: one at a time, across every node.
            room = if endpoint.live_leases == 0 {
                room.min(1)
            } else {
                0
            };
        }
        let endpoint_tokens = endpoint
            .endpoint_throttle_rate
            .map(|rate| (rate, tokens_at(rate, endpoint.endpoint_bucket, self.now)));
        let app_tokens = match endpoint.app_throttle_rate {
            None => None,
            Some(rate) => {
                if !app_buckets.contains_key(&candidate.app_id) {
                    let bucket = app_bucket(c, &candidate.app_id, rate, self.now).await?;
                    app_buckets.insert(candidate.app_id.clone(), bucket);
                }
                app_buckets
                    .get(&candidate.app_id)
                    .map(|bucket| (bucket.rate, bucket.tokens))
            }
        };
        for (rate, tokens) in endpoint_tokens.into_iter().chain(app_tokens) {
            room = room.min(tokens.max(0.0).floor() as usize);
            if tokens < 1.0 {
                // Throttled: come back when the next token is there. Waiting is not an attempt.
                let ready = self.now
                    + chrono::Duration::from_std(time_to_token(rate, tokens)).unwrap_or_default();
                return postpone(c, endpoint_id, ready).await;
            }
        }
        let take = room.min(self.share);
        let due = if take == 0 {
            Vec::new()
        } else {
            due_deliveries(c, endpoint_id, now, take, ordered).await?
        };
        let taken = due.len() as f64;
        if let Some((_, tokens)) = endpoint_tokens {
            let statement = c
                .prepare_cached(
                    "UPDATE endpoint SET throttle_tokens = $2, throttle_updated = $3 WHERE id = $1",
                )
                .await
                .map_err(backend)?;
            c.execute(&statement, &[&endpoint_id, &(tokens - taken), &now])
                .await
                .map_err(backend)?;
        }
        if endpoint.app_throttle_rate.is_some()
            && let Some(bucket) = app_buckets.get_mut(&candidate.app_id)
        {
            bucket.tokens -= taken;
        }
        if !due.is_empty() {
            let leases = self.lease(c, &due).await?;
            let headers: BTreeMap<String, String> = from_json(&endpoint.headers)?;
            let url = EndpointUrl::parse(&endpoint.url).map_err(corrupt)?;
            for (row, lease_token) in due.iter().zip(leases) {
                claimed.push(ClaimedDelivery {
                    delivery_id: DeliveryId::from_trusted(get::<String>(row, 0)?),
                    lease_token,
                    app_id: AppId::from_trusted(candidate.app_id.clone()),
                    msg_id: MessageId::from_trusted(get::<String>(row, 1)?),
                    endpoint_id: EndpointId::from_trusted(endpoint_id),
                    event_type: EventTypeName::parse(&get::<String>(row, 5)?).map_err(corrupt)?,
                    attempts_made: u32::try_from(get::<i32>(row, 2)?).unwrap_or(0),
                    trigger_type: TriggerType::from_code(i64::from(get::<i16>(row, 3)?)),
                    url: url.clone(),
                    headers: headers.clone(),
                    options: endpoint.options.clone(),
                    secrets: SigningSecrets::default(),
                    payload: get(row, 4)?,
                });
            }
        }
        refresh_queue_entry(c, endpoint_id, ordered).await
    }

    /// Leases the rows to this node until the lease end; returns their fresh tokens.
    async fn lease(&self, c: &impl GenericClient, due: &[Row]) -> Result<Vec<i64>, StoreError> {
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
        Ok(tokens)
    }
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
    let mut stored: HashMap<String, Vec<String>> = HashMap::new();
    for (endpoint_id, key, _) in stored_secrets_of(c, &endpoint_ids, now).await? {
        stored.entry(endpoint_id).or_default().push(key);
    }
    let secrets: HashMap<&str, SigningSecrets> = stored
        .iter()
        .map(|(endpoint_id, keys)| {
            let secrets = SigningSecrets::from_stored(keys.iter().map(String::as_str));
            (endpoint_id.as_str(), secrets)
        })
        .collect();
    for delivery in claimed {
        delivery.secrets = secrets
            .get(delivery.endpoint_id.as_str())
            .cloned()
            .unwrap_or_default();
    }
    Ok(())
}

/// Recomputes an endpoint's queue entry from its pending deliveries; removes it when none are
/// left. For an ordered endpoint only the head counts, since nothing behind it can go first.
async fn refresh_queue_entry(
    c: &impl GenericClient,
    endpoint_id: &str,
    ordered: bool,
) -> Result<(), StoreError> {
    let next_due = if ordered {
        "(SELECT next_attempt_at FROM delivery WHERE endpoint_id = $1 AND status = 1
          ORDER BY id LIMIT 1)"
    } else {
        "(SELECT MIN(next_attempt_at) FROM delivery WHERE endpoint_id = $1 AND status = 1)"
    };
    let statement = c
        .prepare_cached(&format!(
            "WITH next AS (SELECT {next_due} AS due),
             updated AS (UPDATE endpoint_queue SET next_due = next.due FROM next
                         WHERE endpoint_id = $1 AND next.due IS NOT NULL)
             DELETE FROM endpoint_queue USING next WHERE endpoint_id = $1 AND next.due IS NULL"
        ))
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id])
        .await
        .map_err(backend)?;
    Ok(())
}

async fn forget_endpoint(c: &impl GenericClient, endpoint_id: &str) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached("DELETE FROM endpoint_queue WHERE endpoint_id = $1")
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id])
        .await
        .map_err(backend)?;
    Ok(())
}

/// Parks every pending, unleased delivery of a disabled endpoint: kept, not sent.
async fn park_endpoint(c: &impl GenericClient, endpoint_id: &str) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached(
            "UPDATE delivery SET status = $2 WHERE endpoint_id = $1 AND status = 1
             AND lease_token IS NULL",
        )
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&endpoint_id, &PARKED])
        .await
        .map_err(backend)?;
    refresh_queue_entry(c, endpoint_id, false).await
}

/// Records the attempts and moves on the deliveries whose lease token still matches; runs in
/// the caller's transaction.
pub async fn record_attempts(
    c: &impl GenericClient,
    records: &[AttemptRecord],
    circuit: &CircuitPolicy,
) -> Result<Vec<DisabledEndpoint>, StoreError> {
    let attempts: Vec<_> = records.iter().map(|record| &record.attempt).collect();
    insert_attempts(c, &attempts).await?;
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
    // Rows are locked in id order, so two recording nodes cannot deadlock.
    let mut sorted: Vec<&AttemptRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    let ids: Vec<&str> = sorted.iter().map(|r| r.delivery_id.as_str()).collect();
    let tokens: Vec<i64> = sorted.iter().map(|r| r.lease_token).collect();
    let (statuses, next_at): (Vec<i16>, Vec<i64>) = sorted
        .iter()
        .map(|record| {
            let (status, at) = match record.next {
                NextStep::Done => (SUCCEEDED, record.attempt.created_at),
                NextStep::RetryAt(at) => (PENDING, at),
                NextStep::GiveUp => (FAILED, record.attempt.created_at),
            };
            (status, to_micros(at))
        })
        .unzip();
    let moved = c
        .query(&statement, &[&ids, &tokens, &statuses, &next_at])
        .await
        .map_err(backend)?;
    // A retry makes the delivery due again; a finished one may unblock the next in line of an
    // ordered endpoint. Either way the endpoint may have work due from then on.
    marks_from(&moved)?.apply(c).await?;

    // Endpoint health, in endpoint-id order (the lock order of every multi-endpoint write).
    let mut by_endpoint: Vec<&AttemptRecord> = records.iter().collect();
    by_endpoint.sort_by(|a, b| a.attempt.endpoint_id.cmp(&b.attempt.endpoint_id));
    let mut disabled = Vec::new();
    for record in by_endpoint {
        let endpoint_id = record.attempt.endpoint_id.as_str();
        let failing_since = track_health(c, endpoint_id, record, circuit).await?;
        let failing_too_long = match (failing_since, record.disable_if_failing_since) {
            (Some(since), Some(limit)) => since <= limit,
            _ => false,
        };
        if (record.disable_endpoint || failing_too_long)
            && disable_endpoint(c, endpoint_id, record.attempt.created_at).await?
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
/// recording on a healthy endpoint takes no row lock. Returns `failing_since`.
async fn track_health(
    c: &impl GenericClient,
    endpoint_id: &str,
    record: &AttemptRecord,
    circuit: &CircuitPolicy,
) -> Result<Option<Timestamp>, StoreError> {
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
    let failing_since = get::<Option<i64>>(&row, 0)?.map(from_micros);
    let failures = u32::try_from(get::<i32>(&row, 1)?).unwrap_or(0);
    let resting_until = get::<Option<i64>>(&row, 2)?.map(from_micros);
    let at = record.attempt.created_at;
    let next = if record.attempt.status == DeliveryStatus::Success {
        (None, 0, None)
    } else {
        let failures = failures + 1;
        let rest = circuit.rest_after_failure(failures, record.retry_after, resting_until, at);
        (failing_since.or(Some(at)), failures, rest)
    };
    if next != (failing_since, failures, resting_until) {
        // Relative to the stored count, so concurrent recorders on other nodes add up.
        let statement = c
            .prepare_cached(
                "UPDATE endpoint SET failing_since = $2, paused_until = $4,
                 consecutive_failures = CASE WHEN $3 THEN 0 ELSE consecutive_failures + 1 END
                 WHERE id = $1",
            )
            .await
            .map_err(backend)?;
        let succeeded = next.1 == 0;
        c.execute(
            &statement,
            &[
                &endpoint_id,
                &next.0.map(to_micros),
                &succeeded,
                &next.2.map(to_micros),
            ],
        )
        .await
        .map_err(backend)?;
    }
    Ok(next.0)
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
    park_endpoint(c, endpoint_id).await?;
    Ok(changed > 0)
}

/// Makes this node's leased deliveries due at once. A lease that already ran out and was taken
/// by another node is that node's now, and is left alone.
pub async fn release(
    c: &impl GenericClient,
    node_id: &str,
    ids: &[DeliveryId],
) -> Result<(), StoreError> {
    let mut ids: Vec<&str> = ids.iter().map(DeliveryId::as_str).collect();
    ids.sort_unstable();
    let statement = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = 0, lease_token = NULL, leased_by = NULL
             WHERE id = ANY($1) AND status = 1 AND leased_by = $2
             RETURNING endpoint_id, app_id, next_attempt_at",
        )
        .await
        .map_err(backend)?;
    let moved = c
        .query(&statement, &[&ids, &node_id])
        .await
        .map_err(backend)?;
    marks_from(&moved)?.apply(c).await
}

/// Extends this node's leases that are still held (same token, still pending) to `until`, in
/// one statement for all of them; returns the ids it renewed. A lease that ran out and was taken
/// by another node has a new token there, so it is not renewed here.
pub async fn renew(
    c: &impl GenericClient,
    node_id: &str,
    leases: &[HeldLease],
    until: Timestamp,
) -> Result<Vec<DeliveryId>, StoreError> {
    // Rows are taken in id order, as `record_attempts` takes them, so the two cannot deadlock.
    let mut sorted: Vec<&HeldLease> = leases.iter().collect();
    sorted.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    let ids: Vec<&str> = sorted
        .iter()
        .map(|lease| lease.delivery_id.as_str())
        .collect();
    let tokens: Vec<i64> = sorted.iter().map(|lease| lease.lease_token).collect();
    let statement = c
        .prepare_cached(
            "UPDATE delivery d SET next_attempt_at = $3
             FROM unnest($1::text[], $2::bigint[]) AS lease(id, token)
             WHERE d.id = lease.id AND d.lease_token = lease.token AND d.status = 1
             AND d.leased_by = $4
             RETURNING d.id",
        )
        .await
        .map_err(backend)?;
    let renewed = c
        .query(&statement, &[&ids, &tokens, &to_micros(until), &node_id])
        .await
        .map_err(backend)?;
    renewed
        .iter()
        .map(|row| get::<String>(row, 0).map(DeliveryId::from_trusted))
        .collect()
}

/// Makes every lease stamped with `node_id` due at once. Run when a node starts: a lease
/// carrying its name belongs to an earlier run of it that died, since node ids are unique
/// among live nodes. Other nodes' leases are left alone.
pub async fn release_node_leases(c: &impl GenericClient, node_id: &str) -> Result<u64, StoreError> {
    let statement = c
        .prepare_cached(
            "UPDATE delivery SET next_attempt_at = 0, lease_token = NULL, leased_by = NULL
             WHERE leased_by = $1 AND status = 1
             RETURNING endpoint_id, app_id, next_attempt_at",
        )
        .await
        .map_err(backend)?;
    let moved = c.query(&statement, &[&node_id]).await.map_err(backend)?;
    marks_from(&moved)?.apply(c).await?;
    Ok(moved.len() as u64)
}

/// When the next endpoint has work due, if any. It may be in the past when every due endpoint
/// is at its limit or being claimed by another node.
pub async fn next_due_at(c: &impl GenericClient) -> Result<Option<Timestamp>, StoreError> {
    let statement = c
        .prepare_cached("SELECT MIN(next_due) FROM endpoint_queue")
        .await
        .map_err(backend)?;
    let row = c.query_one(&statement, &[]).await.map_err(backend)?;
    Ok(get::<Option<i64>>(&row, 0)?.map(from_micros))
}
