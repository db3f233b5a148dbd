//! Messages: the write that commits a message with one delivery per matching endpoint, and the
//! reads of messages and their attempts.

use async_trait::async_trait;

use super::{Page, PageRequest, StoreError};
use crate::domain::{
    AppId, Attempt, ChannelName, DeliveryStatus, EndpointId, EventTypeName, FanoutTarget, Message,
    MessageId, MessagePayload, Recipients, Timestamp,
};

/// An application's messages.
#[async_trait]
pub trait MessageStore: Send + Sync {
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
    /// What fan-out reads of every endpoint of the application (the same read `create_message`
    /// makes inside its transaction), for asking which endpoints a message would reach.
    async fn list_fanout_targets(&self, app_id: &AppId) -> Result<Vec<FanoutTarget>, StoreError>;
}

/// The attempts made to deliver an application's messages.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    async fn list_attempts(
        &self,
        app_id: &AppId,
        msg_id: Option<&MessageId>,
        filter: AttemptFilter,
        page: PageRequest,
    ) -> Result<Page<Attempt>, StoreError>;
    async fn get_attempt(
        &self,
        app_id: &AppId,
        attempt_id: &str,
    ) -> Result<Option<Attempt>, StoreError>;
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
    /// Which endpoints get a delivery: the matching ones, or one chosen endpoint.
    pub recipients: Recipients,
    pub now: Timestamp,
}

impl NewMessage {
    /// The message as `create_message` answers it once committed.
    pub fn into_committed(self) -> Message {
        let content_type = self.payload.content_type().map(str::to_owned);
        Message {
            id: self.id,
            app_id: self.app_id,
            event_type: self.event_type,
            event_id: self.event_id,
            payload: Some(self.payload.into_string()),
            channels: self.channels,
            tags: self.tags,
            deliver_at: self.deliver_at,
            created_at: self.now,
            content_type,
        }
    }
}

/// What `create_message` did.
#[derive(Debug, Clone)]
pub enum MessageInsert {
    /// The message and `deliveries` delivery tasks were committed.
    Created { message: Message, deliveries: usize },
    /// A message with the same `eventId` already exists in this application; nothing was written.
    Duplicate(Message),
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
