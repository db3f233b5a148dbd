//! The inbound gateway's use cases: managing sources (admin only), and receiving a request at
//! a source's ingest URL.
//!
//! Receiving is unauthenticated: the token in the URL names the source, and the request is
//! worth what its signature proves. `receive` verifies it with the verifier built from the
//! source's config (`Source::verifier`: `webhook_signature::Verifier`), answers Slack's
//! `url_verification`, and has the store commit the request record, its dedupe key and the
//! message it forwards in one transaction. The message is one of the source's internal
//! application, so the engine delivers it to the source's ingest endpoints (signed with each
//! one's own secret), with retries, logs and replay; with `forwardToApp` the same request also
//! becomes a message of that user application, in the same transaction. The caller answers the
//! provider only after `receive` returns.

use super::scope::{AppRef, SOURCE_NOT_FOUND, is_internal, lookup_application};
use super::{OpError, OpResult, Ops, Principal, Upserted};
use crate::domain::inbound::AppForward;
use crate::domain::inbound::{
    InboundHeaders, InboundRequestRecord, RejectReason, Source, SourceFields, Verdict, dedupe_key,
    event_type, forwarded_headers, redacted_headers, slack_challenge,
};
use crate::domain::{AppId, InboundRequestId, MessageId, MessagePayload, SourceId, Timestamp, Uid};
use crate::store::inbound::{
    AppMessage, NewSource, ReceiptDecision, ReceiptOutcome, ReceivedRequest,
};
use crate::store::{NewMessage, Page, PageRequest, StoreError};

const REQUEST_NOT_FOUND: &str = "request not found";

/// How long a rotated-out token keeps working, as in Svix: 48 hours.
pub const PREVIOUS_TOKEN_GRACE: chrono::TimeDelta = chrono::TimeDelta::hours(48);

/// What became of a received request, for the caller to answer the provider with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Committed and forwarded as this message.
    Forwarded(MessageId),
    /// Seen before within the window; forwarded once, as this message.
    Duplicate(MessageId),
    /// Recorded as rejected; not forwarded.
    Rejected(RejectReason),
    /// Slack's `url_verification`: answer with this challenge (nothing is forwarded).
    Challenge(String),
}

/// A request as it reached the ingest URL.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    pub headers: InboundHeaders,
    pub body: Vec<u8>,
    /// The URL the provider called, without the query, as hookd's public URL spells it
    /// (Twilio signs it when the source names no `publicUrl`).
    pub url: String,
    /// The query string as received, without the `?` (Twilio signs it too).
    pub query: String,
}

pub async fn create_source(
    ops: &Ops,
    principal: &Principal,
    mut fields: SourceFields,
) -> OpResult<Source> {
    principal.require_admin()?;
    resolve_forward_app(ops, principal, &mut fields).await?;
    let now = ops.clock.now();
    let source = ops
        .store
        .create_source(NewSource {
            id: SourceId::generate(now, rand::random()),
            fields,
            token: new_token(),
            now,
        })
        .await?;
    tracing::info!(source_id = %source.id, "inbound source created");
    Ok(source)
}

pub async fn get_source(ops: &Ops, principal: &Principal, name: &str) -> OpResult<Source> {
    principal.require_admin()?;
    ops.store
        .get_source(name)
        .await?
        .ok_or(OpError::NotFound(SOURCE_NOT_FOUND))
}

pub async fn list_sources(
    ops: &Ops,
    principal: &Principal,
    page: PageRequest,
) -> OpResult<Page<Source>> {
    principal.require_admin()?;
    Ok(ops.store.list_sources(page).await?)
}

/// Replaces the source's fields, or (as in Svix) creates one with `name` as its uid. Fields
/// without a uid keep the current one, so a source addressed by its uid stays reachable.
pub async fn upsert_source(
    ops: &Ops,
    principal: &Principal,
    name: &str,
    mut fields: SourceFields,
) -> OpResult<Upserted<Source>> {
    principal.require_admin()?;
    if let Some(current) = ops.store.get_source(name).await? {
        resolve_forward_app(ops, principal, &mut fields).await?;
        fields.uid = fields.uid.or(current.fields.uid);
        let updated = ops
            .store
            .update_source(&current.id, fields, ops.clock.now())
            .await?
            .ok_or(OpError::NotFound(SOURCE_NOT_FOUND))?;
        return Ok(Upserted::Existing(updated));
    }
    if fields.uid.is_none() {
        if name.starts_with(SourceId::PREFIX) || is_internal(name) {
            return Err(OpError::NotFound(SOURCE_NOT_FOUND));
        }
        let uid =
            Uid::parse(name).map_err(|error| OpError::invalid_path("source_id", error.message))?;
        fields.uid = Some(uid);
    }
    Ok(Upserted::Created(
        create_source(ops, principal, fields).await?,
    ))
}

pub async fn delete_source(ops: &Ops, principal: &Principal, name: &str) -> OpResult<()> {
    let source = get_source(ops, principal, name).await?;
    if !ops.store.delete_source(&source.id).await? {
        return Err(OpError::NotFound(SOURCE_NOT_FOUND));
    }
    tracing::info!(source_id = %source.id, "inbound source deleted");
    Ok(())
}

