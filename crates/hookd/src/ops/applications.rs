//! Applications (Svix's tenants): create, read, update, delete. Creating, changing, listing and
//! deleting applications is for the admin; an application-scoped principal may read its own.

use super::scope::{self, APP_NOT_FOUND, AppRef, is_internal};
use super::{OpError, OpResult, Ops, Principal, UPSERT_ROUNDS, Upserted, saved};
use crate::domain::inbound::SOURCE_APP_PREFIX;
use crate::domain::operational::OPERATIONAL_APP_ID;
use crate::domain::{AppId, Application, ApplicationFields, Uid};
use crate::store::{ApplicationChange, ApplicationFilter, Modified, Page, PageRequest, StoreError};

/// Creates an application. With `get_if_exists`, an application that already has the uid is
/// returned as it is (also one created concurrently between the lookup and the insert).
pub async fn create(
    ops: &Ops,
    principal: &Principal,
    fields: ApplicationFields,
    get_if_exists: bool,
) -> OpResult<Upserted<Application>> {
    principal.require_admin()?;
    let existing_uid = fields.uid.clone().filter(|_| get_if_exists);
    if let Some(uid) = &existing_uid
        && let Some(app) = ops.store.get_application(uid.as_str()).await?
    {
        return Ok(Upserted::Existing(app));
    }
    let now = ops.clock.now();
    match ops
        .store
        .create_application(AppId::generate(now, rand::random()), fields, now)
        .await
    {
        Ok(app) => {
            tracing::info!(app_id = %app.id, "application created");
            Ok(Upserted::Created(app))
        }
        // A concurrent request created the same uid between our lookup and our insert.
        Err(StoreError::Conflict(message)) => match existing_uid {
            Some(uid) => {
                let app = scope::application(ops, principal, AppRef::Named(uid.as_str())).await?;
                Ok(Upserted::Existing(app))
            }
            None => Err(OpError::Conflict(message)),
        },
        Err(error) => Err(error.into()),
    }
}

/// A page of applications, without the internal operational one.
pub async fn list(
    ops: &Ops,
    principal: &Principal,
    page: PageRequest,
    with_endpoints_only: bool,
) -> OpResult<Page<Application>> {
    principal.require_admin()?;
    let filter = ApplicationFilter {
        hidden: Some(AppId::from_trusted(OPERATIONAL_APP_ID)),
        hidden_prefix: Some(SOURCE_APP_PREFIX),
        with_endpoints_only,
    };
    Ok(ops.store.list_applications(page, filter).await?)
}

/// The application `name` (id or uid) names.
pub async fn get(ops: &Ops, principal: &Principal, name: &str) -> OpResult<Application> {
    scope::application(ops, principal, AppRef::Named(name)).await
}

/// A full update, or (as in Svix) a create with `name` as its uid when no such application
/// exists. Fields without `uid` keep the current one, so an application addressed by its uid
/// stays reachable under it.
///
/// Concurrent upserts of one missing name create it once: the others lose the insert to the
/// uid's unique constraint and then update the winner.
pub async fn upsert(
    ops: &Ops,
    principal: &Principal,
    name: &str,
    fields: ApplicationFields,
) -> OpResult<Upserted<Application>> {
    principal.require_admin()?;
    if is_internal(name) {
        return Err(OpError::NotFound(APP_NOT_FOUND));
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
        match ops
            .store
            .modify_application(name, change, ops.clock.now())
            .await?
        {
            Modified::Missing => {}
            modified => return Ok(Upserted::Existing(saved(modified, APP_NOT_FOUND)?)),
        }
        match insert_for_path(ops, name, fields.clone()).await {
            Ok(app) => return Ok(Upserted::Created(app)),
            // Created by a concurrent request since we looked: update that one.
            Err(OpError::Conflict(message)) => last_conflict = message,
            Err(error) => return Err(error),
        }
    }
    Err(OpError::Conflict(last_conflict))
}

/// Applies `change` (a PATCH) to the application as it is inside the write, so concurrent
/// changes of different fields all keep theirs.
pub async fn modify(
    ops: &Ops,
    principal: &Principal,
    name: &str,
    change: ApplicationChange,
) -> OpResult<Application> {
    principal.require_admin()?;
    if is_internal(name) {
        return Err(OpError::NotFound(APP_NOT_FOUND));
    }
    let modified = ops
        .store
        .modify_application(name, change, ops.clock.now())
        .await?;
    saved(modified, APP_NOT_FOUND)
}

/// Removes the application and everything under it.
pub async fn delete(ops: &Ops, principal: &Principal, name: &str) -> OpResult<()> {
    principal.require_admin()?;
    let app = scope::application(ops, principal, AppRef::Named(name)).await?;
    if !ops.store.delete_application(&app.id).await? {
        return Err(OpError::NotFound(APP_NOT_FOUND));
    }
    tracing::info!(app_id = %app.id, "application deleted");
    Ok(())
}

/// Creates the application that a path names but that does not exist yet, for a message that
/// carries `application`. One created concurrently for the same path is used as it is: the
/// inline body only ever creates.
pub(super) async fn create_for_path(
    ops: &Ops,
    path_id: &str,
    fields: ApplicationFields,
) -> OpResult<Application> {
    let uid = fields.uid.clone();
    match insert_for_path(ops, path_id, fields).await {
        Err(OpError::Conflict(message)) => {
            let uid = uid.map_or_else(|| path_id.to_owned(), |uid| uid.as_str().to_owned());
            match ops.store.get_application(&uid).await? {
                Some(app) => Ok(app),
                None => Err(OpError::Conflict(message)),
            }
        }
        other => other,
    }
}

/// Inserts the application a path names (PUT upsert, or a message's `application`). The path
/// becomes the uid unless the fields give one; a path that looks like a generated id cannot be
/// created, so it is `NotFound`. A taken uid is a `Conflict`.
async fn insert_for_path(
    ops: &Ops,
    path_id: &str,
    mut fields: ApplicationFields,
) -> OpResult<Application> {
    if fields.uid.is_none() {
        if path_id.starts_with(AppId::PREFIX) {
            return Err(OpError::NotFound(APP_NOT_FOUND));
        }
        let uid =
            Uid::parse(path_id).map_err(|error| OpError::invalid_path("app_id", error.message))?;
        fields.uid = Some(uid);
    }
    let now = ops.clock.now();
    let app = ops
        .store
        .create_application(AppId::generate(now, rand::random()), fields, now)
        .await?;
    tracing::info!(app_id = %app.id, "application created from its path");
    Ok(app)
}

/// Creates the internal application of operational webhooks on first start.
pub async fn ensure_operational_application(
    store: &dyn crate::store::Store,
    now: crate::domain::Timestamp,
) -> Result<(), StoreError> {
    if store.get_application(OPERATIONAL_APP_ID).await?.is_none() {
        let fields = ApplicationFields {
            uid: None,
            name: "hookd operational webhooks".into(),
            throttle_rate: None,
            metadata: crate::domain::Metadata::new(),
        };
        match store
            .create_application(AppId::from_trusted(OPERATIONAL_APP_ID), fields, now)
            .await
        {
            // Another node starting at the same moment created it first.
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
