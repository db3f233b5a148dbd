//! `/api/v1/app`: applications (Svix's tenants). Path ids may be the id or the uid.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::error::{ApiError, ApiResult};
use super::input_limits;
use super::json::ValidJson;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, ApiQuery, QueryPart, flag};
use super::patch::{Patch, refuse};
use crate::domain::limits::APPLICATION_NAME;
use crate::domain::{AppId, Application, ApplicationFields, Metadata, Timestamp, Uid};
use crate::ops::{Principal, Upserted, applications};
use crate::store::{ApplicationChange, Order};

/// The body of create and full update (Svix `ApplicationIn`); also `MessageIn.application`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub uid: Patch<String>,
    #[serde(default, alias = "rateLimit")]
    #[schema(value_type = Option<u32>)]
    pub throttle_rate: Patch<u32>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Patch<Metadata>,
}

impl ApplicationPatch {
    pub(super) fn merge_into(self, current: ApplicationFields) -> ApiResult<ApplicationFields> {
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = BTreeMap<String, String>)]
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
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

/// The query of `POST /app`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateApplicationQuery {
    /// Answer 200 with the existing application when the uid is taken.
    #[serde(default, deserialize_with = "flag::<_, false>")]
    get_if_exists: bool,
}

/// The filter of `GET /app` (beside its `PageQuery`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplicationListQuery {
    /// Only applications that have at least one endpoint.
    #[serde(default, deserialize_with = "flag::<_, false>")]
    exclude_apps_with_no_endpoints: bool,
}

/// `POST /app[?get_if_exists=true]`: 201 with the new application, or 200 with the existing
/// one when `get_if_exists` is set and the uid is taken.
pub async fn create(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    query: QueryPart<CreateApplicationQuery>,
    ValidJson(input): ValidJson<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    // Opened after the body, which axum reads first: a bad body is answered before a bad flag.
    let ApiQuery(CreateApplicationQuery { get_if_exists }) = query?;
    let fields = input.into_fields(&[])?;
    let created = applications::create(&ctx.ops, &principal, fields, get_if_exists).await?;
    Ok(upserted(created))
}

/// `GET /app`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(query): ApiQuery<ApplicationListQuery>,
) -> ApiResult<Json<ListResponse<ApplicationOut>>> {
    let page = page.request(Order::Ascending);
    let with_endpoints_only = query.exclude_apps_with_no_endpoints;
    let apps = applications::list(&ctx.ops, &principal, page, with_endpoints_only).await?;
    Ok(Json(render_page(apps, ApplicationOut::from)))
}

/// `GET /app/{app_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
) -> ApiResult<Json<ApplicationOut>> {
    let app = applications::get(&ctx.ops, &principal, &app_id).await?;
    Ok(Json(app.into()))
}

/// `PUT /app/{app_id}`: a full update, or (as in Svix) a create with the path as its uid when
/// no such application exists. A body without `uid` keeps the current one, so an application
/// addressed by its uid stays reachable under it; PATCH with `"uid": null` clears it.
pub async fn update(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let fields = input.into_fields(&[])?;
    let upserted_app = applications::upsert(&ctx.ops, &principal, &app_id, fields).await?;
    Ok(upserted(upserted_app))
}

/// 201 for a created application, 200 for an existing one.
fn upserted(app: Upserted<Application>) -> (StatusCode, Json<ApplicationOut>) {
    match app {
        Upserted::Created(app) => (StatusCode::CREATED, Json(app.into())),
        Upserted::Existing(app) => (StatusCode::OK, Json(app.into())),
    }
}

/// `PATCH /app/{app_id}`: the merge runs on the application as it is inside the write, so
/// concurrent PATCHes of different fields all keep their change.
pub async fn patch(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<ApplicationPatch>,
) -> ApiResult<Json<ApplicationOut>> {
    let change: ApplicationChange =
        Box::new(move |current| input.merge_into(fields_of(current.clone())).map_err(refuse));
    let app = applications::modify(&ctx.ops, &principal, &app_id, change).await?;
    Ok(Json(app.into()))
}

/// `DELETE /app/{app_id}`: removes the application and everything under it.
pub async fn delete(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    applications::delete(&ctx.ops, &principal, &app_id).await?;
    Ok(StatusCode::NO_CONTENT)
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
