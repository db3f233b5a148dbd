//! Application-scoped tokens over HTTP: hookd's management routes under
//! `/api/v1/app/{app_id}/token` (admin only: issue, list, revoke) and Svix's authentication
//! calls under `/api/v1/auth` (`app-portal-access`, `app/{app_id}/expire-all`, `logout`),
//! shaped as the official SDKs send and parse them. A token is in an answer once, when issued.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::applications::ApplicationIn;
use super::auth::AuthenticatedToken;
use super::error::{ApiError, ApiResult};
use super::idempotency::AnswerHoldsSecrets;
use super::input_limits;
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, OpenQuery, QueryPart};
use super::scoped_routes::Scope::{self, Admin};
use super::scoped_routes::{ScopedRoutes, delete, get, post};
use crate::domain::grants::{Grants, GrantsError, parse_capabilities, parse_feature_flags};
use crate::domain::limits::LABEL;
use crate::domain::tokens::AppToken;
use crate::domain::{AppId, Timestamp, TokenId};
use crate::ops::tokens::{self, NewToken, PORTAL_EXPIRY_MAX, PORTAL_EXPIRY_MIN};
use crate::ops::{AppRef, Named, Principal};
use crate::store::{Order, TokenSelection};

/// Where the app portal's login page is, below hookd's public URL; the token follows in the
/// fragment, which browsers never send to a server.
pub const PORTAL_LOGIN_PATH: &str = "/portal/login#token=";

/// The body of `POST /app/{app_id}/token`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppTokenIn {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    /// Seconds until the token expires; absent, it never does.
    #[serde(default)]
    pub expiry: Option<u64>,
    #[serde(default)]
    pub session_id: Option<String>,
    /// The flagged event types the token sees (Svix's rule: none when absent).
    #[serde(default)]
    pub feature_flags: Option<Vec<String>>,
    /// What the token may do (Svix's `AppPortalCapability` names, `ViewBase` among them);
    /// absent, the whole application.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
}

/// A token's record as listed (never the token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppTokenOut {
    pub id: TokenId,
    pub app_id: AppId,
    pub name: Option<String>,
    pub read_only: bool,
    pub session_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    pub feature_flags: Vec<String>,
    /// `null`: the whole application.
    pub capabilities: Option<Vec<String>>,
}

impl From<AppToken> for AppTokenOut {
    fn from(token: AppToken) -> Self {
        AppTokenOut {
            id: token.id,
            app_id: token.app_id,
            name: token.name,
            read_only: token.read_only,
            session_id: token.session_id,
            created_at: token.created_at,
            expires_at: token.expires_at,
            revoked: token.revoked,
            feature_flags: token.grants.feature_flags.into_iter().collect(),
            capabilities: token.grants.capabilities.map(|capabilities| {
                capabilities
                    .into_iter()
                    .map(|capability| capability.as_str().to_owned())
                    .collect()
            }),
        }
    }
}

/// The answer to issuing a token: its record and, this once, the token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedTokenOut {
    #[serde(flatten)]
    pub record: AppTokenOut,
    pub token: String,
}

/// Svix's `AppPortalAccessIn`: `featureFlags` are the flagged event types the token sees,
/// `capabilities` what it may do (`domain::grants`); `readOnly` refuses every write besides.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessIn {
    #[serde(default)]
    pub application: Option<ApplicationIn>,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub feature_flags: Option<Vec<String>>,
    /// `ViewBase`, `ViewEndpointSecret`, `ManageEndpointSecret`, `ManageTransformations`,
    /// `CreateAttempts`, `ManageEndpoint`; `ViewBase` is required. Absent: every one and
    /// everything else in the application (sending messages, erasing).
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Seconds, between one hour and seven days; seven days when absent.
    #[serde(default)]
    pub expiry: Option<u64>,
    #[serde(default)]
    pub session_id: Option<String>,
}

/// Svix's `AppPortalAccessOut`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppPortalAccessOut {
    pub url: String,
    pub token: String,
}

/// Svix's `ApplicationTokenExpireIn`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationTokenExpireIn {
    /// Seconds until the tokens expire; at once when absent.
    #[serde(default)]
    pub expiry: Option<u64>,
    #[serde(default)]
    pub session_ids: Option<Vec<String>>,
}

/// Token management (hookd's, admin only) and Svix's authentication calls.
pub(super) fn routes() -> ScopedRoutes {
    ScopedRoutes::new(super::API_PREFIX)
        .route("/app/{app_id}/token", get(Admin, list).post(Admin, issue))
        .route("/app/{app_id}/token/{token_id}", delete(Admin, revoke))
        .route(
            "/auth/app-portal-access/{app_id}",
            post(Admin, app_portal_access),
        )
        .route("/auth/app/{app_id}/expire-all", post(Admin, expire_all))
        .route("/auth/logout", post(Scope::AppToken, logout))
}

/// `POST /app/{app_id}/token`.
pub async fn issue(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<AppTokenIn>,
) -> ApiResult<(
    StatusCode,
    Extension<AnswerHoldsSecrets>,
    Json<IssuedTokenOut>,
)> {
    let new_token = parse_new_token(input);
    let named = Named::app(AppRef::Named(&app_id));
    let new_token = input_after_lookup(&ctx, &principal, named, new_token).await?;
    let (record, issued) = tokens::issue(&ctx.ops, &principal, &app_id, new_token).await?;
    let answer = IssuedTokenOut {
        record: record.into(),
        token: issued.token,
    };
    Ok((
        StatusCode::CREATED,
        Extension(AnswerHoldsSecrets),
        Json(answer),
    ))
}

