//! `/api/v1/app`: applications (Svix's tenants). Path ids may be the id or the uid.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::error::{ApiError, ApiResult, FieldError};
use super::input_limits;
use super::json::ValidJson;
use super::pagination::{ListResponse, page_request, render_page};
use super::params::{ApiPath, QueryParams};
use super::patch::{Patch, refuse, saved};
use crate::domain::limits::APPLICATION_NAME;
use crate::domain::operational::OPERATIONAL_APP_ID;
use crate::domain::{AppId, Application, ApplicationFields, Metadata, Timestamp, Uid};
use crate::store::{ApplicationChange, ApplicationFilter, Modified, Order, StoreError};

/// The body of create and full update (Svix `ApplicationIn`); also `MessageIn.application`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<u32>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

impl ApplicationIn {
    /// Parses the body; `at` is where it sits in the request (`[]`, or `["application"]`
    /// inside a message).
    pub fn into_fields(self, at: &[&str]) -> ApiResult<ApplicationFields> {
        Ok(ApplicationFields {
            name: parse_name(self.name, at)?,
            uid: parse_optional_uid(self.uid, at)?,
            throttle_rate: input_limits::optional_throttle_rate(
                self.throttle_rate,
                &[at, &["throttleRate"]].concat(),
            )?,
            metadata: input_limits::metadata(
                self.metadata.unwrap_or_default(),
                &[at, &["metadata"]].concat(),
            )?,
        })
    }
}

/// The body of PATCH: only the fields present change; `null` clears optional ones.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    #[serde(default)]
    pub name: Patch<String>,
    #[serde(default)]
    pub uid: Patch<String>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Patch<u32>,
    #[serde(default)]
    pub metadata: Patch<Metadata>,
}

impl ApplicationPatch {
    fn merge_into(self, current: ApplicationFields) -> ApiResult<ApplicationFields> {
        let name = match self.name {
            Patch::Absent => current.name,
            Patch::Null => return Err(ApiError::invalid_body(&["name"], "name cannot be null")),
            Patch::Value(name) => parse_name(name, &[])?,
        };
        let uid = self
            .uid
            .try_map(|uid| Uid::parse(&uid))
            .map_err(|error| ApiError::invalid_input(&["uid"], error))?;
        let throttle_rate = self
            .throttle_rate
            .try_map(|rate| input_limits::throttle_rate(rate, &["throttleRate"]))?;
        let metadata = self
            .metadata
            .try_map(|metadata| input_limits::metadata(metadata, &["metadata"]))?;
        Ok(ApplicationFields {
            name,
            uid: uid.merge_optional(current.uid),
            throttle_rate: throttle_rate.merge_optional(current.throttle_rate),
            metadata: metadata.merge_or(current.metadata, Metadata::new),
        })
    }
}

/// An application as Svix renders it (`ApplicationOut`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    pub id: AppId,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Uid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<u32>,
    /// The older name of `throttleRate`, for older clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Application> for ApplicationOut {
    fn from(app: Application) -> Self {
        ApplicationOut {
            id: app.id,
            name: app.name,
            uid: app.uid,
            throttle_rate: app.throttle_rate,
            rate_limit: app.throttle_rate,
            metadata: app.metadata,
            created_at: app.created_at,
            updated_at: app.updated_at,
        }
    }
}

/// `POST /app[?get_if_exists=true]`: 201 with the new application, or 200 with the existing
/// one when `get_if_exists` is set and the uid is taken.
pub async fn create(
    State(ctx): State<ApiContext>,
    query: QueryParams,
    ValidJson(input): ValidJson<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let get_if_exists = query.flag("get_if_exists", false)?;
    let fields = input.into_fields(&[])?;
    let existing_uid = fields.uid.clone().filter(|_| get_if_exists);
    if let Some(uid) = &existing_uid
        && let Some(app) = ctx.store.get_application(uid.as_str()).await?
    {
        return Ok((StatusCode::OK, Json(app.into())));
    }
    let now = ctx.clock.now();
    match ctx
        .store
        .create_application(AppId::generate(now, rand::random()), fields, now)
        .await
    {
        Ok(app) => {
            tracing::info!(app_id = %app.id, "application created");
            Ok((StatusCode::CREATED, Json(app.into())))
        }
        // A concurrent request created the same uid between our lookup and our insert.
        Err(StoreError::Conflict(message)) => match existing_uid {
            Some(uid) => {
                let app = find_application(&ctx, uid.as_str()).await?;
                Ok((StatusCode::OK, Json(app.into())))
            }
            None => Err(ApiError::Conflict(message)),
        },
        Err(error) => Err(error.into()),
    }
}

