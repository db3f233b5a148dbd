//! Integrations over HTTP: Svix's `/api/v1/app/{app_id}/integration` routes (admin only), in
//! the shapes the official SDKs send and parse. An integration's key is in an answer once,
//! when rotated; `IntegrationOut` never holds it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::error::{ApiError, ApiResult};
use super::idempotency::AnswerHoldsSecrets;
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, OpenQuery, QueryPart};
use super::scoped_routes::Scope::Admin;
use super::scoped_routes::{self, ScopedRoutes};
use crate::domain::integrations::{FeatureFlags, Integration, IntegrationFields};
use crate::domain::{IntegrationId, Timestamp};
use crate::ops::{AppRef, Named, Principal, integrations};
use crate::store::Order;

/// Svix's integrations of an application. Admin only: an integration's key is a credential of
/// the application, so neither an application token nor a key may mint one.
pub(super) fn routes() -> ScopedRoutes {
    ScopedRoutes::new(super::API_PREFIX)
        .route(
            "/app/{app_id}/integration",
            scoped_routes::get(Admin, list).post(Admin, create),
        )
        .route(
            "/app/{app_id}/integration/{integ_id}",
            scoped_routes::get(Admin, get)
                .put(Admin, update)
                .delete(Admin, delete),
        )
        .route(
            "/app/{app_id}/integration/{integ_id}/key/rotate",
            scoped_routes::post(Admin, rotate_key),
        )
}

/// Svix's `IntegrationIn`, and its `IntegrationUpdate` (the same fields: a full update).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationIn {
    pub name: String,
    /// At most 25 flags of `[a-zA-Z0-9_.-]` (1 to 256 characters); a set, kept sorted.
    #[serde(default)]
    pub feature_flags: Option<Vec<String>>,
}

/// Svix's `IntegrationOut` (never the key).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationOut {
    pub id: IntegrationId,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub feature_flags: Vec<String>,
}

impl From<Integration> for IntegrationOut {
    fn from(integration: Integration) -> Self {
        IntegrationOut {
            id: integration.id,
            name: integration.fields.name,
            created_at: integration.created_at,
            updated_at: integration.updated_at,
            feature_flags: integration.fields.feature_flags.to_vec(),
        }
    }
}

/// Svix's `IntegrationKeyOut`: the key, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationKeyOut {
    pub key: String,
}

/// `GET /app/{app_id}/integration`: newest first unless `order=ascending`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    query: QueryPart<PageQuery>,
) -> ApiResult<Json<ListResponse<IntegrationOut>>> {
    let named = Named::app(AppRef::Named(&app_id));
    let page = input_after_lookup(&ctx, &principal, named, query.open())
        .await?
        .request(Order::Descending);
    let page = integrations::list(&ctx.ops, &principal, &app_id, page).await?;
    Ok(Json(render_page(page, IntegrationOut::from)))
}

/// `POST /app/{app_id}/integration`.
pub async fn create(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<IntegrationIn>,
) -> ApiResult<(StatusCode, Json<IntegrationOut>)> {
    let named = Named::app(AppRef::Named(&app_id));
    let fields = input_after_lookup(&ctx, &principal, named, parse_fields(input)).await?;
    let created = integrations::create(&ctx.ops, &principal, &app_id, fields).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// `GET /app/{app_id}/integration/{integ_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, integ_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<IntegrationOut>> {
    let found = integrations::get(&ctx.ops, &principal, &app_id, &integ_id).await?;
    Ok(Json(found.into()))
}

/// `PUT /app/{app_id}/integration/{integ_id}`: replaces the name and the flags (absent
/// flags are none).
pub async fn update(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, integ_id)): ApiPath<(String, String)>,
    ValidJson(input): ValidJson<IntegrationIn>,
) -> ApiResult<Json<IntegrationOut>> {
    let fields = match parse_fields(input) {
        Ok(fields) => fields,
        Err(error) => {
            // 404 before 422: the integration must exist before its input is judged.
            integrations::get(&ctx.ops, &principal, &app_id, &integ_id).await?;
            return Err(error);
        }
    };
    let updated = integrations::update(&ctx.ops, &principal, &app_id, &integ_id, fields).await?;
    Ok(Json(updated.into()))
}

/// `DELETE /app/{app_id}/integration/{integ_id}`: the key stops working with it.
pub async fn delete(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, integ_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    integrations::delete(&ctx.ops, &principal, &app_id, &integ_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /app/{app_id}/integration/{integ_id}/key/rotate`: a new key; the previous one stops
/// working at once. Kept for an `Idempotency-Key` sealed, as every answer holding a credential.
pub async fn rotate_key(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, integ_id)): ApiPath<(String, String)>,
) -> ApiResult<(Extension<AnswerHoldsSecrets>, Json<IntegrationKeyOut>)> {
    let key = integrations::rotate_key(&ctx.ops, &principal, &app_id, &integ_id).await?;
    Ok((
        Extension(AnswerHoldsSecrets),
        Json(IntegrationKeyOut { key: key.token }),
    ))
}

pub(super) fn parse_fields(input: IntegrationIn) -> ApiResult<IntegrationFields> {
    let feature_flags =
        FeatureFlags::parse(input.feature_flags.unwrap_or_default()).map_err(|refused| {
            match refused.index {
                Some(index) => {
                    ApiError::invalid_input(&["featureFlags", &index.to_string()], refused.error)
                }
                None => ApiError::invalid_input(&["featureFlags"], refused.error),
            }
        })?;
    IntegrationFields::new(input.name, feature_flags)
        .map_err(|error| ApiError::invalid_input(&["name"], error))
}
