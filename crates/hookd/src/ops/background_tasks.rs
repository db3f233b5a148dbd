//! Background tasks: the status and progress of long replays (`replay`). Listing them is
//! environment-wide, so it is for the admin; an application-scoped principal may read the
//! tasks of its own application.

use super::principal::OTHER_APPLICATION;
use super::{OpError, OpResult, Ops, Principal};
use crate::domain::{BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus};
use crate::store::{BackgroundTask, Page, PageRequest};

const TASK_NOT_FOUND: &str = "background task not found";

/// One task by its id.
pub async fn get(ops: &Ops, principal: &Principal, task_id: &str) -> OpResult<BackgroundTask> {
    let task = ops
        .store
        .get_background_task(&BackgroundTaskId::from_trusted(task_id.to_owned()))
        .await?;
    match task {
        Some(task) if principal.may_access(&task.filter.app_id) => Ok(task),
        Some(_) => Err(OpError::Forbidden(OTHER_APPLICATION)),
        None => Err(OpError::NotFound(TASK_NOT_FOUND)),
    }
}

/// Tasks newest first (by default), optionally of one status and kind.
pub async fn list(
    ops: &Ops,
    principal: &Principal,
    status: Option<BackgroundTaskStatus>,
    kind: Option<BackgroundTaskKind>,
    page: PageRequest,
) -> OpResult<Page<BackgroundTask>> {
    principal.require_admin()?;
    Ok(ops.store.list_background_tasks(status, kind, page).await?)
}