/// `GET /app`.
pub async fn list(
    State(ctx): State<ApiContext>,
    query: QueryParams,
) -> ApiResult<Json<ListResponse<ApplicationOut>>> {
    let page = page_request(&query, Order::Ascending)?;
    let filter = ApplicationFilter {
        hidden: Some(AppId::from_trusted(OPERATIONAL_APP_ID)),
        with_endpoints_only: query.flag("exclude_apps_with_no_endpoints", false)?,
    };
    let apps = ctx.store.list_applications(page, filter).await?;
    Ok(Json(render_page(apps, ApplicationOut::from)))
}

/// `GET /app/{app_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    ApiPath(app_id): ApiPath<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(find_application(&ctx, &app_id).await?.into()))
}

/// `PUT /app/{app_id}`: a full update, or (as in Svix) a create with the path as its uid when
/// no such application exists. A body without `uid` keeps the current one, so an application
/// addressed by its uid stays reachable under it; PATCH with `"uid": null` clears it.
///
/// Concurrent PUTs to one missing path create it once: the others lose the insert to the
/// uid's unique constraint and then update the winner (200, their body applied).
pub async fn update(
    State(ctx): State<ApiContext>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let fields = input.into_fields(&[])?;
    if is_internal(&app_id) {
        return Err(ApiError::NotFound(APP_NOT_FOUND));
    }
    let mut last_conflict = String::new();
    for _ in 0..UPSERT_ROUNDS {
        let replacement = fields.clone();
        let change: ApplicationChange = Box::new(move |current| {
            Ok(ApplicationFields {
                uid: replacement.uid.or_else(|| current.uid.clone()),
                ..replacement
            })
        });
        match ctx
            .store
            .modify_application(&app_id, change, ctx.clock.now())
            .await?
        {
            Modified::Missing => {}
            modified => {
                let updated = saved(modified, APP_NOT_FOUND)?;
                return Ok((StatusCode::OK, Json(updated.into())));
            }
        }
        match insert_for_path(&ctx, &app_id, fields.clone()).await {
            Ok(app) => return Ok((StatusCode::CREATED, Json(app.into()))),
            // Created by a concurrent request since we looked: update that one.
            Err(ApiError::Conflict(message)) => last_conflict = message,
            Err(error) => return Err(error),
        }
    }
    Err(ApiError::Conflict(last_conflict))
}

/// How often an upsert tries update-then-create. Losing the create to a concurrent one means
/// the next update finds it, so a conflict that outlasts this is a real one (the body's uid
/// belongs to another application).
pub const UPSERT_ROUNDS: usize = 3;

/// `PATCH /app/{app_id}`: the merge runs on the application as it is inside the write, so
/// concurrent PATCHes of different fields all keep their change.
pub async fn patch(
    State(ctx): State<ApiContext>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<ApplicationPatch>,
) -> ApiResult<Json<ApplicationOut>> {
    if is_hidden(&ctx, &app_id) {
        return Err(ApiError::NotFound(APP_NOT_FOUND));
    }
    let change: ApplicationChange =
        Box::new(move |current| input.merge_into(fields_of(current.clone())).map_err(refuse));
    let modified = ctx
        .store
        .modify_application(&app_id, change, ctx.clock.now())
        .await?;
    Ok(Json(saved(modified, APP_NOT_FOUND)?.into()))
}

