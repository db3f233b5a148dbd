//! `/api/v1/event-type`: the catalogue of event types that messages carry.
//!
//! Deleting archives by default (as in Svix), so old messages keep a known type; `?expunge=true`
//! removes the type for good. Creating a type that exists only as archived revives it.
//!
//! `enforceSchema` is a hookd extension (Svix's models have no such field; its SDKs ignore it
//! in answers): messages of a type that enforces must match its newest schema
//! (`ops::payload_validation`). A PUT without it keeps the stored value.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiContext;
use super::error::{ApiError, ApiResult, FieldError};
use super::input_limits;
use super::json::ValidJson;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, ApiQuery, flag};
use super::patch::{Patch, refuse};
use crate::domain::limits::{DESCRIPTION, LABEL};
use crate::domain::{EventType, EventTypeFields, EventTypeName, Timestamp};
use crate::ops::{Principal, Upserted, event_types};
use crate::store::{EventTypeChange, Order};

/// The body of create (`EventTypeIn`, where `name` is required) and of full update
/// (`EventTypeUpdate`, where the name comes from the path and a body `name` is ignored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeIn {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub deprecated: Option<bool>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub schemas: Option<Value>,
    #[serde(default)]
    pub feature_flag: Option<String>,
    /// Newer Svix APIs send a list; hookd keeps at most one flag.
    #[serde(default)]
    pub feature_flags: Option<Vec<String>>,
    #[serde(default)]
    pub group_name: Option<String>,
    /// Refuse messages whose payload does not match the newest schema (hookd extension).
    #[serde(default)]
    pub enforce_schema: Option<bool>,
}

impl EventTypeIn {
    pub(super) fn into_fields(self) -> ApiResult<EventTypeFields> {
        Ok(EventTypeFields {
            description: input_limits::optional_text(
                self.description,
                DESCRIPTION,
                &["description"],
            )?
            .unwrap_or_default(),
            deprecated: self.deprecated.unwrap_or(false),
            archived: self.archived.unwrap_or(false),
            schemas: parse_schemas(self.schemas)?,
            feature_flag: parse_feature_flag(self.feature_flag, self.feature_flags)?,
            group_name: input_limits::optional_text(
                self.group_name.filter(|name| !name.is_empty()),
                LABEL,
                &["groupName"],
            )?,
            enforce_schema: self.enforce_schema.unwrap_or(false),
        })
    }
}

/// The body of PATCH.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypePatch {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub deprecated: Patch<bool>,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub archived: Patch<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    pub schemas: Patch<Value>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub feature_flag: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub feature_flags: Patch<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub group_name: Patch<String>,
    /// Refuse messages whose payload does not match the newest schema (hookd extension).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub enforce_schema: Patch<bool>,
}

impl EventTypePatch {
    pub(super) fn merge_into(self, current: EventTypeFields) -> ApiResult<EventTypeFields> {
        let schemas = self
            .schemas
            .try_map(|schemas| parse_schemas(Some(schemas)))?;
        let feature_flag = match (self.feature_flag, self.feature_flags) {
            (Patch::Absent, Patch::Absent) => Patch::Absent,
            (Patch::Value(flag), _) if flag.is_empty() => Patch::Null,
            (Patch::Value(flag), _) => {
                Patch::Value(input_limits::text(flag, LABEL, &["featureFlag"])?)
            }
            (_, Patch::Value(flags)) => match parse_feature_flag(None, Some(flags))? {
                Some(flag) => Patch::Value(flag),
                None => Patch::Null,
            },
            _ => Patch::Null,
        };
        let description = self
            .description
            .try_map(|text| input_limits::text(text, DESCRIPTION, &["description"]))?;
        // An empty group name means none, as on create.
        let group_name = match self.group_name {
            Patch::Value(name) if name.is_empty() => Patch::Null,
            other => other.try_map(|name| input_limits::text(name, LABEL, &["groupName"]))?,
        };
        Ok(EventTypeFields {
            description: description.merge_or(current.description, String::new),
            deprecated: self.deprecated.merge_or(current.deprecated, || false),
            archived: self.archived.merge_or(current.archived, || false),
            schemas: schemas.merge_or(current.schemas, || None),
            feature_flag: feature_flag.merge_optional(current.feature_flag),
            group_name: group_name.merge_optional(current.group_name),
            enforce_schema: self
                .enforce_schema
                .merge_or(current.enforce_schema, || false),
        })
    }
}

