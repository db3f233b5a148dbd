//! Moving an installation: `export` reads every event type, application and endpoint (with
//! its current signing secret) into one `Environment`; `import` writes such a document into
//! this hookd, creating what is missing and updating what exists, found by id, else by uid
//! (applications, endpoints) or by name (event types). Nothing is deleted. Admin only: the
//! document holds every endpoint's secret and credentials.
//!
//! An import is checked whole before anything is written: every value parsed (by the caller),
//! no two entries naming the same record, no internal application, every endpoint host past
//! the SSRF guard's DNS check. Only then are the records written, one upsert each, so a bad
//! entry anywhere writes nothing. A store failure part-way (the disk, the database) leaves the
//! records before it written; the import is an upsert, so running it again completes it.

use std::collections::HashSet;

use super::endpoint_secrets::generate_secret;
use super::endpoint_targets::refuse_blocked_host;
use super::payload_validation::check_enforceable;
use super::scope::is_internal;
use super::{InvalidField, OpError, OpResult, Ops, Principal, saved};
use crate::domain::inbound::SOURCE_APP_PREFIX;
use crate::domain::operational::OPERATIONAL_APP_ID;
use crate::domain::{
    AppId, Application, ApplicationFields, Endpoint, EndpointFields, EndpointId, EventType,
    EventTypeFields, EventTypeName, Secret, Timestamp,
};
use crate::store::{ApplicationFilter, Modified, NewEndpoint, Order, PageRequest};

/// Rows read per page while exporting.
const EXPORT_PAGE: usize = 250;

/// Everything an installation is made of, as read by `export`.
#[derive(Debug, Clone)]
pub struct Environment {
    pub created_at: Timestamp,
    pub event_types: Vec<EventType>,
    pub applications: Vec<ExportedApplication>,
}

/// One application with its endpoints.
#[derive(Debug, Clone)]
pub struct ExportedApplication {
    pub application: Application,
    pub endpoints: Vec<ExportedEndpoint>,
}

/// One endpoint with its current signing secret.
#[derive(Debug, Clone)]
pub struct ExportedEndpoint {
    pub endpoint: Endpoint,
    pub secret: Secret,
}

/// A parsed import document. Each entry keeps its index in the document, so that a refusal
/// can name it.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentImport {
    pub event_types: Vec<(EventTypeName, EventTypeFields)>,
    pub applications: Vec<ApplicationImport>,
}

#[derive(Debug, Clone)]
pub struct ApplicationImport {
    /// The id to keep (a move keeps ids, so the sender's stored ids stay valid).
    pub id: Option<AppId>,
    pub fields: ApplicationFields,
    pub endpoints: Vec<EndpointImport>,
}

#[derive(Debug, Clone)]
pub struct EndpointImport {
    pub id: Option<EndpointId>,
    pub fields: EndpointFields,
    /// The signing secret; a new endpoint without one gets a generated secret, an existing
    /// one keeps its own.
    pub secret: Option<Secret>,
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub event_types: usize,
    pub applications: usize,
    pub endpoints: usize,
}

/// Reads the whole installation: every event type (archived too), every user application
/// (not the internal ones) and each one's endpoints with their current secrets.
pub async fn export(ops: &Ops, principal: &Principal) -> OpResult<Environment> {
    principal.require_admin()?;
    let now = ops.clock.now();
    let event_types = all_event_types(ops).await?;
    let filter = ApplicationFilter {
        hidden: Some(AppId::from_trusted(OPERATIONAL_APP_ID)),
        hidden_prefix: Some(SOURCE_APP_PREFIX),
        with_endpoints_only: false,
    };
    let mut applications = Vec::new();
    let mut iterator = None;
    loop {
        let page = ops
            .store
            .list_applications(page_after(iterator), filter.clone())
            .await?;
        for application in page.items {
            let endpoints = export_endpoints(ops, &application.id, now).await?;
            applications.push(ExportedApplication {
                application,
                endpoints,
            });
        }
        if page.done || page.iterator.is_none() {
            break;
        }
        iterator = page.iterator;
    }
    Ok(Environment {
        created_at: now,
        event_types,
        applications,
    })
}

