//! Integrations (Svix's): listing, creating, reading, updating and deleting an application's
//! integrations, rotating an integration's key (admin only), and authenticating a presented
//! key as the principal of the integration's application.
//!
//! A key is shown once, when rotated (a new integration gets a first key that nobody is
//! shown). hookd keeps only the key's SHA-256, so Svix's deprecated `getKey`, which would show
//! a key again, has no route (svix 2.9.1 and the JS SDK 2.5.0 no longer call it). Rotating replaces the stored hash in one write, so the previous key stops
//! working at once; deleting the integration, or its application, ends its key with it.

use super::scope::{self, AppRef};
use super::{AppScope, OpError, OpResult, Ops, Principal};
use crate::domain::grants::Grants;
use crate::domain::integrations::{INTEGRATION_KEY_PREFIX, Integration, IntegrationFields};
use crate::domain::tokens::IssuedToken;
use crate::domain::{Application, IntegrationId};
use crate::store::{Page, PageRequest};

pub const INTEGRATION_NOT_FOUND: &str = "integration not found";
/// Which principal the key whose hash is `sha256` stands for, if it is an integration's
/// current key: a read-write principal of the integration's application, seeing the event types
/// its feature flags flag.
pub async fn authenticate(ops: &Ops, sha256: [u8; 32]) -> OpResult<Option<Principal>> {
    let Some(integration) = ops.store.find_integration_by_key(sha256).await? else {
        return Ok(None);
    };
    // The row goes with its application, so it is there; the uid lets a path name it by uid.
    let Some(app) = ops
        .store
        .get_application(integration.app_id.as_str())
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Principal::App(AppScope {
        app_id: app.id,
        app_uid: app.uid.map(|uid| uid.as_str().to_owned()),
        read_only: false,
        // Its flags show it the event types they flag, as an app-portal token's do.
        grants: Grants {
            feature_flags: integration.fields.feature_flags.as_set().clone(),
            capabilities: None,
        },
    })))
}

/// A page of the application's integrations.
pub async fn list(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    page: PageRequest,
) -> OpResult<Page<Integration>> {
    let app = admins_application(ops, principal, app).await?;
    Ok(ops.store.list_integrations(&app.id, page).await?)
}

/// Creates an integration of the application, with a first key that is shown to nobody.
pub async fn create(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    fields: IntegrationFields,
) -> OpResult<Integration> {
    let app = admins_application(ops, principal, app).await?;
    let now = ops.clock.now();
    let integration = Integration {
        id: IntegrationId::generate(now, rand::random()),
        app_id: app.id.clone(),
        fields,
        created_at: now,
        updated_at: now,
    };
    let key = new_key();
    ops.store
        .create_integration(&integration, key.sha256)
        .await?;
    tracing::info!(app_id = %app.id, integration_id = %integration.id, "integration created");
    Ok(integration)
}

/// One integration of the application.
pub async fn get(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    integration_id: &str,
) -> OpResult<Integration> {
    let app = admins_application(ops, principal, app).await?;
    ops.store
        .get_integration(&app.id, &IntegrationId::from_trusted(integration_id))
        .await?
        .ok_or(OpError::NotFound(INTEGRATION_NOT_FOUND))
}

/// Replaces the integration's name and feature flags.
pub async fn update(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    integration_id: &str,
    fields: IntegrationFields,
) -> OpResult<Integration> {
    let app = admins_application(ops, principal, app).await?;
    let id = IntegrationId::from_trusted(integration_id);
    ops.store
        .update_integration(&app.id, &id, &fields, ops.clock.now())
        .await?
        .ok_or(OpError::NotFound(INTEGRATION_NOT_FOUND))
}

/// Deletes the integration; its key stops working with it.
pub async fn delete(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    integration_id: &str,
) -> OpResult<()> {
    let app = admins_application(ops, principal, app).await?;
    let id = IntegrationId::from_trusted(integration_id);
    if !ops.store.delete_integration(&app.id, &id).await? {
        return Err(OpError::NotFound(INTEGRATION_NOT_FOUND));
    }
    tracing::info!(app_id = %app.id, integration_id = %id, "integration deleted");
    Ok(())
}

/// A new key for the integration, shown this once; the previous key stops working with the
/// same write.
pub async fn rotate_key(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    integration_id: &str,
) -> OpResult<IssuedToken> {
    let app = admins_application(ops, principal, app).await?;
    let id = IntegrationId::from_trusted(integration_id);
    let key = new_key();
    if !ops
        .store
        .replace_integration_key(&app.id, &id, key.sha256)
        .await?
    {
        return Err(OpError::NotFound(INTEGRATION_NOT_FOUND));
    }
    tracing::info!(app_id = %app.id, integration_id = %id, "integration key rotated");
    Ok(key)
}

/// Integrations are credentials: only the admin manages them (an application token, or an
/// integration's own key, must not mint another).
async fn admins_application(ops: &Ops, principal: &Principal, app: &str) -> OpResult<Application> {
    principal.require_admin()?;
    scope::application(ops, principal, AppRef::Named(app)).await
}

fn new_key() -> IssuedToken {
    IssuedToken::with_prefix(INTEGRATION_KEY_PREFIX, rand::random())
}
