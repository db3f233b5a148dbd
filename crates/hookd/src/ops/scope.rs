//! Which records a principal may reach: the one place that turns a path's application,
//! endpoint or message name into a record *for this principal*. Every operation on an
//! application's contents starts here.
//!
//! The internal operational application exists only for `AppRef::Operational` (the
//! `/operational-webhook` routes), and an inbound source's only for `AppRef::Source` (the
//! `/ingest/api/v1/source/{source_id}/endpoint` routes); named under `/app` they do not exist.

use super::principal::OTHER_APPLICATION;
use super::{OpError, OpResult, Ops, Principal};
use crate::domain::inbound::SOURCE_APP_PREFIX;
use crate::domain::operational::OPERATIONAL_APP_ID;
use crate::domain::{Application, Endpoint, Message};

/// Which application an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppRef<'a> {
    /// An application named by its id or uid (a path segment under `/app`).
    Named(&'a str),
    /// The internal application whose endpoints are the operator's operational endpoints;
    /// only `Principal::Admin` may reach it.
    Operational,
    /// The internal application of the inbound source named by its id or uid, whose
    /// endpoints are the source's ingest endpoints; only `Principal::Admin` may reach it.
    Source(&'a str),
}

pub const APP_NOT_FOUND: &str = "application not found";
pub const ENDPOINT_NOT_FOUND: &str = "endpoint not found";
pub const MESSAGE_NOT_FOUND: &str = "message not found";
pub const SOURCE_NOT_FOUND: &str = "source not found";

/// The application `app` names, or `NotFound`; `Forbidden` when the principal may not reach
/// it.
pub async fn application(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
) -> OpResult<Application> {
    lookup_application(ops, principal, app)
        .await?
        .ok_or(OpError::NotFound(APP_NOT_FOUND))
}

/// The application `app` names, if it exists and is visible. An application-scoped principal
/// learns nothing about other applications, not even whether they exist: anything but its own
/// is `Forbidden`.
pub async fn lookup_application(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
) -> OpResult<Option<Application>> {
    let found = match app {
        AppRef::Operational => {
            principal.require_admin()?;
            ops.store.get_application(OPERATIONAL_APP_ID).await?
        }
        AppRef::Source(name) => {
            principal.require_admin()?;
            match ops.store.get_source(name).await? {
                Some(source) => ops.store.get_application(source.app_id().as_str()).await?,
                None => return Err(OpError::NotFound(SOURCE_NOT_FOUND)),
            }
        }
        AppRef::Named(name) if is_internal(name) => None,
        AppRef::Named(name) => ops.store.get_application(name).await?,
    };
    match principal {
        Principal::Admin => Ok(found),
        Principal::App(own) => match found {
            Some(app) if app.id == own.app_id => Ok(Some(app)),
            _ => Err(OpError::Forbidden(OTHER_APPLICATION)),
        },
    }
}

/// The application and its endpoint named by `endpoint` (id or uid), or `NotFound`.
pub async fn endpoint(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
) -> OpResult<(Application, Endpoint)> {
    let app = application(ops, principal, app).await?;
    let endpoint = ops
        .store
        .get_endpoint(&app.id, endpoint)
        .await?
        .ok_or(OpError::NotFound(ENDPOINT_NOT_FOUND))?;
    Ok((app, endpoint))
}

/// The application and its message named by `message` (id or eventId), or `NotFound`.
pub async fn message(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    message: &str,
) -> OpResult<(Application, Message)> {
    let app = application(ops, principal, app).await?;
    let message = message_in(ops, &app, message).await?;
    Ok((app, message))
}

/// The message named by `message` in an application already in scope, or `NotFound`.
pub async fn message_in(ops: &Ops, app: &Application, message: &str) -> OpResult<Message> {
    ops.store
        .get_message(&app.id, message)
        .await?
        .ok_or(OpError::NotFound(MESSAGE_NOT_FOUND))
}

/// The records a request names (its path, and a filter that names an endpoint), which are
/// looked up before its input is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named<'a> {
    pub app: AppRef<'a>,
    pub endpoint: Option<&'a str>,
    pub message: Option<&'a str>,
    /// An endpoint a listing's filter names (`endpoint_id`), besides the path's records.
    pub filter_endpoint: Option<&'a str>,
}

impl<'a> Named<'a> {
    /// An application (and nothing in it).
    pub fn app(app: AppRef<'a>) -> Self {
        Named {
            app,
            endpoint: None,
            message: None,
            filter_endpoint: None,
        }
    }

    /// An endpoint of `app` (id or uid).
    pub fn endpoint(app: AppRef<'a>, endpoint: &'a str) -> Self {
        Named {
            endpoint: Some(endpoint),
            ..Named::app(app)
        }
    }

    /// A message of `app` (id or eventId).
    pub fn message(app: AppRef<'a>, message: &'a str) -> Self {
        Named {
            message: Some(message),
            ..Named::app(app)
        }
    }
}

/// Finds every record `named` names, failing as an operation on them would (`NotFound`,
/// `Forbidden`). For a caller whose input did not parse: a request aimed at a missing record
/// is answered as missing, whatever else is wrong with it, as when its input is valid.
pub async fn require_found(ops: &Ops, principal: &Principal, named: Named<'_>) -> OpResult<()> {
    let app = application(ops, principal, named.app).await?;
    for endpoint in [named.endpoint, named.filter_endpoint]
        .into_iter()
        .flatten()
    {
        ops.store
            .get_endpoint(&app.id, endpoint)
            .await?
            .ok_or(OpError::NotFound(ENDPOINT_NOT_FOUND))?;
    }
    if let Some(message) = named.message {
        message_in(ops, &app, message).await?;
    }
    Ok(())
}

/// Whether a name is the id of an internal application: the operational one, or an inbound
/// source's.
pub fn is_internal(name: &str) -> bool {
    name == OPERATIONAL_APP_ID || name.starts_with(SOURCE_APP_PREFIX)
}
