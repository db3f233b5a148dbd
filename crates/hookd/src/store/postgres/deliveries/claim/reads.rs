//! What a claim reads: the due endpoints (their queue rows locked), their settings, signing keys
//! and state (with their live leases on every node), an application's bucket (locked), and an
//! endpoint's due deliveries (locked and leased, with its queue entry recomputed).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::super::super::endpoints::delivery_options;
use super::super::super::rows::from_micros;
use super::super::super::rows::optional_u32;
use super::super::super::{backend, get};
use crate::domain::{DeliveryOptions, EndpointId, SigningSecrets, Timestamp};
use crate::policy::backpressure::Bucket;
use crate::policy::claim_order::{
    Candidate, scan_may_miss_quick_endpoints, with_due_quick_endpoints,
};
use crate::store::sealing::{Place, Sealing, open_signing_key};
use crate::store::{ClaimBudget, StoreError};

/// Locks the queue rows of due endpoints that no other claim holds, oldest first, and drops
/// those the budget blocks.
pub(super) async fn due_endpoints(
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
    let rows = if rows.is_empty() {
        wait_for_a_locked_due_endpoint(c, now).await?
    } else {
        rows
    };
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

/// When every due endpoint's queue row is locked, waits for the oldest one's lock and locks it,
/// if it is still due then. The row's holder is most often a message writer whose commit just
/// made the endpoint due, or a recorder: skipping it would leave this claim empty and the
/// dispatcher idle until the next wake-up, which under steady ingest finds the row locked by
/// the next commit again. The claim holds no queue row yet, so waiting for one cannot deadlock;
/// another node's claim that got there first has moved `next_due` by the time the wait ends,
/// and then nothing comes back.
async fn wait_for_a_locked_due_endpoint(
    c: &impl GenericClient,
    now: i64,
) -> Result<Vec<Row>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT endpoint_id, app_id FROM endpoint_queue
             WHERE endpoint_id = (SELECT endpoint_id FROM endpoint_queue WHERE next_due <= $1
                                  ORDER BY next_due LIMIT 1)
             AND next_due <= $1 FOR UPDATE",
        )
        .await
        .map_err(backend)?;
    c.query(&statement, &[&now]).await.map_err(backend)
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