/// An event type as Svix renders it (`EventTypeOut`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    pub name: EventTypeName,
    pub description: String,
    pub deprecated: bool,
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schemas: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_flag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_flags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Whether messages must match the newest schema (hookd extension).
    pub enforce_schema: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<EventType> for EventTypeOut {
    fn from(event_type: EventType) -> Self {
        let fields = event_type.fields;
        EventTypeOut {
            name: event_type.name,
            description: fields.description,
            deprecated: fields.deprecated,
            archived: fields.archived,
            schemas: fields.schemas,
            feature_flags: fields.feature_flag.clone().map(|flag| vec![flag]),
            feature_flag: fields.feature_flag,
            group_name: fields.group_name,
            enforce_schema: fields.enforce_schema,
            created_at: event_type.created_at,
            updated_at: event_type.updated_at,
        }
    }
}

/// `POST /event-type`: 201, or 409 when a live type has the name.
pub async fn create(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ValidJson(input): ValidJson<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let name = parse_name(input.name.as_deref())?;
    let fields = input.into_fields()?;
    let event_type = event_types::create(&ctx.ops, &principal, name, fields).await?;
    Ok((StatusCode::CREATED, Json(event_type.into())))
}

/// The filter of `GET /event-type` (beside its `PageQuery`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventTypeListQuery {
    #[serde(default, deserialize_with = "flag::<_, false>")]
    include_archived: bool,
}

/// The query of `DELETE /event-type/{event_type_name}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventTypeDeleteQuery {
    /// Delete for good instead of archiving.
    #[serde(default, deserialize_with = "flag::<_, false>")]
    expunge: bool,
}

/// `GET /event-type[?include_archived=true]`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(query): ApiQuery<EventTypeListQuery>,
) -> ApiResult<Json<ListResponse<EventTypeOut>>> {
    let include_archived = query.include_archived;
    let page = page.request(Order::Ascending);
    let found = event_types::list(&ctx.ops, &principal, page, include_archived).await?;
    Ok(Json(render_page(found, EventTypeOut::from)))
}

/// `GET /event-type/{event_type_name}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<EventTypeOut>> {
    let event_type = event_types::get(&ctx.ops, &principal, &name).await?;
    Ok(Json(event_type.into()))
}

/// `PUT /event-type/{event_type_name}`: a full update, or a create (201) when missing.
pub async fn update(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(raw_name): ApiPath<String>,
    ValidJson(input): ValidJson<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let name = EventTypeName::parse(&raw_name).map_err(|error| {
        ApiError::Validation(vec![FieldError::path("event_type_name", error.message)])
    })?;
    let enforce_schema = input.enforce_schema;
    let fields = input.into_fields()?;
    Ok(
        match event_types::upsert(&ctx.ops, &principal, name, fields, enforce_schema).await? {
            Upserted::Existing(updated) => (StatusCode::OK, Json(updated.into())),
            Upserted::Created(created) => (StatusCode::CREATED, Json(created.into())),
        },
    )
}

/// `PATCH /event-type/{event_type_name}`: the merge runs on the type as it is inside the
/// write, so concurrent PATCHes of different fields all keep their change.
pub async fn patch(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
    ValidJson(input): ValidJson<EventTypePatch>,
) -> ApiResult<Json<EventTypeOut>> {
    let change: EventTypeChange =
        Box::new(move |current| input.merge_into(current.fields.clone()).map_err(refuse));
    let updated = event_types::modify(&ctx.ops, &principal, &name, change).await?;
    Ok(Json(updated.into()))
}

