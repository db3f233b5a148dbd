//! The descriptions of erasure (bulk and whole-application expunge, an attempt's content),
//! Svix's endpoint bulk replay and the usage statistics. Paths and methods are written as
//! `api::mod` declares them; the coverage test (`tests/it/openapi.rs`) holds the two lists
//! equal.

use axum::http::Method;

use super::operation::{OperationDoc, op};
use crate::api::background_tasks::BackgroundTaskOut;
use crate::api::endpoint_bulk_replay::SvixBulkReplayIn;
use crate::api::erasure::{BulkExpungeContentsIn, BulkExpungeContentsOut};
use crate::api::messages::{MessageOut, WithContentQuery};
use crate::api::usage_stats::{AppUsageStatsIn, AppUsageStatsOut};

const ERASURE: &str = "Erasure";
const REPLAY: &str = "Replays";
const STATS: &str = "Statistics";

/// Every route of this group.
pub fn operations() -> Vec<OperationDoc> {
    let bulk_expunge = "/api/v1/app/{app_id}/msg/bulk-expunge";
    let expunge_all = "/api/v1/app/{app_id}/msg/expunge-all-contents";
    vec![
        op(
            Method::GET,
            bulk_expunge,
            ERASURE,
            "Get the message whose uid is `bulk-expunge`",
        )
        .query::<WithContentQuery>()
        .json::<MessageOut>(200, "The message"),
        op(
            Method::POST,
            bulk_expunge,
            ERASURE,
            "Expunge the payloads of several messages",
        )
        .body::<BulkExpungeContentsIn>()
        .json::<BulkExpungeContentsOut>(200, "Each id or uid: `expunged` or `not-found`"),
        op(
            Method::GET,
            expunge_all,
            ERASURE,
            "Get the message whose uid is `expunge-all-contents`",
        )
        .query::<WithContentQuery>()
        .json::<MessageOut>(200, "The message"),
        op(
            Method::POST,
            expunge_all,
            ERASURE,
            "Expunge every payload of an application",
        )
        .json::<BackgroundTaskOut>(202, "The task (`application.purge_content`)"),
        op(
            Method::DELETE,
            "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
            ERASURE,
            "Expunge an attempt's response body",
        )
        .no_content("Expunged"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay",
            REPLAY,
            "Replay an endpoint's deliveries (Svix's bulk replay)",
        )
        .body::<SvixBulkReplayIn>()
        .json::<BackgroundTaskOut>(202, "The task that queues them"),
        op(
            Method::POST,
            "/api/v1/stats/usage/app",
            STATS,
            "Count each application's message destinations",
        )
        .body::<AppUsageStatsIn>()
        .json::<AppUsageStatsOut>(202, "The task (`application.stats`)"),
        op(
            Method::PUT,
            "/api/v1/stats/usage/event-types",
            STATS,
            "List the event types each application's endpoints take",
        )
        .json::<BackgroundTaskOut>(202, "The task (`event-type.aggregate`)"),
    ]
}
