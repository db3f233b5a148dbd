//! The store contract: everything hookd keeps, behind one trait, with one implementation per
//! database (SQLite now; PostgreSQL implements the same trait).
//!
//! This module and its children are the only places that contain SQL. Callers speak in domain
//! types and get domain types back; they never see rows, connections or transactions. Promises
//! every backend keeps:
//! - `create_message` commits the message and one delivery per matching endpoint in one
//!   transaction, and returns only after that commit is durable;
//! - a write that raises operational events (endpoint writes, `record_attempts`; see `outbox`)
//!   commits them, as messages of the internal application with their deliveries, in its own
//!   transaction;
//! - a commit that adds deliveries notifies `deliveries_added`, so no caller wakes the engine;
//! - a delivery handed out by `claim_due_deliveries` is leased: no other claim returns it until the
//!   lease runs out or the outcome is recorded; `renew_leases` keeps a live worker's lease from
//!   running out.

pub mod inbound;
pub mod logs;
mod outbox;
pub mod paging;
pub mod postgres;
pub mod sqlite;
pub mod stored;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::policy::backpressure::CircuitPolicy;
use crate::policy::health::AttemptResult;

use crate::domain::MessagePayload;
use crate::domain::{
    AppId, Application, ApplicationFields, Attempt, ChannelName, DeliveryId, DeliveryOptions,
    DeliveryStatus, Endpoint, EndpointFields, EndpointId, EndpointSecret, EndpointUrl, EventType,
    EventTypeFields, EventTypeName, Message, MessageId, Secret, SigningSecrets, Timestamp,
    TriggerType,
};
use crate::domain::{BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus, ReplaySelection};

/// Why a store call failed. Callers branch on `Conflict`; the rest are operational failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field (such as `uid` or an event type name) is already taken.
    #[error("{0}")]
    Conflict(String),
    /// The record a write names (the application of a new endpoint or message, the endpoint of
    /// a secret) does not exist, typically because a concurrent request just deleted it.
    #[error("{0}")]
    NotFound(&'static str),
    /// The database refused or failed the operation.
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Another process holds the data directory.
    #[error("another hookd process is using this data directory")]
    Locked,
    /// The store is shutting down or its writer is gone.
    #[error("the store is not available")]
    Unavailable,
    /// The database's disk is full. Nothing of the call was kept, and the same call can succeed
    /// once space is freed, so callers treat it as retryable.
    #[error("the database's storage is full")]
    StorageFull(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A read-modify-write of one record: computes the new fields from the record as it is inside
/// the write transaction, so concurrent changes to other fields are never overwritten. It runs
/// on the store's write path, so it must be quick and pure (no I/O).
pub type Change<Current, Fields> =
    Box<dyn FnOnce(&Current) -> Result<Fields, ChangeRefused> + Send + 'static>;
pub type ApplicationChange = Change<Application, ApplicationFields>;
pub type EndpointChange = Change<Endpoint, EndpointFields>;
pub type EventTypeChange = Change<EventType, EventTypeFields>;

/// The caller's reason for not applying a change, handed back untouched (for example a limit
/// that the record's current state would exceed).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ChangeRefused(pub Box<dyn std::error::Error + Send + Sync>);

/// What a read-modify-write did.
#[derive(Debug)]
pub enum Modified<T> {
    /// The change was applied and committed; this is the record now.
    Saved(T),
    /// No such record; nothing was written.
    Missing,
    /// The change refused to apply to the current record; nothing was written.
    Refused(ChangeRefused),
}

/// Direction of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// One page request: at most `limit` items after the cursor. An `iterator` starting with `-`
/// (a `prevIterator`) pages backwards from that item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub iterator: Option<String>,
    pub order: Order,
}

/// One page of results in Svix's shape: `iterator` continues forward, `prev_iterator` backward.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

/// A new endpoint with its first signing secret.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub id: EndpointId,
    pub fields: EndpointFields,
    pub secret: Secret,
    pub now: Timestamp,
}

/// A new message, already parsed. The payload is the exact JSON text that will be signed and sent.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub app_id: AppId,
    pub event_type: EventTypeName,
    pub event_id: Option<String>,
    pub payload: MessagePayload,
    pub channels: Vec<ChannelName>,
    pub tags: Vec<String>,
    /// Deliveries fall due at this time instead of at once (Svix `deliverAt`).
    pub deliver_at: Option<Timestamp>,
    pub now: Timestamp,
}

