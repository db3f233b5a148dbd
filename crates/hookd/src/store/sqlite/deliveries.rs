//! SQL for the delivery queue: claiming due deliveries under a lease, recording attempts, and
//! giving leases back.
//!
//! The lease is the row's own `next_attempt_at`: a claim moves it to the end of the lease and
//! stamps a fresh `lease_token`. If the worker dies, the delivery simply falls due again. A late
//! result from an expired lease still records its attempt (it happened) but cannot move the
//! delivery on, because its token no longer matches.

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::backend;
use super::catalog::endpoint_secrets;
use super::messages::insert_attempt;
use super::rows::{corrupt, from_json, from_micros, to_micros};
use crate::domain::{
    AppId, DeliveryId, EndpointId, EventTypeName, MessageId, Timestamp, TriggerType,
};
use crate::store::{AttemptRecord, ClaimedDelivery, NextStep, StoreError};

const PENDING: i64 = 1;
const SUCCESS: i64 = 0;
const FAILED: i64 = 2;
const PARKED: i64 = 9;

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
    Ok(delivery_id)
}

pub fn claim_due(
    c: &Connection,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let now_micros = to_micros(now);
    // Deliveries for disabled endpoints are parked, not sent and not dropped.
    c.prepare_cached(
        "UPDATE delivery SET status = ?2 WHERE status = ?3 AND next_attempt_at <= ?1
         AND endpoint_id IN (SELECT id FROM endpoint WHERE disabled = 1)",
    )
    .map_err(backend)?
    .execute(params![now_micros, PARKED, PENDING])
    .map_err(backend)?;

    let mut due = c
        .prepare_cached(
            "SELECT d.id, d.app_id, d.msg_id, d.endpoint_id, d.attempts_made, d.trigger_type,
                    e.url, e.headers, m.payload, m.event_type
             FROM delivery d
             JOIN endpoint e ON e.id = d.endpoint_id
             JOIN message m ON m.id = d.msg_id
             WHERE d.status = ?3 AND d.next_attempt_at <= ?1
             ORDER BY d.next_attempt_at LIMIT ?2",
        )
        .map_err(backend)?;
    let rows = due
        .query_map(
            params![
                now_micros,
                i64::try_from(limit).unwrap_or(i64::MAX),
                PENDING
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, u32>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, String>(9)?,
                ))
            },
        )
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;

    let lease_end = to_micros(now + lease);
    let mut take = c
        .prepare_cached("UPDATE delivery SET next_attempt_at = ?2, lease_token = ?3 WHERE id = ?1")
        .map_err(backend)?;
    let mut secrets_by_endpoint: HashMap<String, Vec<String>> = HashMap::new();
    let mut claimed = Vec::with_capacity(rows.len());
    for (id, app_id, msg_id, endpoint_id, attempts_made, trigger, url, headers, payload, event) in
        rows
    {
        let lease_token: i64 = rand::random();
        take.execute(params![id, lease_end, lease_token])
            .map_err(backend)?;
        let secrets = match secrets_by_endpoint.get(&endpoint_id) {
            Some(secrets) => secrets.clone(),
            None => {
                let endpoint = EndpointId::from_trusted(endpoint_id.clone());
                let keys: Vec<String> = endpoint_secrets(c, &endpoint, now)?
                    .into_iter()
                    .map(|secret| secret.key)
                    .collect();
                secrets_by_endpoint.insert(endpoint_id.clone(), keys.clone());
                keys
            }
        };
        claimed.push(ClaimedDelivery {
            delivery_id: DeliveryId::from_trusted(id),
            lease_token,
            app_id: AppId::from_trusted(app_id),
            msg_id: MessageId::from_trusted(msg_id),
            endpoint_id: EndpointId::from_trusted(endpoint_id),
            event_type: EventTypeName::parse(&event).map_err(corrupt)?,
            attempts_made,
            trigger_type: TriggerType::from_code(trigger),
            url,
            headers: from_json(&headers)?,
            secrets,
            payload,
        });
    }
    Ok(claimed)
}

pub fn record_attempts(c: &Connection, records: Vec<AttemptRecord>) -> Result<(), StoreError> {
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
        advance
            .execute(params![
                record.delivery_id.as_str(),
                record.lease_token,
                status,
                to_micros(next_attempt_at),
            ])
            .map_err(backend)?;
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
    Ok(())
}

pub fn next_due_at(c: &Connection) -> Result<Option<Timestamp>, StoreError> {
    let next: Option<Option<i64>> = c
        .prepare_cached("SELECT MIN(next_attempt_at) FROM delivery WHERE status = ?1")
        .map_err(backend)?
        .query_row([PENDING], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    Ok(next.flatten().map(from_micros))
}
