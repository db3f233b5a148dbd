//! Endpoints: the URLs that receive an application's messages (and, under
//! `AppRef::Operational`, the operator's operational endpoints).
//!
//! Every URL set here passes the SSRF guard's DNS check first (`endpoint_targets`), and every
//! change raises an `endpoint.*` operational event, which the store commits with the change.
//! An application token cannot subscribe an endpoint to an event type hidden from it by its
//! feature flags (`event_types::refuse_hidden_subscriptions`).

use std::collections::BTreeSet;

use super::endpoint_secrets::{generate_secret, parse_secret};
use super::endpoint_targets::refuse_blocked_host;
use super::event_types::{self, refuse_hidden_subscriptions};
use super::scope::{self, AppRef, ENDPOINT_NOT_FOUND};
use super::transformations;
use super::{OpError, OpResult, Ops, Principal, UPSERT_ROUNDS, Upserted, saved};
use crate::domain::{
    Application, Endpoint, EndpointFields, EndpointId, EndpointUrl, EventTypeName, Uid,
};
use crate::store::{ChangeRefused, EndpointChange, Modified, NewEndpoint, Page, PageRequest};

/// Creates an endpoint of `app` with `secret` (checked with `parse_secret`), or a generated
/// one.
pub async fn create(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    fields: EndpointFields,
    secret: Option<String>,
) -> OpResult<Endpoint> {
    refuse_polling_outside_applications(app, &fields.url)?;
    let app = scope::application(ops, principal, app).await?;
    let hidden = event_types::hidden_from(ops, principal).await?;
    refuse_hidden_subscriptions(&hidden, fields.event_types.as_deref(), None)?;
    refuse_blocked_host(ops, &fields.url).await?;
    let endpoint = insert(ops, &app, fields, secret).await?;
    Ok(endpoint)
}

/// `change`, refused (inside the write, against the endpoint as it is) when it subscribes to a
/// type in `hidden` that the endpoint does not have yet; the refusal carries the `OpError`,
/// which `unwrap_refusal` takes back out.
fn without_hidden_subscriptions(
    hidden: BTreeSet<EventTypeName>,
    change: EndpointChange,
) -> EndpointChange {
    if hidden.is_empty() {
        return change;
    }
    Box::new(move |current| {
        let fields = change(current)?;
        refuse_hidden_subscriptions(
            &hidden,
            fields.event_types.as_deref(),
            current.fields.event_types.as_deref(),
        )
        .map_err(|error| ChangeRefused(Box::new(error)))?;
        Ok(fields)
    })
}

/// The `OpError` that `without_hidden_subscriptions` refused with, or the error as it is.
fn unwrap_refusal(error: OpError) -> OpError {
    match error {
        OpError::Refused(ChangeRefused(inner)) => match inner.downcast::<OpError>() {
            Ok(error) => *error,
            Err(inner) => OpError::Refused(ChangeRefused(inner)),
        },
        other => other,
    }
}

/// Operational and ingest endpoints are sent to or nothing: only an application's endpoint
/// can be a polling endpoint (the poller routes are under `/app`).
fn refuse_polling_outside_applications(app: AppRef<'_>, url: &EndpointUrl) -> OpResult<()> {
    if url.is_polling() && !matches!(app, AppRef::Named(_)) {
        return Err(OpError::invalid_body(
            &["url"],
            "only an application's endpoint can be a polling endpoint",
        ));
    }
    Ok(())
}

/// A polling endpoint's poller serves the raw payload, so an endpoint whose transformation is
/// enabled cannot become one (`transformations::patch` refuses the other way round). The
/// check is made before the write: a transformation enabled concurrently is not seen.
async fn refuse_transformed_polling(
    ops: &Ops,
    app: &Application,
    endpoint: &str,
    url: &EndpointUrl,
) -> OpResult<()> {
    if !url.is_polling() {
        return Ok(());
    }
    let Some(current) = ops.store.get_endpoint(&app.id, endpoint).await? else {
        return Ok(());
    };
    if !current.fields.url.is_polling() && transformations::is_active(ops, app, &current).await? {
        return Err(OpError::invalid_body(
            &["url"],
            "an endpoint with an enabled transformation cannot become a polling endpoint: its \
             poller serves the message as it was sent (disable the transformation first)",
        ));
    }
    Ok(())
}

/// A page of `app`'s endpoints.
pub async fn list(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    page: PageRequest,
) -> OpResult<Page<Endpoint>> {
    let app = scope::application(ops, principal, app).await?;
    Ok(ops.store.list_endpoints(&app.id, page).await?)
}

/// The endpoint `endpoint` (id or uid) names in `app`.
pub async fn get(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
) -> OpResult<Endpoint> {
    Ok(scope::endpoint(ops, principal, app, endpoint).await?.1)
}