/// What `create_message` did.
#[derive(Debug, Clone)]
pub enum MessageInsert {
    /// The message and `deliveries` delivery tasks were committed.
    Created { message: Message, deliveries: usize },
    /// A message with the same `eventId` already exists in this application; nothing was written.
    Duplicate(Message),
}

/// Which applications a listing shows. Filters apply before paging, so a page is always full
/// when more rows match and its iterator names a row that was shown.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    /// An application never listed (the internal one that owns operational webhooks).
    pub hidden: Option<AppId>,
    /// Applications whose id starts with this are never listed (the inbound sources' own).
    pub hidden_prefix: Option<&'static str>,
    /// Only applications with at least one endpoint (Svix's `exclude_apps_with_no_endpoints`).
    pub with_endpoints_only: bool,
}

/// Filters for listing an application's messages.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub event_types: Option<Vec<EventTypeName>>,
    pub channel: Option<ChannelName>,
    pub tag: Option<String>,
    pub before: Option<Timestamp>,
    pub after: Option<Timestamp>,
}

/// Filters for listing attempts. `before`/`after` bound the attempt's time; `event_types`,
/// `channel` and `tag` select by the attempted message.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub status: Option<DeliveryStatus>,
    /// The hundreds of the response status (200 for 2xx, ...); 0 selects attempts that got no
    /// HTTP response at all.
    pub status_code_class: Option<u16>,
    pub endpoint_id: Option<EndpointId>,
    pub event_types: Option<Vec<EventTypeName>>,
    pub channel: Option<ChannelName>,
    pub tag: Option<String>,
    pub before: Option<Timestamp>,
    pub after: Option<Timestamp>,
}

/// A delivery handed to the dispatcher, with everything needed to send it without another read.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery_id: DeliveryId,
    /// Identifies this claim; recording with a stale token (the lease ran out and the delivery was
    /// claimed again) keeps the attempt but does not move the delivery on.
    pub lease_token: i64,
    pub app_id: AppId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub event_type: EventTypeName,
    /// Attempts made before this one.
    pub attempts_made: u32,
    pub trigger_type: TriggerType,
    pub url: EndpointUrl,
    pub headers: BTreeMap<String, String>,
    /// The endpoint's delivery settings (auth, retry schedule, ordering, concurrency).
    pub options: DeliveryOptions,
    /// Every secret that signs right now (the current one and any still in their grace period),
    /// parsed once by the store.
    pub secrets: SigningSecrets,
    /// `None` when the message content was expunged; the delivery then fails without sending.
    pub payload: Option<String>,
    /// The payload's content type when it is not JSON (an inbound form post); `None` is JSON.
    pub content_type: Option<String>,
}

/// A lease a worker holds: the delivery and the token its claim stamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    pub delivery_id: DeliveryId,
    pub lease_token: i64,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Delivered: the task is finished.
    Done,
    /// Failed; try again at this time.
    RetryAt(Timestamp),
    /// Failed and out of retries: the task is finished as failed.
    GiveUp,
}

/// The outcome of one attempt, recorded together with the delivery's next step.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    pub lease_token: i64,
    /// Which attempt of this delivery it was (1 for the first).
    pub attempt_number: u32,
    pub attempt: Attempt,
    pub next: NextStep,
    /// The receiver answered `410 Gone`: disable the endpoint and park its pending deliveries.
    pub disable_endpoint: bool,
    /// Disable the endpoint too if this attempt failed and the endpoint has been failing without
    /// a success since this time or earlier.
    pub disable_if_failing_since: Option<Timestamp>,
    /// The receiver's `Retry-After`, which rests the whole endpoint.
    pub retry_after: Option<Duration>,
}

/// An endpoint that `record_attempts` disabled, and since when it had been failing.
#[derive(Debug, Clone, PartialEq)]
pub struct DisabledEndpoint {
    pub app_id: AppId,
    pub endpoint_id: EndpointId,
    pub failing_since: Option<Timestamp>,
}

/// What one claim may take (see `policy::claim_budget`), for the store's endpoint ids.
pub type ClaimBudget = crate::policy::claim_budget::ClaimBudget<EndpointId>;