/// Gives the source a new ingest URL token; the old one works for `PREVIOUS_TOKEN_GRACE` more.
pub async fn rotate_source_token(ops: &Ops, principal: &Principal, name: &str) -> OpResult<Source> {
    let source = get_source(ops, principal, name).await?;
    let now = ops.clock.now();
    ops.store
        .rotate_source_token(&source.id, new_token(), now + PREVIOUS_TOKEN_GRACE, now)
        .await?
        .ok_or(OpError::NotFound(SOURCE_NOT_FOUND))
}

/// The source whose ingest URL carries `token` (current, or rotated out within the grace).
pub async fn source_for_token(ops: &Ops, token: &str) -> OpResult<Source> {
    ops.store
        .find_source_by_token(token, ops.clock.now())
        .await?
        .ok_or(OpError::NotFound(SOURCE_NOT_FOUND))
}

/// Replaces `forwardToApp` (an application's id or uid) with the id of that application, which
/// must be one of the user's: an unknown one is refused as a bad field, not a missing path.
async fn resolve_forward_app(
    ops: &Ops,
    principal: &Principal,
    fields: &mut SourceFields,
) -> OpResult<()> {
    let Some(name) = &fields.config.forward_to_app else {
        return Ok(());
    };
    let app = lookup_application(ops, principal, AppRef::Named(name))
        .await?
        .ok_or_else(|| {
            OpError::invalid_body(&["config", "forwardToApp"], "application not found")
        })?;
    fields.config.forward_to_app = Some(app.id.to_string());
    Ok(())
}

/// Judges the request and commits what it is worth (see the module docs). Runs in the span
/// `ops.receive_inbound` (the source's id, and the forwarded message's once committed).
#[tracing::instrument(name = "ops.receive_inbound", skip_all,
    fields(source_id = %source.id, msg_id = tracing::field::Empty))]
pub async fn receive(ops: &Ops, source: &Source, request: IncomingRequest) -> OpResult<Receipt> {
    let now = ops.clock.now();
    let verified = verify(source, &request, now.timestamp());
    if verified.is_ok()
        && let Some(challenge) = slack_challenge(source, &request.body)
    {
        ops.instruments.inbound.challenge();
        return Ok(Receipt::Challenge(challenge));
    }
    let payload = verified.map_err(RejectReason::Signature).and_then(|()| {
        forwarded_payload(&request.headers, &request.body).ok_or(RejectReason::BodyNotUtf8)
    });
    let decision = match payload {
        Err(reason) if !ops.rejected_log.admit(source.id.as_str()) => {
            // Past the source's budget of recorded rejections: answered, counted, not kept.
            ops.instruments.inbound.rejected(reason.code());
            ops.instruments.inbound_rejections_unlogged.increment(1);
            return Ok(Receipt::Rejected(reason));
        }
        Err(reason) => ReceiptDecision::Reject(reason),
        Ok(payload) => forward_decision(source, &request.headers, &request.body, payload, now),
    };
    let outcome = ops
        .store
        .receive_inbound_request(ReceivedRequest {
            id: InboundRequestId::generate(now, rand::random()),
            source_id: source.id.clone(),
            received_at: now,
            headers: redacted_headers(&request.headers),
            body: request.body,
            decision,
        })
        .await;
    let receipt = match outcome {
        Ok(ReceiptOutcome::Rejected(reason)) => {
            tracing::info!(source_id = %source.id, reason = reason.code(), "inbound request rejected");
            ops.instruments.inbound.rejected(reason.code());
            Receipt::Rejected(reason)
        }
        Ok(ReceiptOutcome::Forwarded {
            msg_id,
            deliveries,
            app_forward,
        }) => {
            tracing::Span::current().record("msg_id", tracing::field::display(&msg_id));
            tracing::info!(source_id = %source.id, msg_id = %msg_id, deliveries, "inbound request forwarded");
            ops.instruments.inbound.forwarded();
            ops.instruments.messages_accepted_inbound.increment(1);
            ops.message_feed.announce(&source.app_id());
            if let (Some(AppForward::Forwarded(_)), Some(app_id)) =
                (&app_forward, &source.fields.config.forward_to_app)
            {
                ops.instruments.messages_accepted_inbound.increment(1);
                ops.message_feed
                    .announce(&AppId::from_trusted(app_id.clone()));
            }
            if let Some(reason) = app_forward.as_ref().and_then(AppForward::error_code) {
                tracing::warn!(source_id = %source.id, msg_id = %msg_id, reason,
                    "not forwarded to the source's forwardToApp application; to ingest endpoints only");
            }
            Receipt::Forwarded(msg_id)
        }
        Ok(ReceiptOutcome::Duplicate { msg_id }) => {
            ops.instruments.inbound.duplicate();
            Receipt::Duplicate(msg_id)
        }
        // Deleted between the lookup and the write: as if the token had not been found.
        Err(StoreError::NotFound(_)) => return Err(OpError::NotFound(SOURCE_NOT_FOUND)),
        Err(error) => return Err(error.into()),
    };
    Ok(receipt)
}

