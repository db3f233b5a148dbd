//! `/ingest/api/v1/source`: inbound sources, shaped as Svix Ingest's `IngestSourceIn` /
//! `IngestSourceOut`. Path ids may be the id or the uid. Secrets in `config` are write-only:
//! the rendered `config` holds only hookd's non-secret options (a generic-webhook source's
//! check without its keys, tokens or passwords).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ingest_url;
use crate::api::ApiContext;
use crate::api::error::{ApiError, ApiResult};
use crate::api::input_limits;
use crate::api::json::ValidJson;
use crate::api::pagination::{ListResponse, PageQuery, render_page};
use crate::api::params::{ApiPath, ApiQuery};
use crate::domain::inbound::{
    GenericCheck, GenericHmac, Source, SourceConfig, SourceFields, SourceType,
};
use crate::domain::limits::APPLICATION_NAME;
use crate::domain::{Metadata, SourceId, Timestamp, Uid};
use crate::ops::{Principal, Upserted, inbound};
use crate::store::Order;

/// The body of create and upsert (Svix `IngestSourceIn`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceIn {
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Option<Metadata>,
    #[serde(rename = "type")]
    pub source_type: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Map<String, Value>>,
}

impl SourceIn {
    pub(crate) fn into_fields(self) -> ApiResult<SourceFields> {
        let source_type = SourceType::parse(&self.source_type).ok_or_else(|| {
            ApiError::invalid_body(
                &["type"],
                format!(
                    "unknown source type; hookd accepts {}",
                    SourceType::known_names().join(", ")
                ),
            )
        })?;
        let config = SourceConfig::parse(source_type, &self.config.unwrap_or_default()).map_err(
            |error| {
                let path: Vec<&str> = error.field.split('.').collect();
                ApiError::invalid_body(&path, error.message)
            },
        )?;
        let uid = match self.uid {
            None => None,
            Some(uid) if uid.starts_with(SourceId::PREFIX) => {
                return Err(ApiError::invalid_body(
                    &["uid"],
                    "uid may not start with the source id prefix (src_)",
                ));
            }
            Some(uid) => {
                Some(Uid::parse(&uid).map_err(|error| ApiError::invalid_input(&["uid"], error))?)
            }
        };
        Ok(SourceFields {
            uid,
            name: input_limits::text(self.name, APPLICATION_NAME, &["name"])?,
            source_type,
            config,
            metadata: input_limits::metadata(self.metadata.unwrap_or_default(), &["metadata"])?,
        })
    }
}

/// A source as Svix Ingest renders it (`IngestSourceOut`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceOut {
    pub id: SourceId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Uid>,
    pub name: String,
    pub ingest_url: String,
    #[serde(rename = "type")]
    pub source_type: &'static str,
    /// hookd's non-secret options only.
    pub config: ConfigOut,
    #[schema(value_type = BTreeMap<String, String>)]
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// The rendered `config`: never a secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedupe_header: Option<String>,
    pub dedupe_window_secs: u64,
    pub max_body_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub hmac: Option<GenericHmac>,
    /// The usernames of `basicAuth`; never a password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_to_app: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forward_headers: Vec<String>,
}

/// Svix's `RotateTokenOut`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateTokenOut {
    pub ingest_url: String,
}

fn render(ctx: &ApiContext, headers: &HeaderMap, source: Source) -> SourceOut {
    let config = source.fields.config;
    let (mut hmac, mut basic_auth, mut token_header) = (None, None, None);
    match config.generic {
        None => {}
        Some(GenericCheck::Hmac(check)) => hmac = Some(check),
        Some(GenericCheck::Basic { credentials }) => {
            basic_auth = Some(
                credentials
                    .into_iter()
                    .map(|pair| serde_json::json!({"username": pair.username}))
                    .collect(),
            );
        }
        Some(GenericCheck::Token { header }) => token_header = Some(header),
    }
    SourceOut {
        ingest_url: ingest_url(ctx, headers, &source.token),
        id: source.id,
        uid: source.fields.uid,
        name: source.fields.name,
        source_type: source.fields.source_type.as_str(),
        config: ConfigOut {
            public_url: config.public_url,
            dedupe_header: config.dedupe_header,
            dedupe_window_secs: config.dedupe_window_secs,
            max_body_bytes: config.max_body_bytes,
            hmac,
            basic_auth,
            token_header,
            forward_to_app: config.forward_to_app,
            forward_headers: config.forward_headers,
        },
        metadata: source.fields.metadata,
        created_at: source.created_at,
        updated_at: source.updated_at,
    }
}

/// `POST /ingest/api/v1/source`: 201 with the new source.
pub async fn create(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ValidJson(input): ValidJson<SourceIn>,
) -> ApiResult<(StatusCode, Json<SourceOut>)> {
    let source = inbound::create_source(&ctx.ops, &principal, input.into_fields()?).await?;
    Ok((StatusCode::CREATED, Json(render(&ctx, &headers, source))))
}

/// `GET /ingest/api/v1/source`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<ListResponse<SourceOut>>> {
    let page = page.request(Order::Ascending);
    let sources = inbound::list_sources(&ctx.ops, &principal, page).await?;
    Ok(Json(render_page(sources, |source| {
        render(&ctx, &headers, source)
    })))
}

/// `GET /ingest/api/v1/source/{source_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(source_id): ApiPath<String>,
) -> ApiResult<Json<SourceOut>> {
    let source = inbound::get_source(&ctx.ops, &principal, &source_id).await?;
    Ok(Json(render(&ctx, &headers, source)))
}

/// `PUT /ingest/api/v1/source/{source_id}`: a full update, or a create with the path as uid.
pub async fn upsert(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(source_id): ApiPath<String>,
    ValidJson(input): ValidJson<SourceIn>,
) -> ApiResult<(StatusCode, Json<SourceOut>)> {
    let fields = input.into_fields()?;
    Ok(
        match inbound::upsert_source(&ctx.ops, &principal, &source_id, fields).await? {
            Upserted::Created(source) => {
                (StatusCode::CREATED, Json(render(&ctx, &headers, source)))
            }
            Upserted::Existing(source) => (StatusCode::OK, Json(render(&ctx, &headers, source))),
        },
    )
}

/// `DELETE /ingest/api/v1/source/{source_id}`: the source, its requests, its ingest endpoints
/// and its messages.
pub async fn delete(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(source_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    inbound::delete_source(&ctx.ops, &principal, &source_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /ingest/api/v1/source/{source_id}/token/rotate`.
pub async fn rotate_token(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(source_id): ApiPath<String>,
) -> ApiResult<Json<RotateTokenOut>> {
    let source = inbound::rotate_source_token(&ctx.ops, &principal, &source_id).await?;
    Ok(Json(RotateTokenOut {
        ingest_url: ingest_url(&ctx, &headers, &source.token),
    }))
}
