//! Background tasks: the status and progress of long replays (`replay`). Listing them is
//! environment-wide, so it is for the admin; an application-scoped principal may read the
//! tasks of its own application.

use super::principal::OTHER_APPLICATION;
use super::{OpError, OpResult, Ops, Principal};
use crate::domain::{BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus};
use crate::store::{BackgroundTask, Page, PageRequest, UsageRow};

const TASK_NOT_FOUND: &str = "background task not found";

/// One task by its id, with a usage task's result so far (empty for the other kinds).
pub async fn get(
    ops: &Ops,
    principal: &Principal,
    task_id: &str,
) -> OpResult<(BackgroundTask, Vec<UsageRow>)> {
    let task = ops
        .store
        .get_background_task(&BackgroundTaskId::from_trusted(task_id.to_owned()))
        .await?;
    let task = match task {
        Some(task) if task.kind.is_environment_wide() => {
            principal.require_admin()?;
            task
        }
        Some(task) if principal.may_access(&task.filter.app_id) => task,
        Some(_) => return Err(OpError::Forbidden(OTHER_APPLICATION)),
        None => return Err(OpError::NotFound(TASK_NOT_FOUND)),
    };
    let rows = if task.kind.is_environment_wide() {
        ops.store.usage_rows(&task.id).await?
    } else {
        Vec::new()
    };
    Ok((task, rows))
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