/// Checks the request with the verifier built from the source's config.
fn verify(
    source: &Source,
    request: &IncomingRequest,
    now_unix: i64,
) -> Result<(), webhook_signature::VerifyError> {
    let verifier = source.verifier(&request.url).map_err(|error| {
        // Only a config stored before the verifier refused it gets here: the provider is told
        // the request did not verify, and the operator finds the reason in the log.
        tracing::warn!(source_id = %source.id, error = %error,
            "inbound source config does not build a verifier");
        webhook_signature::VerifyError::NoMatchingSignature
    })?;
    let pairs = request.headers.as_pairs();
    verifier.verify(
        &InboundHeaders::request(&pairs, &request.query, &request.body),
        now_unix,
    )
}

/// What a verified request with `payload` is forwarded as: a message of the source's internal
/// application, and of its `forwardToApp` application when it names one, both with the
/// provider's event type and the original headers the source forwards.
fn forward_decision(
    source: &Source,
    headers: &InboundHeaders,
    body: &[u8],
    payload: MessagePayload,
    now: Timestamp,
) -> ReceiptDecision {
    let payload = payload.with_original_headers(forwarded_headers(source, headers));
    let message = |app_id| NewMessage {
        id: MessageId::generate(now, rand::random()),
        app_id,
        event_type: event_type(source, headers, body),
        event_id: None,
        payload: payload.clone(),
        channels: Vec::new(),
        tags: Vec::new(),
        deliver_at: None,
        recipients: crate::domain::Recipients::Matching,
        now,
    };
    let app_message = source.fields.config.forward_to_app.as_ref().map(|app_id| {
        // A user application's messages are JSON objects, as the API renders them.
        if payload.content_type().is_some() {
            AppMessage::Skip(AppForward::BodyNotJsonObject)
        } else {
            AppMessage::Forward(Box::new(message(AppId::from_trusted(app_id.clone()))))
        }
    });
    ReceiptDecision::Forward {
        message: Box::new(message(source.app_id())),
        app_message,
        dedupe_key: dedupe_key(source, headers, body),
        dedupe_since: now
            .checked_sub_signed(window(source))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
    }
}

/// A page of the source's received requests.
pub async fn list_requests(
    ops: &Ops,
    principal: &Principal,
    source: &str,
    page: PageRequest,
) -> OpResult<Page<InboundRequestRecord>> {
    let source = get_source(ops, principal, source).await?;
    Ok(ops.store.list_inbound_requests(&source.id, page).await?)
}

/// One received request of the source.
pub async fn get_request(
    ops: &Ops,
    principal: &Principal,
    source: &str,
    request: &str,
) -> OpResult<InboundRequestRecord> {
    let source = get_source(ops, principal, source).await?;
    ops.store
        .get_inbound_request(&source.id, &InboundRequestId::from_trusted(request))
        .await?
        .ok_or(OpError::NotFound(REQUEST_NOT_FOUND))
}

/// Sends an accepted (or duplicate) request's message again to the source's ingest endpoints
/// it was forwarded to, as a manual delivery; returns how many were queued. A rejected request
/// was never forwarded, so it has nothing to replay.
pub async fn replay_request(
    ops: &Ops,
    principal: &Principal,
    source: &str,
    request: &str,
) -> OpResult<usize> {
    let record = get_request(ops, principal, source, request).await?;
    let msg_id = match (&record.verdict, &record.msg_id) {
        (Verdict::Accepted | Verdict::Duplicate, Some(msg_id)) => msg_id.clone(),
        _ => {
            return Err(OpError::invalid_path(
                "request_id",
                "only an accepted request can be replayed",
            ));
        }
    };
    let app_id = crate::domain::inbound::source_app_id(&record.source_id);
    let queued = ops
        .store
        .replay_message(&app_id, &msg_id, ops.clock.now())
        .await?;
    tracing::info!(source_id = %record.source_id, msg_id = %msg_id, endpoints = queued, "inbound request replayed");
    Ok(queued)
}

/// The body as a message payload, kept byte for byte: a JSON object as a JSON payload; any
/// other text (a form post, say) as an opaque payload sent with the content type it came with.
/// A body that is not UTF-8 cannot be stored as a payload's text, so it is not forwarded.
fn forwarded_payload(headers: &InboundHeaders, body: &[u8]) -> Option<MessagePayload> {
    let text = std::str::from_utf8(body).ok()?;
    if let Ok(payload) = MessagePayload::parse(text) {
        return Some(payload);
    }
    let content_type = headers
        .get("content-type")
        .filter(|value| !value.is_empty())
        .unwrap_or("application/octet-stream");
    Some(MessagePayload::opaque(
        text.to_owned(),
        content_type.to_owned(),
    ))
}

fn window(source: &Source) -> chrono::TimeDelta {
    let secs = i64::try_from(source.fields.config.dedupe_window_secs).unwrap_or(i64::MAX);
    chrono::TimeDelta::try_seconds(secs).unwrap_or(chrono::TimeDelta::MAX)
}

/// A new ingest URL token: 24 random bytes, hex.
fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}