impl AttemptRecord {
    /// What this attempt bears on its endpoint's health (`policy::health::apply`).
    pub fn health_result(&self) -> AttemptResult {
        AttemptResult {
            succeeded: self.attempt.status == DeliveryStatus::Success,
            at: self.attempt.created_at,
            retry_after: self.retry_after,
            gone: self.disable_endpoint,
            disable_if_failing_since: self.disable_if_failing_since,
        }
    }

    /// The delivery's `status` column and `next_attempt_at` after this attempt: a retry is
    /// pending until its time, a finished delivery keeps the attempt's time.
    pub fn delivery_step(&self) -> (i16, Timestamp) {
        match self.next {
            NextStep::Done => (delivery_state::SUCCEEDED, self.attempt.created_at),
            NextStep::RetryAt(at) => (delivery_state::PENDING, at),
            NextStep::GiveUp => (delivery_state::FAILED, self.attempt.created_at),
        }
    }
}

/// The delivery row's state codes, for the backends' SQL (see `stored::delivery_state_code`).
use stored::delivery_state;

/// What `claim_idempotency_key` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key is now reserved for this request: run it, then store or release.
    Claimed,
    /// A request with this key finished; here is its answer.
    Answered(IdempotentResponse),
    /// A request with this key is running now; it was for the request with this digest.
    InProgress { request_digest: String },
}

/// Reservations are stored with this status until the answer replaces them.
pub const IDEMPOTENCY_IN_PROGRESS: u16 = 0;

/// A stored response to a request that carried an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// A digest of the request (method, path, body) so a reused key with another body is caught.
    pub request_digest: String,
    pub status: u16,
    pub body: Vec<u8>,
}

/// The message a stored answer created, and that answer as it must read once the message's
/// content is expunged (its payload `{}`). Expunging or purging the content swaps it in, so a
/// replayed key neither gives the content back nor, as deleting the answer would, creates a
/// second message; the store swaps bytes without knowing the answer's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedMessageAnswer {
    pub msg_id: MessageId,
    pub body_without_content: Vec<u8>,
}

/// The idempotency columns `body`, `msg_id` and `expunged_body` for an answer: the content-free
/// form stands in for the answer when the message's content was expunged before the answer was
/// stored (a listing can reveal the id before the answer is written), so it never holds content
/// that is gone. Both backends use this, so the rule is written once.
pub(crate) fn answer_columns(
    body: Vec<u8>,
    created_message: Option<CreatedMessageAnswer>,
    content_expunged: bool,
) -> (Vec<u8>, Option<String>, Option<Vec<u8>>) {
    match created_message {
        None => (body, None, None),
        Some(created) if content_expunged => (
            created.body_without_content,
            Some(created.msg_id.as_str().to_owned()),
            None,
        ),
        Some(created) => (
            body,
            Some(created.msg_id.as_str().to_owned()),
            Some(created.body_without_content),
        ),
    }
}

