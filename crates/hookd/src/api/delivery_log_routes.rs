//! The delivery-log routes, declared with their scopes (every one `AppRead` but expunging a
//! message's or an attempt's content): where a message went, one attempt, the dead-letter view, an endpoint's
//! statistics and the messages it was sent. Split from `api::mod` only for length; the route
//! table is still one (`api::route_table`).

use super::scoped_routes::Need::WholeApplication;
use super::scoped_routes::Scope::{AppRead, AppWrite};
use super::scoped_routes::{ScopedRoutes, delete, get};
use super::{API_PREFIX, dead_letters, endpoint_messages, endpoint_stats, erasure, message_logs};

/// The delivery-log calls: a message's destinations and attempts, expunging content, the
/// dead-letter view, endpoint statistics, the messages an endpoint was sent.
pub fn routes() -> ScopedRoutes {
    ScopedRoutes::new(API_PREFIX)
        .route(
            "/app/{app_id}/msg/{msg_id}/content",
            delete(AppWrite(WholeApplication), message_logs::expunge_content),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/endpoint",
            get(AppRead, message_logs::list_destinations),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
            get(AppRead, message_logs::get_attempt),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
            delete(AppWrite(WholeApplication), erasure::expunge_attempt),
        )
        .route(
            "/app/{app_id}/dead-letter",
            get(AppRead, dead_letters::list),
        )
        .route(
            "/app/{app_id}/dead-letter/summary",
            get(AppRead, dead_letters::summary),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/stats",
            get(AppRead, endpoint_stats::get),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/stats/window",
            get(AppRead, endpoint_stats::window),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/attempt-stats",
            get(AppRead, endpoint_stats::attempt_stats),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/msg",
            get(AppRead, endpoint_messages::list),
        )
}