/// An application's stored throttle bucket, read under a row lock until the claim commits.
pub(super) async fn app_bucket(
    c: &impl GenericClient,
    app_id: &str,
) -> Result<Option<Bucket>, StoreError> {
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
pub(super) struct EndpointRow {
    pub(super) url: String,
    /// Opened: the JSON text of the endpoint's custom headers.
    pub(super) headers: String,
    pub(super) disabled: bool,
    pub(super) options: DeliveryOptions,
    pub(super) endpoint_throttle_rate: Option<u32>,
    pub(super) app_throttle_rate: Option<u32>,
    pub(super) live_leases: u32,
    pub(super) consecutive_failures: u32,
    pub(super) resting_until: Option<Timestamp>,
    pub(super) endpoint_bucket: Option<Bucket>,
    /// The endpoint's transformation code while it is enabled.
    pub(super) transformation: Option<String>,
    /// The endpoint's signing keys valid now, sealed as stored, the current one first.
    pub(super) stored_secrets: Vec<String>,
}

impl EndpointRow {
    /// The endpoint's signing secrets, opened (a key that cannot be opened is logged and left
    /// out, as everywhere deliveries are signed).
    pub(super) fn secrets(&self, sealing: &Sealing, endpoint_id: &EndpointId) -> SigningSecrets {
        let opened: Vec<Option<String>> = self
            .stored_secrets
            .iter()
            .map(|key| open_signing_key(sealing, endpoint_id, key))
            .collect();
        SigningSecrets::from_opened(opened.iter().map(Option::as_deref))
    }
}

/// The claim's candidate endpoints' settings and live leases, read in one statement (their
/// queue rows are locked, so no other claim changes their leases meanwhile); a gone endpoint
/// has no entry.
pub(super) async fn endpoint_rows(
    c: &impl GenericClient,
    sealing: &Sealing,
    endpoint_ids: &[&str],
    now: i64,
) -> Result<HashMap<String, EndpointRow>, StoreError> {
    if endpoint_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let statement = c
        .prepare_cached(
            "SELECT e.url, e.headers, e.disabled, e.throttle_rate, a.throttle_rate,
                    (SELECT COUNT(*) FROM delivery d WHERE d.endpoint_id = e.id
                     AND d.status = 1 AND d.lease_token IS NOT NULL AND d.next_attempt_at > $2),
                    e.max_in_flight, e.ordered, e.retry_schedule, e.auth,
                    e.consecutive_failures, e.paused_until, e.throttle_tokens, e.throttle_updated,
                    CASE WHEN e.transformation_enabled THEN e.transformation_code END, e.id,
                    ARRAY(SELECT s.key FROM endpoint_secret s WHERE s.endpoint_id = e.id
                          AND (s.expires_at IS NULL OR s.expires_at > $2)
                          ORDER BY s.expires_at IS NOT NULL, s.expires_at DESC)
             FROM endpoint e JOIN application a ON a.id = e.app_id WHERE e.id = ANY($1)",
        )
        .await
        .map_err(backend)?;
    let rows = c
        .query(&statement, &[&endpoint_ids, &now])
        .await
        .map_err(backend)?;
    let mut endpoints = HashMap::with_capacity(rows.len());
    for row in &rows {
        let endpoint_id: String = get(row, 15)?;
        let endpoint = EndpointRow {
            url: get(row, 0)?,
            headers: sealing.open(
                Place::endpoint_headers(&endpoint_id),
                &get::<String>(row, 1)?,
            )?,
            disabled: get(row, 2)?,
            endpoint_throttle_rate: optional_u32(get(row, 3)?),
            app_throttle_rate: optional_u32(get(row, 4)?),
            live_leases: u32::try_from(get::<i64>(row, 5)?).unwrap_or(u32::MAX),
            options: delivery_options(sealing, &endpoint_id, row, 6)?,
            consecutive_failures: u32::try_from(get::<i32>(row, 10)?).unwrap_or(0),
            resting_until: get::<Option<i64>>(row, 11)?.map(from_micros),
            endpoint_bucket: bucket(get(row, 12)?, get(row, 13)?),
            transformation: get(row, 14)?,
            stored_secrets: get(row, 16)?,
        };
        endpoints.insert(endpoint_id, endpoint);
    }
    Ok(endpoints)
}

/// One endpoint's turn in one statement: its due deliveries taken (`take` of the earliest due,
/// or for an ordered endpoint its oldest pending delivery if that one is due; rows another
/// transaction holds are skipped), leased to this node until `lease_end` under the fresh
/// `tokens` (at least `take` of them), and its queue entry recomputed as it is after the lease
/// (removed when nothing is pending). Returns the leased deliveries, earliest due first, each
/// with its token last.
pub(super) async fn take_due(
    c: &impl GenericClient,
    turn: &TakeTurn<'_>,
    tokens: &[i64],
) -> Result<Vec<Row>, StoreError> {
    let (due, next_due) = if turn.ordered {
        // The head is found without SKIP LOCKED: skipping it would send the second one first.
        // Only the head counts for the queue entry, since nothing behind it can go first.
        (
            "SELECT d.id, d.msg_id, d.attempts_made, d.trigger_type, d.next_attempt_at
             FROM delivery d
             WHERE d.id = (SELECT id FROM delivery WHERE endpoint_id = $1 AND status = 1
                           ORDER BY id LIMIT 1)
             AND d.next_attempt_at <= $2 AND $3::bigint > 0
             FOR UPDATE OF d",
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM due) THEN $4::bigint
                    ELSE (SELECT next_attempt_at FROM delivery WHERE endpoint_id = $1
                          AND status = 1 ORDER BY id LIMIT 1) END AS at",
        )
    } else {
        (
            "SELECT d.id, d.msg_id, d.attempts_made, d.trigger_type, d.next_attempt_at
             FROM delivery d
             WHERE d.endpoint_id = $1 AND d.status = 1 AND d.next_attempt_at <= $2
             ORDER BY d.next_attempt_at LIMIT $3
             FOR UPDATE OF d SKIP LOCKED",
            // Read in the statement's snapshot, from before the lease: the leased rows count
            // with their lease's end.
            "SELECT LEAST((SELECT MIN(next_attempt_at) FROM delivery WHERE endpoint_id = $1
                           AND status = 1 AND id NOT IN (SELECT id FROM due)),
                          (SELECT $4::bigint WHERE EXISTS (SELECT 1 FROM due))) AS at",
        )
    };
    let statement = c
        .prepare_cached(&format!(
            "WITH due AS MATERIALIZED ({due}),
             numbered AS (SELECT due.*, row_number() OVER () AS n FROM due),
             leased AS (UPDATE delivery d SET next_attempt_at = $4,
                        lease_token = ($5::bigint[])[numbered.n], leased_by = $6
                        FROM numbered WHERE d.id = numbered.id
                        RETURNING numbered.*, d.lease_token),
             next AS ({next_due}),
             moved AS (UPDATE endpoint_queue SET next_due = next.at FROM next
                       WHERE endpoint_id = $1 AND next.at IS NOT NULL),
             emptied AS (DELETE FROM endpoint_queue USING next
                         WHERE endpoint_id = $1 AND next.at IS NULL)
             SELECT l.id, l.msg_id, l.attempts_made, l.trigger_type, m.payload, m.event_type,
                    m.content_type, m.original_headers, l.lease_token
             FROM leased l JOIN message m ON m.id = l.msg_id
             ORDER BY l.next_attempt_at, l.id"
        ))
        .await
        .map_err(backend)?;
    c.query(
        &statement,
        &[
            &turn.endpoint_id,
            &turn.now,
            &i64::try_from(turn.take).unwrap_or(i64::MAX),
            &turn.lease_end,
            &tokens,
            &turn.node_id,
        ],
    )
    .await
    .map_err(backend)
}

/// What `take_due` is asked for.
pub(super) struct TakeTurn<'a> {
    pub(super) endpoint_id: &'a str,
    pub(super) node_id: &'a str,
    pub(super) now: i64,
    pub(super) lease_end: i64,
    pub(super) take: usize,
    pub(super) ordered: bool,
}
