//! Application-scoped tokens: authenticating one, and issuing, listing and revoking them
//! (admin only), including Svix's app-portal calls (`portal_access`, `expire_all`, `logout`).
//!
//! A token is shown once, when issued; the store keeps its SHA-256. An expired or revoked
//! token authenticates exactly as an unknown one does (not at all), so a caller cannot tell
//! which it was.

use std::time::Duration;

use super::applications::create_for_path;
use super::scope::{self, APP_NOT_FOUND, AppRef};
use super::{AppScope, OpError, OpResult, Ops, Principal};
use crate::domain::grants::Grants;
use crate::domain::tokens::{AppToken, IssuedToken};
use crate::domain::{Application, ApplicationFields, TokenId};
use crate::store::{Page, PageRequest, TokenSelection};

/// Svix's bounds on a portal token's lifetime, and its default.
pub const PORTAL_EXPIRY_MIN: Duration = Duration::from_secs(60 * 60);
pub const PORTAL_EXPIRY_MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);

const TOKEN_NOT_FOUND: &str = "token not found";
const ONLY_APP_TOKENS_LOG_OUT: &str = "only an application token can be logged out";

/// A token to issue, parsed.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: Option<String>,
    pub read_only: bool,
    /// How long the token lives; `None` never expires.
    pub expiry: Option<Duration>,
    pub session_id: Option<String>,
    /// Feature flags and capabilities (Svix's portal access); the default grants the whole
    /// application and no flags.
    pub grants: Grants,
}

/// Which principal the token whose hash is `sha256` stands for, if it is a known application
/// token that is neither revoked nor expired, or an integration's current key.
pub async fn authenticate(ops: &Ops, sha256: [u8; 32]) -> OpResult<Option<Principal>> {
    let Some(token) = ops.store.find_app_token(sha256).await? else {
        // Not an application token: perhaps an integration's key.
        return super::integrations::authenticate(ops, sha256).await;
    };
    if !token.is_usable_at(ops.clock.now()) {
        return Ok(None);
    }
    // The row goes with its application, so it is there; the uid lets a path name it by uid.
    let Some(app) = ops.store.get_application(token.app_id.as_str()).await? else {
        return Ok(None);
    };
    Ok(Some(Principal::App(AppScope {
        app_id: app.id,
        app_uid: app.uid.map(|uid| uid.as_str().to_owned()),
        read_only: token.read_only,
        grants: token.grants,
    })))
}

/// Issues a token for the application `app` names; the answer holds the token, once.
pub async fn issue(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    new_token: NewToken,
) -> OpResult<(AppToken, IssuedToken)> {
    principal.require_admin()?;
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    issue_for(ops, &app, new_token).await
}

/// A page of an application's tokens (never the tokens themselves).
pub async fn list(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    page: PageRequest,
) -> OpResult<Page<AppToken>> {
    principal.require_admin()?;
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    Ok(ops.store.list_app_tokens(&app.id, page).await?)
}

/// Revokes one of an application's tokens.
pub async fn revoke(ops: &Ops, principal: &Principal, app: &str, token_id: &str) -> OpResult<()> {
    principal.require_admin()?;
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    let id = TokenId::from_trusted(token_id.to_owned());
    if ops.store.revoke_app_token(&app.id, &id).await? {
        tracing::info!(app_id = %app.id, token_id = %id, "application token revoked");
        Ok(())
    } else {
        Err(OpError::NotFound(TOKEN_NOT_FOUND))
    }
}

/// Svix's `app-portal-access`: a token for the portal of `app`, creating the application
/// first when it is missing and `application` is given (as accepting a message does).
pub async fn portal_access(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    application: Option<ApplicationFields>,
    new_token: NewToken,
) -> OpResult<(AppToken, IssuedToken)> {
    principal.require_admin()?;
    let found = scope::lookup_application(ops, principal, AppRef::Named(app)).await?;
    let app = match (found, application) {
        (Some(app), _) => app,
        (None, Some(fields)) => create_for_path(ops, app, fields).await?,
        (None, None) => return Err(OpError::NotFound(APP_NOT_FOUND)),
    };
    issue_for(ops, &app, new_token).await
}

/// Svix's `expire-all`: the selected tokens of `app` stop working `after` from now at the
/// latest.
pub async fn expire_all(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    selection: TokenSelection,
    after: Duration,
) -> OpResult<u64> {
    principal.require_admin()?;
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    let at = later_by(ops.clock.now(), after)?;
    let expired = ops.store.expire_app_tokens(&app.id, selection, at).await?;
    tracing::info!(app_id = %app.id, expired, "application tokens expired");
    Ok(expired)
}

/// Svix's `logout`: revokes the application token presented (its hash is `sha256`). The admin
/// token cannot be logged out.
pub async fn logout(ops: &Ops, principal: &Principal, sha256: [u8; 32]) -> OpResult<()> {
    if let Principal::Admin = principal {
        return Err(OpError::Forbidden(ONLY_APP_TOKENS_LOG_OUT));
    }
    let token = ops
        .store
        .find_app_token(sha256)
        .await?
        .ok_or(OpError::NotFound(TOKEN_NOT_FOUND))?;
    ops.store.revoke_app_token(&token.app_id, &token.id).await?;
    tracing::info!(app_id = %token.app_id, token_id = %token.id, "application token logged out");
    Ok(())
}

async fn issue_for(
    ops: &Ops,
    app: &Application,
    new_token: NewToken,
) -> OpResult<(AppToken, IssuedToken)> {
    let now = ops.clock.now();
    let expires_at = match new_token.expiry {
        Some(expiry) => Some(later_by(now, expiry)?),
        None => None,
    };
    let record = AppToken {
        id: TokenId::generate(now, rand::random()),
        app_id: app.id.clone(),
        name: new_token.name,
        read_only: new_token.read_only,
        session_id: new_token.session_id,
        created_at: now,
        expires_at,
        revoked: false,
        grants: new_token.grants,
    };
    let issued = IssuedToken::from_random(rand::random());
    ops.store.create_app_token(&record, issued.sha256).await?;
    tracing::info!(app_id = %app.id, token_id = %record.id, "application token issued");
    Ok((record, issued))
}

/// `now` plus `duration`, or a refused `expiry` when that is past the end of time.
fn later_by(
    now: crate::domain::Timestamp,
    duration: Duration,
) -> OpResult<crate::domain::Timestamp> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| now.checked_add_signed(duration))
        .ok_or_else(|| OpError::invalid_body(&["expiry"], "expiry is too large"))
}