/// `GET /app/{app_id}/token`: a page of the application's tokens, newest first unless
/// `order=ascending` (`limit`, `iterator` as every list).
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    query: QueryPart<PageQuery>,
) -> ApiResult<Json<ListResponse<AppTokenOut>>> {
    let named = Named::app(AppRef::Named(&app_id));
    let page = input_after_lookup(&ctx, &principal, named, query.open())
        .await?
        .request(Order::Descending);
    let records = tokens::list(&ctx.ops, &principal, &app_id, page).await?;
    Ok(Json(render_page(records, AppTokenOut::from)))
}

/// `DELETE /app/{app_id}/token/{token_id}`: revokes the token.
pub async fn revoke(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, token_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    tokens::revoke(&ctx.ops, &principal, &app_id, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/app-portal-access/{app_id}` (Svix): a portal token and its login URL.
pub async fn app_portal_access(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    headers: HeaderMap,
    ValidJson(input): ValidJson<AppPortalAccessIn>,
) -> ApiResult<(Extension<AnswerHoldsSecrets>, Json<AppPortalAccessOut>)> {
    let parsed = parse_portal_access(input);
    let named = Named::app(AppRef::Named(&app_id));
    let (application, new_token) = input_after_lookup(&ctx, &principal, named, parsed).await?;
    let (_, issued) =
        tokens::portal_access(&ctx.ops, &principal, &app_id, application, new_token).await?;
    let url = format!(
        "{}{PORTAL_LOGIN_PATH}{}",
        ctx.public_base(&headers),
        issued.token
    );
    Ok((
        Extension(AnswerHoldsSecrets),
        Json(AppPortalAccessOut {
            url,
            token: issued.token,
        }),
    ))
}

/// `POST /auth/app/{app_id}/expire-all` (Svix).
pub async fn expire_all(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<ApplicationTokenExpireIn>,
) -> ApiResult<StatusCode> {
    let parsed = parse_expire_all(input);
    let named = Named::app(AppRef::Named(&app_id));
    let (selection, after) = input_after_lookup(&ctx, &principal, named, parsed).await?;
    tokens::expire_all(&ctx.ops, &principal, &app_id, selection, after).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/logout` (Svix): revokes the application token that calls it.
pub async fn logout(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    Extension(caller): Extension<AuthenticatedToken>,
) -> ApiResult<StatusCode> {
    tokens::logout(&ctx.ops, &principal, caller.sha256).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn parse_new_token(input: AppTokenIn) -> ApiResult<NewToken> {
    let expiry = match input.expiry {
        Some(0) => {
            return Err(ApiError::invalid_body(
                &["expiry"],
                "expiry must be at least 1 second",
            ));
        }
        Some(seconds) => Some(Duration::from_secs(seconds)),
        None => None,
    };
    Ok(NewToken {
        name: input_limits::optional_text(input.name, LABEL, &["name"])?,
        read_only: input.read_only,
        expiry,
        session_id: input_limits::optional_text(input.session_id, LABEL, &["sessionId"])?,
        grants: parse_grants(input.feature_flags, input.capabilities)?,
    })
}

type PortalAccess = (Option<crate::domain::ApplicationFields>, NewToken);

pub(super) fn parse_portal_access(input: AppPortalAccessIn) -> ApiResult<PortalAccess> {
    let expiry = match input.expiry {
        None => PORTAL_EXPIRY_MAX,
        Some(seconds) => {
            let expiry = Duration::from_secs(seconds);
            if !(PORTAL_EXPIRY_MIN..=PORTAL_EXPIRY_MAX).contains(&expiry) {
                return Err(ApiError::invalid_body(
                    &["expiry"],
                    "expiry must be between 3600 and 604800 seconds",
                ));
            }
            expiry
        }
    };
    let application = input
        .application
        .map(|application| application.into_fields(&["application"]))
        .transpose()?;
    let new_token = NewToken {
        name: Some("app portal".to_owned()),
        read_only: input.read_only.unwrap_or(false),
        expiry: Some(expiry),
        session_id: input_limits::optional_text(input.session_id, LABEL, &["sessionId"])?,
        grants: parse_grants(input.feature_flags, input.capabilities)?,
    };
    Ok((application, new_token))
}

pub(super) fn parse_expire_all(
    input: ApplicationTokenExpireIn,
) -> ApiResult<(TokenSelection, Duration)> {
    let selection = match input.session_ids {
        Some(sessions) if !sessions.is_empty() => TokenSelection::Sessions(sessions),
        _ => TokenSelection::All,
    };
    // No token outlives this anyway: a portal token lives at most seven days.
    let after = Duration::from_secs(input.expiry.unwrap_or(0));
    if after > PORTAL_EXPIRY_MAX {
        return Err(ApiError::invalid_body(
            &["expiry"],
            "expiry must be at most 604800 seconds",
        ));
    }
    Ok((selection, after))
}

/// The `featureFlags` and `capabilities` of a token to issue; a refusal names the field (and
/// the element at fault).
fn parse_grants(
    feature_flags: Option<Vec<String>>,
    capabilities: Option<Vec<String>>,
) -> ApiResult<Grants> {
    let refuse = |field: &str, error: GrantsError| {
        let index = error.index().map(|index| index.to_string());
        let mut path = vec![field];
        path.extend(index.as_deref());
        ApiError::invalid_body(&path, error.to_string())
    };
    let feature_flags = parse_feature_flags(feature_flags.unwrap_or_default())
        .map_err(|error| refuse("featureFlags", error))?;
    let capabilities = capabilities
        .map(parse_capabilities)
        .transpose()
        .map_err(|error| refuse("capabilities", error))?;
    Ok(Grants {
        feature_flags,
        capabilities,
    })
}
