//! What a claim reads: the due endpoints (their queue rows locked), an endpoint's settings and
//! state (with its live leases on every node), an application's bucket (locked), and an
//! endpoint's due deliveries (locked).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::super::super::endpoint_secrets::stored_secrets_of;
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
use crate::store::{ClaimBudget, ClaimedDelivery, StoreError};

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
}

pub(super) async fn endpoint_row(
    c: &impl GenericClient,
    sealing: &Sealing,
    endpoint_id: &str,
    now: i64,
) -> Result<Option<EndpointRow>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT e.url, e.headers, e.disabled, e.throttle_rate, a.throttle_rate,
                    (SELECT COUNT(*) FROM delivery d WHERE d.endpoint_id = e.id
                     AND d.status = 1 AND d.lease_token IS NOT NULL AND d.next_attempt_at > $2),
                    e.max_in_flight, e.ordered, e.retry_schedule, e.auth,
                    e.consecutive_failures, e.paused_until, e.throttle_tokens, e.throttle_updated,
                    CASE WHEN e.transformation_enabled THEN e.transformation_code END
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
        headers: sealing.open(
            Place::endpoint_headers(endpoint_id),
            &get::<String>(&row, 1)?,
        )?,
        disabled: get(&row, 2)?,
        endpoint_throttle_rate: optional_u32(get(&row, 3)?),
        app_throttle_rate: optional_u32(get(&row, 4)?),
        live_leases: u32::try_from(get::<i64>(&row, 5)?).unwrap_or(u32::MAX),
        options: delivery_options(sealing, endpoint_id, &row, 6)?,
        consecutive_failures: u32::try_from(get::<i32>(&row, 10)?).unwrap_or(0),
        resting_until: get::<Option<i64>>(&row, 11)?.map(from_micros),
        endpoint_bucket: bucket(get(&row, 12)?, get(&row, 13)?),
        transformation: get(&row, 14)?,
    }))
}

/// Due deliveries of one endpoint: `take` of the earliest due, or for an ordered endpoint its
/// oldest pending delivery if that one is due. Rows another transaction holds are skipped.
pub(super) async fn due_deliveries(
    c: &impl GenericClient,
    endpoint_id: &str,
    now: i64,
    take: usize,
    ordered: bool,
) -> Result<Vec<Row>, StoreError> {
    const COLUMNS: &str = "d.id, d.msg_id, d.attempts_made, d.trigger_type, m.payload,
         m.event_type, m.content_type, m.original_headers";
    let sql = if ordered {
        // The head is found without SKIP LOCKED: skipping it would send the second one first.
        format!(
            "SELECT {COLUMNS} FROM delivery d JOIN message m ON m.id = d.msg_id
             WHERE d.id = (SELECT id FROM delivery WHERE endpoint_id = $1 AND status = 1
                           ORDER BY id LIMIT 1)
             AND d.next_attempt_at <= $2 AND $3::bigint > 0
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
pub(super) async fn add_secrets(
    c: &impl GenericClient,
    sealing: &Sealing,
    now: Timestamp,
    claimed: &mut [ClaimedDelivery],
) -> Result<(), StoreError> {
    if claimed.is_empty() {
        return Ok(());
    }
    let mut endpoint_ids: Vec<&str> = claimed.iter().map(|d| d.endpoint_id.as_str()).collect();
    endpoint_ids.dedup();
    let mut stored: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for (endpoint_id, key, _) in stored_secrets_of(c, &endpoint_ids, now).await? {
        let opened = open_signing_key(
            sealing,
            &EndpointId::from_trusted(endpoint_id.clone()),
            &key,
        );
        stored.entry(endpoint_id).or_default().push(opened);
    }
    let secrets: HashMap<&str, SigningSecrets> = stored
        .iter()
        .map(|(endpoint_id, keys)| {
            let secrets = SigningSecrets::from_opened(keys.iter().map(Option::as_deref));
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
