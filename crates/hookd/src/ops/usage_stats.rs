//! The usage statistics (Svix `statistics.aggregate_app_stats` and
//! `statistics.aggregate_event_types`): environment-wide background tasks, admin only, whose
//! result (one `UsageRow` per application) is kept with the task and read with it.
//!
//! Such a task is filed under the internal operational application, which is never deleted
//! and never reachable by an application's token, so `background_tasks::get` shows it to the
//! admin alone.

use super::replay::{ReplayWindow, start_background_task};
use super::scope::{self, AppRef};
use super::{OpError, OpResult, Ops, Principal};
use crate::domain::operational::OPERATIONAL_APP_ID;
use crate::domain::{AppId, BackgroundTaskKind, ReplaySelection, Timestamp};
use crate::store::{BackgroundTask, ReplayFilter};

/// The most applications one `application.stats` request may name.
pub const APP_STATS_MAX_APPS: usize = 250;

/// The task that counts message destinations, and the names it did not find.
#[derive(Debug, Clone)]
pub struct AppStatsStarted {
    pub task: BackgroundTask,
    pub unresolved: Vec<String>,
}

/// Starts `application.stats`: each application's message destinations (message/endpoint
/// pairs) of the messages created in `[since, until)`; only the applications `apps` names (ids
/// or uids) when given. Names not found are handed back; when none is found, a 422.
pub async fn aggregate_app_stats(
    ops: &Ops,
    principal: &Principal,
    window: ReplayWindow,
    apps: Option<Vec<String>>,
) -> OpResult<AppStatsStarted> {
    principal.require_admin()?;
    let mut unresolved = Vec::new();
    let app_ids = match apps {
        None => None,
        Some(names) => {
            if names.is_empty() || names.len() > APP_STATS_MAX_APPS {
                return Err(OpError::invalid_body(
                    &["appIds"],
                    format!("appIds must hold 1 to {APP_STATS_MAX_APPS} application ids or uids"),
                ));
            }
            let mut found: Vec<AppId> = Vec::new();
            for name in names {
                match scope::application(ops, principal, AppRef::Named(&name)).await {
                    Ok(app) if !found.contains(&app.id) => found.push(app.id),
                    Ok(_) => {}
                    Err(OpError::NotFound(_)) => unresolved.push(name),
                    Err(error) => return Err(error),
                }
            }
            if found.is_empty() {
                return Err(OpError::invalid_body(
                    &["appIds"],
                    "none of the given application ids or uids was found",
                ));
            }
            Some(found)
        }
    };
    let filter = environment_filter(window.since, window.until);
    let task = start_background_task(ops, BackgroundTaskKind::AppStats, filter, app_ids).await?;
    Ok(AppStatsStarted { task, unresolved })
}

/// Starts `event-type.aggregate`: for every application, the event types its endpoints name
/// and whether one of them takes every type.
pub async fn aggregate_event_types(ops: &Ops, principal: &Principal) -> OpResult<BackgroundTask> {
    principal.require_admin()?;
    let filter = environment_filter(Timestamp::UNIX_EPOCH, None);
    start_background_task(ops, BackgroundTaskKind::EventTypeAggregate, filter, None).await
}

fn environment_filter(since: Timestamp, until: Option<Timestamp>) -> ReplayFilter {
    ReplayFilter {
        app_id: AppId::from_trusted(OPERATIONAL_APP_ID),
        endpoint_id: None,
        event_types: None,
        // Not read by a usage task; stored because every task row has one.
        selection: ReplaySelection::AnyFinished,
        since,
        until,
    }
}