/// Checks the whole document, then writes it (see the module's comment).
pub async fn import(
    ops: &Ops,
    principal: &Principal,
    document: EnvironmentImport,
) -> OpResult<ImportCounts> {
    principal.require_admin()?;
    check_document(ops, &document).await?;
    let now = ops.clock.now();
    let mut counts = ImportCounts::default();
    for (name, fields) in document.event_types {
        if ops
            .store
            .update_event_type(&name, fields.clone(), now)
            .await?
            .is_none()
        {
            ops.store.create_event_type(name, fields, now).await?;
        }
        counts.event_types += 1;
    }
    for application in document.applications {
        let app = import_application(ops, &application, now).await?;
        counts.applications += 1;
        for endpoint in application.endpoints {
            import_endpoint(ops, &app, endpoint, now).await?;
            counts.endpoints += 1;
        }
    }
    tracing::info!(
        event_types = counts.event_types,
        applications = counts.applications,
        endpoints = counts.endpoints,
        "environment imported"
    );
    Ok(counts)
}

/// Every event type, archived too.
pub(super) async fn all_event_types(ops: &Ops) -> OpResult<Vec<EventType>> {
    let mut event_types = Vec::new();
    let mut iterator = None;
    loop {
        let page = ops
            .store
            .list_event_types(page_after(iterator), true, None)
            .await?;
        event_types.extend(page.items);
        if page.done || page.iterator.is_none() {
            return Ok(event_types);
        }
        iterator = page.iterator;
    }
}

async fn export_endpoints(
    ops: &Ops,
    app_id: &AppId,
    now: Timestamp,
) -> OpResult<Vec<ExportedEndpoint>> {
    let mut endpoints = Vec::new();
    let mut iterator = None;
    loop {
        let page = ops
            .store
            .list_endpoints(app_id, page_after(iterator))
            .await?;
        for endpoint in page.items {
            let secret = ops
                .store
                .endpoint_secrets(&endpoint.id, now)
                .await?
                .into_iter()
                .next()
                .ok_or(OpError::Internal("an endpoint has no current secret"))?
                .key;
            endpoints.push(ExportedEndpoint { endpoint, secret });
        }
        if page.done || page.iterator.is_none() {
            break;
        }
        iterator = page.iterator;
    }
    Ok(endpoints)
}

fn page_after(iterator: Option<String>) -> PageRequest {
    PageRequest {
        limit: EXPORT_PAGE,
        iterator,
        order: Order::Ascending,
    }
}

/// Every check that can refuse the document, before anything is written.
async fn check_document(ops: &Ops, document: &EnvironmentImport) -> OpResult<()> {
    let mut names = HashSet::new();
    for (index, (name, fields)) in document.event_types.iter().enumerate() {
        if !names.insert(name.as_str()) {
            return Err(refused(
                &["eventTypes", &index.to_string(), "name"],
                format!("event type {} appears twice in the document", name.as_str()),
            ));
        }
        // A type that enforces its schema arrives with one that can be enforced.
        check_enforceable(fields)
            .map_err(|error| relocate(error, &["eventTypes".to_owned(), index.to_string()]))?;
    }
    let mut app_keys = HashSet::new();
    for (app_index, application) in document.applications.iter().enumerate() {
        let at = ["applications".to_owned(), app_index.to_string()];
        if let Some(id) = &application.id {
            if is_internal(id.as_str()) {
                return Err(refused_at(
                    &at,
                    &["id"],
                    "this id belongs to an internal application of hookd",
                ));
            }
            if !app_keys.insert(id.as_str().to_owned()) {
                return Err(refused_at(&at, &["id"], "this id appears twice"));
            }
        }
        if let Some(uid) = &application.fields.uid
            && !app_keys.insert(uid.as_str().to_owned())
        {
            return Err(refused_at(&at, &["uid"], "this uid appears twice"));
        }
        let mut endpoint_keys = HashSet::new();
        for (index, endpoint) in application.endpoints.iter().enumerate() {
            let at = [
                at[0].clone(),
                at[1].clone(),
                "endpoints".to_owned(),
                index.to_string(),
            ];
            if let Some(id) = &endpoint.id
                && !endpoint_keys.insert(id.as_str().to_owned())
            {
                return Err(refused_at(&at, &["id"], "this id appears twice"));
            }
            if let Some(uid) = &endpoint.fields.uid
                && !endpoint_keys.insert(uid.as_str().to_owned())
            {
                return Err(refused_at(&at, &["uid"], "this uid appears twice"));
            }
            refuse_blocked_host(ops, &endpoint.fields.url)
                .await
                .map_err(|error| relocate(error, &at))?;
        }
    }
    Ok(())
}