/// `DELETE /event-type/{event_type_name}[?expunge=true]`: archives, or deletes for good.
pub async fn delete(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(EventTypeDeleteQuery { expunge }): ApiQuery<EventTypeDeleteQuery>,
) -> ApiResult<StatusCode> {
    event_types::delete(&ctx.ops, &principal, &name, expunge).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `name` of a create body, which is required there (and only there).
pub(super) fn parse_name(raw_name: Option<&str>) -> ApiResult<EventTypeName> {
    let Some(raw_name) = raw_name else {
        return Err(ApiError::Validation(vec![
            FieldError::body(&["name"], "field required").with_kind("value_error.missing"),
        ]));
    };
    EventTypeName::parse(raw_name).map_err(|error| ApiError::invalid_input(&["name"], error))
}

fn parse_schemas(schemas: Option<Value>) -> ApiResult<Option<Value>> {
    match schemas {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(Value::Object(map))),
        Some(_) => Err(ApiError::invalid_body(
            &["schemas"],
            "schemas must be an object of JSON schemas by version",
        )),
    }
}

fn parse_feature_flag(
    flag: Option<String>,
    flags: Option<Vec<String>>,
) -> ApiResult<Option<String>> {
    if flag.is_some() {
        return input_limits::optional_text(
            flag.filter(|flag| !flag.is_empty()),
            LABEL,
            &["featureFlag"],
        );
    }
    let mut flags = flags.unwrap_or_default();
    if flags.len() > 1 {
        return Err(ApiError::invalid_body(
            &["featureFlags"],
            "at most one feature flag is supported",
        ));
    }
    input_limits::optional_text(
        flags.pop().filter(|flag| !flag.is_empty()),
        LABEL,
        &["featureFlags", "0"],
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn current() -> EventTypeFields {
        EventTypeFields {
            description: "Paid".to_owned(),
            deprecated: false,
            archived: false,
            schemas: Some(json!({"1": {"type": "object"}})),
            feature_flag: Some("beta".to_owned()),
            group_name: Some("billing".to_owned()),
            enforce_schema: false,
        }
    }

    fn patched(body: Value) -> ApiResult<EventTypeFields> {
        let patch: EventTypePatch = serde_json::from_value(body).unwrap();
        patch.merge_into(current())
    }

    #[test]
    fn patch_merges_and_clears() {
        assert_eq!(patched(json!({})).unwrap(), current());
        let fields =
            patched(json!({"deprecated": true, "schemas": null, "featureFlag": null})).unwrap();
        assert!(fields.deprecated);
        assert_eq!(fields.schemas, None);
        assert_eq!(fields.feature_flag, None);
        assert_eq!(fields.group_name.as_deref(), Some("billing"));
        let fields = patched(json!({"featureFlags": ["gamma"]})).unwrap();
        assert_eq!(fields.feature_flag.as_deref(), Some("gamma"));
        assert!(patched(json!({"schemas": [1]})).is_err());
        assert!(patched(json!({"featureFlags": ["a", "b"]})).is_err());
    }

    #[test]
    fn an_empty_group_name_clears_it_in_patch_as_on_create() {
        let fields = patched(json!({"groupName": ""})).unwrap();
        assert_eq!(fields.group_name, None);
    }

    #[test]
    fn create_defaults_and_output() {
        let input: EventTypeIn =
            serde_json::from_value(json!({"name": "invoice.paid", "description": "Paid"})).unwrap();
        let fields = input.into_fields().unwrap();
        assert!(!fields.deprecated && !fields.archived);
        let now = chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z")
            .unwrap()
            .to_utc();
        let out = EventTypeOut::from(EventType {
            name: EventTypeName::parse("invoice.paid").unwrap(),
            fields: current(),
            revision: 7,
            created_at: now,
            updated_at: now,
        });
        assert_eq!(
            serde_json::to_value(out).unwrap(),
            json!({
                "name": "invoice.paid", "description": "Paid", "deprecated": false,
                "archived": false, "schemas": {"1": {"type": "object"}},
                "featureFlag": "beta", "featureFlags": ["beta"], "groupName": "billing",
                "enforceSchema": false, "createdAt": "2024-05-06T07:08:09Z", "updatedAt": "2024-05-06T07:08:09Z"
            })
        );
    }
}