/// `DELETE /app/{app_id}`: removes the application and everything under it.
pub async fn delete(
    State(ctx): State<ApiContext>,
    ApiPath(app_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let app = find_application(&ctx, &app_id).await?;
    if !ctx.store.delete_application(&app.id).await? {
        return Err(ApiError::NotFound(APP_NOT_FOUND));
    }
    tracing::info!(app_id = %app.id, "application deleted");
    Ok(StatusCode::NO_CONTENT)
}

const APP_NOT_FOUND: &str = "application not found";

/// The application named by a path segment (id or uid), or 404. The internal operational
/// application exists only for the `/operational-webhook` routes.
pub async fn find_application(ctx: &ApiContext, id_or_uid: &str) -> ApiResult<Application> {
    lookup_application(ctx, id_or_uid)
        .await?
        .ok_or(ApiError::NotFound(APP_NOT_FOUND))
}

/// The application named by a path segment, if it exists and is visible here.
pub async fn lookup_application(
    ctx: &ApiContext,
    id_or_uid: &str,
) -> ApiResult<Option<Application>> {
    if is_hidden(ctx, id_or_uid) {
        return Ok(None);
    }
    Ok(ctx.store.get_application(id_or_uid).await?)
}

fn is_internal(app_id: &str) -> bool {
    app_id == OPERATIONAL_APP_ID
}

/// The internal operational application exists only for the `/operational-webhook` routes.
fn is_hidden(ctx: &ApiContext, id_or_uid: &str) -> bool {
    is_internal(id_or_uid) && !ctx.operational_scope
}

/// Creates the application that a path segment names but that does not exist yet, for a
/// message that carries `application`. One created concurrently for the same path is used
/// as it is: the inline body only ever creates.
pub async fn create_for_path(
    ctx: &ApiContext,
    path_id: &str,
    fields: ApplicationFields,
) -> ApiResult<Application> {
    let uid = fields.uid.clone();
    match insert_for_path(ctx, path_id, fields).await {
        Err(ApiError::Conflict(message)) => {
            let uid = uid.map_or_else(|| path_id.to_owned(), |uid| uid.as_str().to_owned());
            match ctx.store.get_application(&uid).await? {
                Some(app) => Ok(app),
                None => Err(ApiError::Conflict(message)),
            }
        }
        other => other,
    }
}

/// Inserts the application a path names (PUT upsert, or a message's `application`). The path
/// becomes the uid unless the body gives one; a path that looks like a generated id cannot be
/// created, so it is a 404. A taken uid is a `Conflict`.
async fn insert_for_path(
    ctx: &ApiContext,
    path_id: &str,
    mut fields: ApplicationFields,
) -> ApiResult<Application> {
    if fields.uid.is_none() {
        if path_id.starts_with(AppId::PREFIX) {
            return Err(ApiError::NotFound(APP_NOT_FOUND));
        }
        let uid = Uid::parse(path_id).map_err(|error| {
            ApiError::Validation(vec![FieldError::path("app_id", error.message)])
        })?;
        fields.uid = Some(uid);
    }
    let now = ctx.clock.now();
    let app = ctx
        .store
        .create_application(AppId::generate(now, rand::random()), fields, now)
        .await?;
    tracing::info!(app_id = %app.id, "application created from its path");
    Ok(app)
}

fn fields_of(app: Application) -> ApplicationFields {
    ApplicationFields {
        uid: app.uid,
        name: app.name,
        throttle_rate: app.throttle_rate,
        metadata: app.metadata,
    }
}

fn parse_name(name: String, at: &[&str]) -> ApiResult<String> {
    input_limits::text(name, APPLICATION_NAME, &[at, &["name"]].concat())
}

fn parse_optional_uid(uid: Option<String>, at: &[&str]) -> ApiResult<Option<Uid>> {
    uid.map(|uid| Uid::parse(&uid))
        .transpose()
        .map_err(|error| ApiError::invalid_input(&[at, &["uid"]].concat(), error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> ApplicationFields {
        ApplicationFields {
            uid: Some(Uid::parse("shop").unwrap()),
            name: "Shop".to_owned(),
            throttle_rate: Some(10),
            metadata: Metadata::from([("plan".to_owned(), "pro".to_owned())]),
        }
    }

    fn patched(json: &str) -> ApiResult<ApplicationFields> {
        let patch: ApplicationPatch = serde_json::from_str(json).unwrap();
        patch.merge_into(current())
    }

    #[test]
    fn patch_changes_only_present_fields() {
        assert_eq!(patched("{}").unwrap(), current());
        let renamed = patched(r#"{"name": "New"}"#).unwrap();
        assert_eq!(renamed.name, "New");
        assert_eq!(renamed.uid, current().uid);
        let cleared = patched(r#"{"uid": null, "rateLimit": null, "metadata": null}"#).unwrap();
        assert_eq!(cleared.uid, None);
        assert_eq!(cleared.throttle_rate, None);
        assert!(cleared.metadata.is_empty());
        assert_eq!(cleared.name, "Shop");
    }

    #[test]
    fn patch_refuses_bad_values_with_their_location() {
        let error = patched(r#"{"name": null}"#).unwrap_err();
        assert_eq!(
            error.body()["detail"][0]["loc"],
            serde_json::json!(["body", "name"])
        );
        let error = patched(r#"{"uid": "no spaces"}"#).unwrap_err();
        assert_eq!(
            error.body()["detail"][0]["loc"],
            serde_json::json!(["body", "uid"])
        );
    }

    #[test]
    fn inline_application_errors_point_inside_the_message() {
        let input: ApplicationIn = serde_json::from_str(r#"{"name": " "}"#).unwrap();
        let error = input.into_fields(&["application"]).unwrap_err();
        assert_eq!(
            error.body()["detail"][0]["loc"],
            serde_json::json!(["body", "application", "name"])
        );
    }

    #[test]
    fn output_uses_svix_names() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z")
            .unwrap()
            .to_utc();
        let fields = current();
        let app = Application {
            id: AppId::from_trusted("app_1"),
            uid: fields.uid,
            name: fields.name,
            throttle_rate: fields.throttle_rate,
            metadata: fields.metadata,
            created_at: now,
            updated_at: now,
        };
        let json = serde_json::to_value(ApplicationOut::from(app)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "app_1", "name": "Shop", "uid": "shop", "throttleRate": 10, "rateLimit": 10,
                "metadata": {"plan": "pro"},
                "createdAt": "2024-05-06T07:08:09Z", "updatedAt": "2024-05-06T07:08:09Z"
            })
        );
    }
}
