//! Endpoint transformations: reading and changing an endpoint's JavaScript (also an inbound
//! source's ingest endpoint, through `AppRef::Source`). New code is compiled and its top level
//! run once in the sandbox before it is stored (`engine::transformation::check_code`), so code
//! that cannot run is refused here, with its reason, instead of failing every delivery.
//!
//! A polling endpoint is never sent to, and its poller serves the raw payload, so it cannot
//! have an enabled transformation: a change that would leave it one is refused on `enabled`
//! (code may be kept while disabled), and `endpoints` refuses switching an endpoint with one
//! to `polling:` (`refuse_transformed_polling`).

use super::scope::{self, AppRef};
use super::{OpError, OpResult, Ops, Principal};
use crate::engine::transformation::check_code;
use crate::store::{StoredTransformation, TransformationChange};

/// A change as the caller asks it: each part `None` keeps what is stored; `code: Some(None)`
/// removes the code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformationPatch {
    pub code: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// Svix's transformation variables, which hookd does not have: any is refused.
    pub variables: Option<std::collections::BTreeMap<String, String>>,
}

/// Why a polling endpoint cannot have an enabled transformation.
pub const POLLING_TRANSFORMATION: &str = "a polling endpoint cannot have an enabled transformation: its poller serves the message \
     as it was sent (disable the transformation, or use a URL endpoint)";

/// Whether the endpoint has a transformation that runs on its deliveries (enabled, with code).
pub async fn is_active(
    ops: &Ops,
    app: &crate::domain::Application,
    endpoint: &crate::domain::Endpoint,
) -> OpResult<bool> {
    Ok(ops
        .store
        .endpoint_transformation(&app.id, &endpoint.id)
        .await?
        .is_some_and(|stored| stored.enabled && stored.code.is_some()))
}

/// The endpoint's transformation as stored.
pub async fn get(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
) -> OpResult<StoredTransformation> {
    let (app, endpoint) = scope::endpoint(ops, principal, app, endpoint).await?;
    ops.store
        .endpoint_transformation(&app.id, &endpoint.id)
        .await?
        .ok_or(OpError::NotFound("endpoint not found"))
}

/// Checks new code in the sandbox (a 422 on `code` with the reason when it cannot run), then
/// stores the change.
pub async fn patch(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
    patch: TransformationPatch,
) -> OpResult<()> {
    let (app, endpoint) = scope::endpoint(ops, principal, app, endpoint).await?;
    if patch
        .variables
        .as_ref()
        .is_some_and(|variables| !variables.is_empty())
    {
        return Err(OpError::invalid_body(
            &["variables"],
            "transformation variables are not supported by hookd; write the values in the code",
        ));
    }
    if endpoint.fields.url.is_polling() {
        let stored = ops
            .store
            .endpoint_transformation(&app.id, &endpoint.id)
            .await?;
        let enabled = patch
            .enabled
            .unwrap_or_else(|| stored.as_ref().is_some_and(|stored| stored.enabled));
        let has_code = match &patch.code {
            Some(code) => code.is_some(),
            None => stored.is_some_and(|stored| stored.code.is_some()),
        };
        if enabled && has_code {
            return Err(OpError::invalid_body(&["enabled"], POLLING_TRANSFORMATION));
        }
    }
    if let Some(Some(code)) = &patch.code {
        check_code(code.clone())
            .await
            .map_err(|error| OpError::invalid_body(&["code"], error.to_string()))?;
    }
    let change = TransformationChange {
        code: patch.code,
        enabled: patch.enabled,
        at: ops.clock.now(),
    };
    ops.store
        .set_endpoint_transformation(&app.id, &endpoint.id, change)
        .await?;
    tracing::info!(app_id = %app.id, endpoint_id = %endpoint.id, "endpoint transformation changed");
    Ok(())
}