/// A PUT: `replace` makes the full update of an existing endpoint from the endpoint as it is
/// inside the write (it is called once per try); a missing one is created from `fields` (with
/// the path as its uid unless `fields` has one) and `secret`. Concurrent upserts of one
/// missing path create it once and update it after.
pub async fn upsert(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
    fields: EndpointFields,
    secret: Option<String>,
    replace: impl Fn() -> EndpointChange,
) -> OpResult<Upserted<Endpoint>> {
    refuse_polling_outside_applications(app, &fields.url)?;
    let app = scope::application(ops, principal, app).await?;
    refuse_transformed_polling(ops, &app, endpoint, &fields.url).await?;
    let hidden = event_types::hidden_from(ops, principal).await?;
    // Every PUT names its URL, and a name may resolve elsewhere now than when it was last
    // checked, so the host is checked even when it did not change (before the write: it is DNS).
    refuse_blocked_host(ops, &fields.url).await?;
    let mut last_conflict = String::new();
    for _ in 0..UPSERT_ROUNDS {
        let change = without_hidden_subscriptions(hidden.clone(), replace());
        let modified = ops
            .store
            .modify_endpoint(&app.id, endpoint, change, ops.clock.now())
            .await?;
        if !matches!(modified, Modified::Missing) {
            let updated = saved(modified, ENDPOINT_NOT_FOUND).map_err(unwrap_refusal)?;
            return Ok(Upserted::Existing(updated));
        }
        refuse_hidden_subscriptions(&hidden, fields.event_types.as_deref(), None)?;
        let mut created_fields = fields.clone();
        if created_fields.uid.is_none() {
            created_fields.uid = Some(uid_from_path(endpoint)?);
        }
        match insert(ops, &app, created_fields, secret.clone()).await {
            Ok(created) => {
                return Ok(Upserted::Created(created));
            }
            // Created by a concurrent request since we looked: update that one.
            Err(OpError::Conflict(message)) => last_conflict = message,
            Err(error) => return Err(error),
        }
    }
    Err(OpError::Conflict(last_conflict))
}

/// Applies `change` (a PATCH, a header edit) to the endpoint as it is inside the write, so
/// concurrent changes of other fields are kept, (the store raises `endpoint.updated` in the same transaction). `new_url`,
/// when the change sets one, has its host checked first (it is DNS, so before the write).
pub async fn modify(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
    new_url: Option<&EndpointUrl>,
    change: EndpointChange,
) -> OpResult<Endpoint> {
    if let Some(url) = new_url {
        refuse_polling_outside_applications(app, url)?;
    }
    let app = scope::application(ops, principal, app).await?;
    if let Some(url) = new_url {
        refuse_transformed_polling(ops, &app, endpoint, url).await?;
        refuse_blocked_host(ops, url).await?;
    }
    let hidden = event_types::hidden_from(ops, principal).await?;
    let change = without_hidden_subscriptions(hidden, change);
    let modified = ops
        .store
        .modify_endpoint(&app.id, endpoint, change, ops.clock.now())
        .await?;
    let updated = saved(modified, ENDPOINT_NOT_FOUND).map_err(unwrap_refusal)?;
    Ok(updated)
}

/// Deletes the endpoint (the store raises `endpoint.deleted` in the same transaction).
pub async fn delete(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
) -> OpResult<()> {
    let (app, endpoint) = scope::endpoint(ops, principal, app, endpoint).await?;
    if !ops
        .store
        .delete_endpoint(&app.id, &endpoint.id, ops.clock.now())
        .await?
    {
        return Err(OpError::NotFound(ENDPOINT_NOT_FOUND));
    }
    tracing::info!(app_id = %app.id, endpoint_id = %endpoint.id, "endpoint deleted");
    Ok(())
}

/// Creates an endpoint with `secret`, or a generated one; the caller has checked the host.
async fn insert(
    ops: &Ops,
    app: &Application,
    fields: EndpointFields,
    secret: Option<String>,
) -> OpResult<Endpoint> {
    let secret = match secret {
        Some(raw) => parse_secret(&raw, &["secret"])?,
        None => generate_secret(),
    };
    let now = ops.clock.now();
    let new_endpoint = NewEndpoint {
        id: EndpointId::generate(now, rand::random()),
        fields,
        secret,
        now,
    };
    let endpoint = ops.store.create_endpoint(&app.id, new_endpoint).await?;
    tracing::info!(app_id = %app.id, endpoint_id = %endpoint.id, "endpoint created");
    Ok(endpoint)
}

/// The uid of an endpoint created by PUT to a path that names none. A path that looks like a
/// generated id cannot be created, so it is `NotFound`.
fn uid_from_path(endpoint_id: &str) -> OpResult<Uid> {
    if endpoint_id.starts_with(EndpointId::PREFIX) {
        return Err(OpError::NotFound(ENDPOINT_NOT_FOUND));
    }
    Uid::parse(endpoint_id).map_err(|error| OpError::invalid_path("endpoint_id", error.message))
}
