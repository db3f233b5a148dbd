//! `POST /app/{app_id}/msg/precheck/active` (Svix `message.precheck`): whether a message of
//! this event type on these channels would reach any endpoint, asked before sending it.
//!
//! A read, although a POST (Svix's shape): nothing is stored, and the answer is fan-out's own
//! rule applied to the application's endpoints as they are now (`ops::messages::precheck`).

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::messages::parse_channels;
use super::params::ApiPath;
use crate::domain::{ChannelName, EventTypeName};
use crate::ops::{AppRef, Named, Principal, messages};

/// The body (Svix `MessagePrecheckIn`): the message's event type and channels.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePrecheckIn {
    pub event_type: String,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
}

impl MessagePrecheckIn {
    fn parse(self) -> ApiResult<(EventTypeName, Vec<ChannelName>)> {
        let event_type = EventTypeName::parse(&self.event_type)
            .map_err(|error| ApiError::invalid_input(&["eventType"], error))?;
        let channels = parse_channels(self.channels.unwrap_or_default())?;
        Ok((event_type, channels))
    }
}

/// The answer (Svix `MessagePrecheckOut`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessagePrecheckOut {
    /// Whether any enabled endpoint would be sent such a message.
    pub active: bool,
}

/// `POST /app/{app_id}/msg/precheck/active`: 200 `{"active": bool}`.
pub async fn precheck(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<MessagePrecheckIn>,
) -> ApiResult<Json<MessagePrecheckOut>> {
    let named = Named::app(AppRef::Named(&app_id));
    let (event_type, channels) = input_after_lookup(&ctx, &principal, named, input.parse()).await?;
    let active = messages::precheck(&ctx.ops, &principal, &app_id, &event_type, &channels).await?;
    Ok(Json(MessagePrecheckOut { active }))
}
