//! Background tasks (endpoint recovery, replay-missing, bulk replay, expunging an
//! application's content, the usage statistics) and the selections a replay makes.

use super::DeliveryTaskState;

/// What a background task does. The names are Svix's `BackgroundTaskType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackgroundTaskKind {
    /// `endpoint.recover`: re-queue what ended failed or parked for one endpoint.
    EndpointRecover,
    /// `endpoint.replay`: queue what was never queued for one endpoint (`replay-missing`).
    EndpointReplayMissing,
    /// `endpoint.bulk-replay`: a replay by filter (hookd's `POST /app/{app}/replay`, Svix's
    /// `POST /app/{app}/endpoint/{endpoint}/bulk-replay`).
    BulkReplay,
    /// `application.purge_content`: removes every message payload of one application
    /// (`expunge-all-contents`); its count is of the messages expunged.
    PurgeContent,
    /// `application.stats`: each application's message destinations in a window.
    AppStats,
    /// `event-type.aggregate`: the event types each application's endpoints subscribe to.
    EventTypeAggregate,
}

impl BackgroundTaskKind {
    pub fn name(self) -> &'static str {
        match self {
            BackgroundTaskKind::EndpointRecover => "endpoint.recover",
            BackgroundTaskKind::EndpointReplayMissing => "endpoint.replay",
            BackgroundTaskKind::BulkReplay => "endpoint.bulk-replay",
            BackgroundTaskKind::PurgeContent => "application.purge_content",
            BackgroundTaskKind::AppStats => "application.stats",
            BackgroundTaskKind::EventTypeAggregate => "event-type.aggregate",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub const ALL: [BackgroundTaskKind; 6] = [
        BackgroundTaskKind::EndpointRecover,
        BackgroundTaskKind::EndpointReplayMissing,
        BackgroundTaskKind::BulkReplay,
        BackgroundTaskKind::PurgeContent,
        BackgroundTaskKind::AppStats,
        BackgroundTaskKind::EventTypeAggregate,
    ];

    /// Whether the task spans the whole environment rather than one application (the usage
    /// statistics): only the admin sees it.
    pub fn is_environment_wide(self) -> bool {
        matches!(
            self,
            BackgroundTaskKind::AppStats | BackgroundTaskKind::EventTypeAggregate
        )
    }
}

/// Where a background task stands. The names are Svix's `BackgroundTaskStatus` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackgroundTaskStatus {
    Running,
    Finished,
    Failed,
}

impl BackgroundTaskStatus {
    pub fn name(self) -> &'static str {
        match self {
            BackgroundTaskStatus::Running => "running",
            BackgroundTaskStatus::Finished => "finished",
            BackgroundTaskStatus::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            BackgroundTaskStatus::Running,
            BackgroundTaskStatus::Finished,
            BackgroundTaskStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.name() == name)
    }
}

/// Which message/endpoint pairs a replay queues again, judged by the pair's latest delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaySelection {
    /// The latest delivery ran out of retries.
    Failed,
    /// The latest delivery is parked behind a disabled endpoint.
    Parked,
    /// Either of the above (re-queued), or waiting for a retry (made due now): what
    /// `endpoint.recover` catches up on.
    FailedParkedOrRetrying,
    /// Any finished delivery, successful or not (pending ones are left alone).
    AnyFinished,
    /// The latest delivery succeeded (Svix's bulk replay with `status: 0`).
    Succeeded,
    /// The latest delivery failed or is parked (Svix's `status: 2`, which shows parked
    /// deliveries as failed).
    FailedOrParked,
    /// Messages that were never queued to the endpoint although it accepts them
    /// (`replay-missing`; needs an endpoint).
    NeverQueued,
    /// The latest delivery is still pending (being retried): never replayed, only counted, so
    /// that a dry run can say what it leaves out.
    StillRetrying,
}

impl ReplaySelection {
    /// The states whose pairs are selected. A pending delivery counts only when it is waiting
    /// for a retry: attempted before, and not leased.
    pub fn delivery_states(self) -> &'static [DeliveryTaskState] {
        use DeliveryTaskState::{Failed, Parked, Pending, Succeeded};
        match self {
            ReplaySelection::Failed => &[Failed],
            ReplaySelection::Parked => &[Parked],
            ReplaySelection::FailedParkedOrRetrying => &[Failed, Parked, Pending],
            ReplaySelection::AnyFinished => &[Succeeded, Failed, Parked],
            ReplaySelection::Succeeded => &[Succeeded],
            ReplaySelection::FailedOrParked => &[Failed, Parked],
            ReplaySelection::NeverQueued => &[],
            ReplaySelection::StillRetrying => &[Pending],
        }
    }
}