/// The contract every database backend implements. See the module docs for the promises.
#[async_trait]
pub trait Store: inbound::InboundStore + Send + Sync + 'static {
    /// Notified after every commit that added deliveries (or made some due now), on this node
    /// and, on PostgreSQL, on any node: the engine waits on it instead of being woken by the
    /// writers' callers. One permit is kept while nobody waits, so a commit is never missed.
    fn deliveries_added(&self) -> std::sync::Arc<tokio::sync::Notify>;

    // --- applications ---
    async fn create_application(
        &self,
        id: AppId,
        fields: ApplicationFields,
        now: Timestamp,
    ) -> Result<Application, StoreError>;
    /// Finds an application by id or by uid.
    async fn get_application(&self, id_or_uid: &str) -> Result<Option<Application>, StoreError>;
    async fn list_applications(
        &self,
        page: PageRequest,
        filter: ApplicationFilter,
    ) -> Result<Page<Application>, StoreError>;
    /// Applies `change` to the application found by id or uid, reading and writing it in one
    /// transaction.
    async fn modify_application(
        &self,
        id_or_uid: &str,
        change: ApplicationChange,
        now: Timestamp,
    ) -> Result<Modified<Application>, StoreError>;
    /// Deletes the application with its endpoints, messages, deliveries and attempts.
    async fn delete_application(&self, id: &AppId) -> Result<bool, StoreError>;

    // --- endpoints ---
    /// `NotFound` if the application is gone. Raises `endpoint.created` (see `outbox`), as
    /// `update_endpoint` and a saved `modify_endpoint` raise `endpoint.updated`.
    async fn create_endpoint(
        &self,
        app_id: &AppId,
        endpoint: NewEndpoint,
    ) -> Result<Endpoint, StoreError>;
    /// Finds an endpoint of this application by id or by uid.
    async fn get_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
    ) -> Result<Option<Endpoint>, StoreError>;
    async fn list_endpoints(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<Endpoint>, StoreError>;
    /// Applies `change` to the endpoint of this application found by id or uid, reading and
    /// writing it in one transaction.
    async fn modify_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
        change: EndpointChange,
        now: Timestamp,
    ) -> Result<Modified<Endpoint>, StoreError>;
    /// Deletes the endpoint; `now` stamps the `endpoint.deleted` event it raises.
    async fn delete_endpoint(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// The endpoint's secrets that are valid at `now`, the current one first.
    async fn endpoint_secrets(
        &self,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<Vec<EndpointSecret>, StoreError>;
    /// Makes `new_key` current; the old current secret keeps signing until `old_expires_at`.
    /// `NotFound` if the endpoint is gone.
    async fn rotate_endpoint_secret(
        &self,
        id: &EndpointId,
        new_key: Secret,
        old_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    // --- event types ---
    async fn create_event_type(
        &self,
        name: EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<EventType, StoreError>;
    async fn get_event_type(&self, name: &EventTypeName) -> Result<Option<EventType>, StoreError>;
    async fn list_event_types(
        &self,
        page: PageRequest,
        include_archived: bool,
    ) -> Result<Page<EventType>, StoreError>;
    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<Option<EventType>, StoreError>;
    /// Applies `change` to the event type as it is inside one transaction, like
    /// `modify_endpoint`, so concurrent changes of other fields are kept.
    async fn modify_event_type(
        &self,
        name: &EventTypeName,
        change: EventTypeChange,
        now: Timestamp,
    ) -> Result<Modified<EventType>, StoreError>;
    async fn delete_event_type(&self, name: &EventTypeName) -> Result<bool, StoreError>;

    // --- messages ---
    /// Commits the message and its deliveries in one durable transaction (see module docs).
    /// `NotFound` if the application is gone.
    async fn create_message(&self, message: NewMessage) -> Result<MessageInsert, StoreError>;
    /// Finds a message by id or by its `eventId`.
    async fn get_message(
        &self,
        app_id: &AppId,
        id_or_event_id: &str,
    ) -> Result<Option<Message>, StoreError>;
    async fn list_messages(
        &self,
        app_id: &AppId,
        filter: MessageFilter,
        page: PageRequest,
    ) -> Result<Page<Message>, StoreError>;

    // --- attempts ---
    async fn list_attempts(
        &self,
        app_id: &AppId,
        msg_id: Option<&MessageId>,
        filter: AttemptFilter,
        page: PageRequest,
    ) -> Result<Page<Attempt>, StoreError>;
    /// Queues a manual delivery of the message to the endpoint, due now.
    async fn enqueue_resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
        now: Timestamp,
    ) -> Result<DeliveryId, StoreError>;

    // --- delivery ---
    /// Leases due deliveries until `now + lease`, within `budget`, visiting endpoints fairly:
    /// applications in turn, and each endpoint's share before any endpoint's second share.
    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        budget: ClaimBudget,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Records attempts and moves their deliveries on, all in one transaction. Tracks since when
    /// each endpoint has been failing, and returns the endpoints it disabled (410 Gone, or
    /// failing for too long), whose pending deliveries it parked.
    /// Endpoint health follows `circuit`: consecutive failures, and the rest they impose.
    /// The operational events the records raise (see `outbox`) commit in the same transaction.
    async fn record_attempts(
        &self,
        records: Vec<AttemptRecord>,
        circuit: CircuitPolicy,
    ) -> Result<Vec<DisabledEndpoint>, StoreError>;
    /// Gives leased deliveries back (on shutdown) so another worker can claim them at once.
    async fn release_deliveries(&self, ids: Vec<DeliveryId>) -> Result<(), StoreError>;
    /// Moves the end of each lease that is still held (its token matches and the delivery is
    /// pending) to `until`, all in one statement: the heartbeat of a live worker, so leases can
    /// be short and a dead worker's run out within seconds. Returns the deliveries whose lease
    /// was renewed; a lease missing from the answer was lost, and its attempt should stop.
    async fn renew_leases(
        &self,
        leases: Vec<HeldLease>,
        until: Timestamp,
    ) -> Result<Vec<DeliveryId>, StoreError>;
    /// When the next pending delivery falls due, if any.
    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError>;

    // --- idempotency and settings ---
    /// Reserves `key` for a request about to run, or says what is known of it: its stored
    /// answer, or that another request (on any node) holds it. A reservation older than
    /// `abandon_after` belonged to a request that died, and is taken over; an answer older than
    /// `remember_for` is forgotten, and the request runs as a new one.
    async fn claim_idempotency_key(
        &self,
        key: &str,
        request_digest: &str,
        now: Timestamp,
        abandon_after: Duration,
        remember_for: Duration,
    ) -> Result<KeyClaim, StoreError>;
    /// Drops a reservation whose request did not succeed, so that a retry runs it again.
    async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError>;
    /// Stores the answer to the request that reserved `key`, linked to the message it created
    /// (if any) so that expunging that message's content also erases it from the answer.
    async fn put_idempotent_response(
        &self,
        key: &str,
        response: IdempotentResponse,
        created_message: Option<CreatedMessageAnswer>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Deletes at most `limit` idempotency records (answers and reservations) made before
    /// `cutoff`; returns how many.
    async fn purge_idempotency_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;
    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError>;

    // --- delivery logs: content removal, destinations, dead letters, statistics ---
    /// Removes the message's payload (Svix `expunge_content`), and from the stored idempotent
    /// answer that created it; false when there is no such message. Its pending deliveries then
    /// fail without sending.
    async fn expunge_message_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
    ) -> Result<bool, StoreError>;
    /// Removes the payloads of at most `limit` messages created before `cutoff` that have no
    /// pending delivery, also from the idempotent answers that created them; returns how many.
    /// Message rows are kept.
    async fn purge_payloads_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;
    /// Empties the response bodies of at most `limit` attempts made before `cutoff`; returns how
    /// many. Attempt rows are kept.
    async fn purge_attempt_bodies_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;
    async fn get_attempt(
        &self,
        app_id: &AppId,
        attempt_id: &str,
    ) -> Result<Option<Attempt>, StoreError>;
    /// The endpoints a message was sent to, by endpoint id, each as its latest delivery says.
    async fn list_message_destinations(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        page: PageRequest,
    ) -> Result<Page<logs::Destination>, StoreError>;
    /// Message/endpoint pairs whose latest delivery failed or is parked, by delivery id.
    async fn list_dead_letters(
        &self,
        app_id: &AppId,
        filter: logs::DeadLetterFilter,
        page: PageRequest,
    ) -> Result<Page<logs::DeadLetter>, StoreError>;
    /// The dead letters of an application counted per endpoint, event type and kind.
    async fn count_dead_letters(
        &self,
        app_id: &AppId,
    ) -> Result<Vec<logs::DeadLetterGroup>, StoreError>;
    /// The endpoint's message/endpoint pairs per state, for messages created in `[since, until)`.
    async fn count_endpoint_deliveries(
        &self,
        endpoint_id: &EndpointId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<logs::DeliveryCounts, StoreError>;
    /// The endpoint's attempts made at or after `since`, oldest first, at most
    /// `logs::MAX_ATTEMPT_SAMPLES`.
    async fn sample_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        since: Timestamp,
    ) -> Result<Vec<logs::AttemptSample>, StoreError>;

    // --- replay and background tasks (store/*/replay.rs) ---
    /// Queues a manual delivery of the message, due now, to every endpoint it was fanned out to
    /// (the endpoints its deliveries name); returns how many were queued.
    async fn replay_message(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        now: Timestamp,
    ) -> Result<usize, StoreError>;
    /// How many message/endpoint pairs the filter selects: what a replay would queue now.
    async fn count_replay(&self, filter: ReplayFilter) -> Result<u64, StoreError>;
    /// Stores a new task, `running` and unleased, so a runner picks it up.
    async fn create_background_task(&self, task: NewBackgroundTask) -> Result<(), StoreError>;
    async fn get_background_task(
        &self,
        id: &BackgroundTaskId,
    ) -> Result<Option<BackgroundTask>, StoreError>;
    /// Tasks by id (newest first by default), optionally of one status and kind.
    async fn list_background_tasks(
        &self,
        status: Option<BackgroundTaskStatus>,
        kind: Option<BackgroundTaskKind>,
        page: PageRequest,
    ) -> Result<Page<BackgroundTask>, StoreError>;
    /// Leases the oldest `running` task whose lease is missing or over until `lease_until`,
    /// with a fresh token. A task whose runner died is thereby resumed from its cursor.
    async fn claim_background_task(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ClaimedBackgroundTask>, StoreError>;
    /// Runs the next batch of a claimed replay task in one transaction: queues up to `limit`
    /// manual deliveries past the task's cursor, moves the cursor and the count, renews the
    /// lease, and marks the task finished when nothing is left. A stale token does nothing.
    async fn run_replay_batch(&self, step: ReplayStep) -> Result<ReplayProgress, StoreError>;
    /// Marks a claimed task failed with a reason (a stale token does nothing).
    async fn fail_background_task(
        &self,
        claim: &ClaimedBackgroundTask,
        error: String,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Which message/endpoint pairs a replay selects: messages of the application created in
/// `[since, until)`, optionally of some event types and to one endpoint, whose latest delivery
/// matches `selection`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayFilter {
    pub app_id: AppId,
    pub endpoint_id: Option<EndpointId>,
    pub event_types: Option<Vec<EventTypeName>>,
    pub selection: ReplaySelection,
    pub since: Timestamp,
    pub until: Option<Timestamp>,
}

/// A task to store; it starts `running` with nothing sent.
#[derive(Debug, Clone)]
pub struct NewBackgroundTask {
    pub id: BackgroundTaskId,
    pub kind: BackgroundTaskKind,
    pub filter: ReplayFilter,
    pub now: Timestamp,
}

/// A stored background task and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundTask {
    pub id: BackgroundTaskId,
    pub kind: BackgroundTaskKind,
    pub status: BackgroundTaskStatus,
    pub filter: ReplayFilter,
    /// Deliveries queued so far (Svix's `messagesSent`).
    pub messages_sent: u64,
    /// Batches run so far.
    pub batches: u64,
    /// Why the task failed, when it did.
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A task leased to one runner; `lease_token` proves the lease on every later write.
#[derive(Debug, Clone)]
pub struct ClaimedBackgroundTask {
    pub task: BackgroundTask,
    pub lease_token: i64,
}

/// One batch of a claimed replay task.
#[derive(Debug, Clone)]
pub struct ReplayStep {
    pub task_id: BackgroundTaskId,
    pub lease_token: i64,
    pub limit: usize,
    pub now: Timestamp,
    pub lease_until: Timestamp,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayProgress {
    /// Queued this many deliveries; more may be left.
    Queued(usize),
    /// Queued this many and found nothing more: the task is finished.
    Finished(usize),
    /// The lease was lost (another runner holds the task, or it is no longer running).
    LeaseLost,
}

/// The backend chosen at start-up, opened and migrated.
pub enum Backend {
    /// Embedded SQLite in the data directory: one hookd process.
    Sqlite(std::sync::Arc<sqlite::SqliteStore>),
    /// A PostgreSQL database shared by any number of hookd nodes.
    Postgres(std::sync::Arc<postgres::PostgresStore>),
}

impl Backend {
    /// Opens PostgreSQL when `database_url` is given (`--database-url`), otherwise SQLite in
    /// `data_dir`. `node_id` names this process on the PostgreSQL leases it takes.
    pub async fn open(
        database_url: Option<&str>,
        data_dir: &std::path::Path,
        node_id: &str,
    ) -> Result<Backend, StoreError> {
        match database_url {
            Some(url) => Ok(Backend::Postgres(std::sync::Arc::new(
                postgres::PostgresStore::open(url, node_id).await?,
            ))),
            None => Ok(Backend::Sqlite(std::sync::Arc::new(
                sqlite::SqliteStore::open(data_dir)?,
            ))),
        }
    }

    pub fn store(&self) -> std::sync::Arc<dyn Store> {
        match self {
            Backend::Sqlite(store) => store.clone(),
            Backend::Postgres(store) => store.clone(),
        }
    }

    /// Finishes queued writes and closes the database.
    pub async fn close(&self) {
        match self {
            Backend::Sqlite(store) => store.close(),
            Backend::Postgres(store) => store.close().await,
        }
    }
}