/// Updates the application found by id (else uid), or creates it with the document's id.
async fn import_application(
    ops: &Ops,
    application: &ApplicationImport,
    now: Timestamp,
) -> OpResult<Application> {
    let existing = match &application.id {
        Some(id) => ops.store.get_application(id.as_str()).await?,
        None => None,
    };
    let existing = match (existing, &application.fields.uid) {
        (Some(app), _) => Some(app),
        (None, Some(uid)) => ops.store.get_application(uid.as_str()).await?,
        (None, None) => None,
    };
    if let Some(current) = existing {
        let fields = application.fields.clone();
        let modified = ops
            .store
            .modify_application(current.id.as_str(), Box::new(move |_| Ok(fields)), now)
            .await?;
        return saved(modified, "application not found");
    }
    let id = application
        .id
        .clone()
        .unwrap_or_else(|| AppId::generate(now, rand::random()));
    Ok(ops
        .store
        .create_application(id, application.fields.clone(), now)
        .await?)
}

/// Updates the endpoint found by id (else uid) and makes the document's secret current, or
/// creates it with the document's id and secret.
async fn import_endpoint(
    ops: &Ops,
    app: &Application,
    endpoint: EndpointImport,
    now: Timestamp,
) -> OpResult<Endpoint> {
    let keys = [
        endpoint.id.as_ref().map(|id| id.as_str().to_owned()),
        endpoint
            .fields
            .uid
            .as_ref()
            .map(|uid| uid.as_str().to_owned()),
    ];
    for key in keys.into_iter().flatten() {
        let fields = endpoint.fields.clone();
        let modified = ops
            .store
            .modify_endpoint(&app.id, &key, Box::new(move |_| Ok(fields)), now)
            .await?;
        if matches!(modified, Modified::Missing) {
            continue;
        }
        let updated = saved(modified, "endpoint not found")?;
        if let Some(secret) = endpoint.secret {
            replace_secret(ops, &updated, secret, now).await?;
        }
        return Ok(updated);
    }
    let new_endpoint = NewEndpoint {
        id: endpoint
            .id
            .unwrap_or_else(|| EndpointId::generate(now, rand::random())),
        fields: endpoint.fields,
        secret: endpoint.secret.unwrap_or_else(generate_secret),
        now,
    };
    Ok(ops.store.create_endpoint(&app.id, new_endpoint).await?)
}

/// Makes `secret` the endpoint's only one, unless it is already current: the document says
/// which secret receivers verify with.
async fn replace_secret(
    ops: &Ops,
    endpoint: &Endpoint,
    secret: Secret,
    now: Timestamp,
) -> OpResult<()> {
    let current = ops.store.endpoint_secrets(&endpoint.id, now).await?;
    if current.first().is_some_and(|current| current.key == secret) {
        return Ok(());
    }
    ops.store
        .rotate_endpoint_secret(&endpoint.id, secret, now, now)
        .await?;
    Ok(())
}

fn refused(path: &[&str], message: impl Into<String>) -> OpError {
    OpError::invalid_body(path, message)
}

fn refused_at(at: &[String], field: &[&str], message: &str) -> OpError {
    let path: Vec<&str> = at
        .iter()
        .map(String::as_str)
        .chain(field.iter().copied())
        .collect();
    refused(&path, message)
}

/// The refusal of one entry's value, located inside the document.
fn relocate(error: OpError, at: &[String]) -> OpError {
    match error {
        OpError::Invalid(InvalidField {
            place,
            path,
            message,
        }) => OpError::Invalid(InvalidField {
            place,
            path: at.iter().cloned().chain(path).collect(),
            message,
        }),
        other => other,
    }
}
