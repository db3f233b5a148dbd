//! The descriptions of the application routes under `/api/v1/app`: applications, endpoints,
//! messages, the delivery log and replays. Paths and methods are written as `api::mod`
//! declares them; the coverage test (`tests/it/openapi.rs`) holds the two lists equal.

use axum::http::Method;

use super::operation::{OperationDoc, empty_object, op};
use crate::api::applications::{
    ApplicationIn, ApplicationListQuery, ApplicationOut, ApplicationPatch, CreateApplicationQuery,
};
use crate::api::attempts::{AttemptFilterQuery, AttemptRender, MessageAttemptOut};
use crate::api::background_tasks::BackgroundTaskOut;
use crate::api::dead_letters::{DeadLetterOut, DeadLetterSummaryOut};
use crate::api::endpoint_examples::EventExampleIn;
use crate::api::endpoint_headers::{EndpointHeadersIn, EndpointHeadersOut, EndpointHeadersPatchIn};
use crate::api::endpoint_messages::{EndpointMessageOut, EndpointMessageQuery};
use crate::api::endpoint_secrets::{EndpointSecretOut, EndpointSecretRotateIn};
use crate::api::endpoint_stats::{
    EndpointAttemptStatsOut, EndpointStatsOut, StatsQuery, StatsWindowQuery, WindowStatsOut,
};
use crate::api::endpoint_transformations::{
    EndpointTransformationOut, EndpointTransformationPatch,
};
use crate::api::endpoints::{EndpointIn, EndpointOut, EndpointPatch};
use crate::api::message_filter::{EndpointFilterQuery, MessageFilterQuery};
use crate::api::message_logs::MessageEndpointOut;
use crate::api::message_precheck::{MessagePrecheckIn, MessagePrecheckOut};
use crate::api::messages::{MessageIn, MessageOut, WithContentQuery};
use crate::api::pagination::PageQuery;
use crate::api::polling::{
    ConsumerPollQuery, PollQuery, PollingEndpointConsumerSeekIn, PollingEndpointConsumerSeekOut,
    PollingEndpointOut,
};
use crate::api::replay::{BulkReplayIn, DryRunOut, WindowIn};

const APPS: &str = "Applications";
const ENDPOINTS: &str = "Endpoints";
const MESSAGES: &str = "Messages";
const LOG: &str = "Delivery log";
const REPLAY: &str = "Replays";
const POLLING: &str = "Polling endpoints";

/// Every application route, in the order `api::resource_routes` declares them.
pub fn operations() -> Vec<OperationDoc> {
    let mut all = applications();
    all.extend(endpoints());
    all.extend(transformations());
    all.extend(messages());
    all.extend(delivery_log());
    all.extend(replays());
    all.extend(polling());
    all
}

fn polling() -> Vec<OperationDoc> {
    let sink = "/api/v1/app/{app_id}/poller/{sink_id}";
    vec![
        op(
            Method::GET,
            sink,
            POLLING,
            "Poll a polling endpoint's messages",
        )
        .query::<PollQuery>()
        .json::<PollingEndpointOut>(200, "The messages after the iterator, in commit order"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}",
            POLLING,
            "Poll as a named consumer whose position the server keeps",
        )
        .query::<ConsumerPollQuery>()
        .json::<PollingEndpointOut>(200, "The messages after the consumer's position"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}/seek",
            POLLING,
            "Move a consumer's position to a time",
        )
        .body::<PollingEndpointConsumerSeekIn>()
        .json::<PollingEndpointConsumerSeekOut>(200, "The consumer's position now"),
    ]
}

fn transformations() -> Vec<OperationDoc> {
    let path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation";
    vec![
        op(
            Method::GET,
            path,
            ENDPOINTS,
            "Get the endpoint's transformation",
        )
        .json::<EndpointTransformationOut>(200, "The code and whether it runs"),
        op(
            Method::PATCH,
            path,
            ENDPOINTS,
            "Set, enable or remove the endpoint's transformation",
        )
        .body::<EndpointTransformationPatch>()
        .no_content("Changed"),
    ]
}

fn applications() -> Vec<OperationDoc> {
    let app = "/api/v1/app/{app_id}";
    vec![
        op(Method::GET, "/api/v1/app", APPS, "List applications")
            .query::<PageQuery>()
            .query::<ApplicationListQuery>()
            .page::<ApplicationOut>("A page of applications"),
        op(Method::POST, "/api/v1/app", APPS, "Create an application")
            .query::<CreateApplicationQuery>()
            .body::<ApplicationIn>()
            .json::<ApplicationOut>(201, "Created")
            .json::<ApplicationOut>(200, "The existing application (`get_if_exists`)"),
        op(Method::GET, app, APPS, "Get an application")
            .json::<ApplicationOut>(200, "The application"),
        op(Method::PUT, app, APPS, "Update or create an application")
            .body::<ApplicationIn>()
            .json::<ApplicationOut>(200, "Updated")
            .json::<ApplicationOut>(201, "Created"),
        op(
            Method::PATCH,
            app,
            APPS,
            "Change some fields of an application",
        )
        .body::<ApplicationPatch>()
        .json::<ApplicationOut>(200, "Updated"),
        op(Method::DELETE, app, APPS, "Delete an application").no_content("Deleted"),
    ]
}

fn endpoints() -> Vec<OperationDoc> {
    let list = "/api/v1/app/{app_id}/endpoint";
    let one = "/api/v1/app/{app_id}/endpoint/{endpoint_id}";
    let secret = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret";
    let headers = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers";
    vec![
        op(Method::GET, list, ENDPOINTS, "List endpoints")
            .query::<PageQuery>()
            .page::<EndpointOut>("A page of endpoints"),
        op(Method::POST, list, ENDPOINTS, "Create an endpoint")
            .body::<EndpointIn>()
            .json::<EndpointOut>(201, "Created"),
        op(Method::GET, one, ENDPOINTS, "Get an endpoint").json::<EndpointOut>(200, "The endpoint"),
        op(Method::PUT, one, ENDPOINTS, "Update or create an endpoint")
            .body::<EndpointIn>()
            .json::<EndpointOut>(200, "Updated")
            .json::<EndpointOut>(201, "Created"),
        op(
            Method::PATCH,
            one,
            ENDPOINTS,
            "Change some fields of an endpoint",
        )
        .body::<EndpointPatch>()
        .json::<EndpointOut>(200, "Updated"),
        op(Method::DELETE, one, ENDPOINTS, "Delete an endpoint").no_content("Deleted"),
        op(
            Method::GET,
            secret,
            ENDPOINTS,
            "Get the endpoint's signing secret",
        )
        .json::<EndpointSecretOut>(200, "The current secret"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
            ENDPOINTS,
            "Rotate the signing secret",
        )
        .optional_body::<EndpointSecretRotateIn>()
        .json::<EndpointSecretOut>(200, "The new secret"),
        op(
            Method::GET,
            headers,
            ENDPOINTS,
            "Get the endpoint's custom headers",
        )
        .json::<EndpointHeadersOut>(200, "The headers; credentials only named"),
        op(
            Method::PUT,
            headers,
            ENDPOINTS,
            "Replace the custom headers",
        )
        .body::<EndpointHeadersIn>()
        .no_content("Replaced"),
        op(
            Method::PATCH,
            headers,
            ENDPOINTS,
            "Set or remove some custom headers",
        )
        .body::<EndpointHeadersPatchIn>()
        .no_content("Changed"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example",
            ENDPOINTS,
            "Send an event type's example to this endpoint only",
        )
        .body::<EventExampleIn>()
        .json::<MessageOut>(202, "Accepted: the message and its one delivery are stored"),
    ]
}

fn messages() -> Vec<OperationDoc> {
    vec![
        op(
            Method::GET,
            "/api/v1/app/{app_id}/msg",
            MESSAGES,
            "List messages",
        )
        .query::<PageQuery>()
        .query::<MessageFilterQuery>()
        .query::<WithContentQuery>()
        .page::<MessageOut>("A page of messages, newest first"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/msg",
            MESSAGES,
            "Send a message",
        )
        .query::<WithContentQuery>()
        .body::<MessageIn>()
        .json::<MessageOut>(202, "Accepted: the message and its deliveries are stored"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/msg/precheck/active",
            MESSAGES,
            "Ask whether a message would reach any endpoint",
        )
        .body::<MessagePrecheckIn>()
        .json::<MessagePrecheckOut>(200, "Whether an enabled endpoint accepts it"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/msg/{msg_id}",
            MESSAGES,
            "Get a message",
        )
        .query::<WithContentQuery>()
        .json::<MessageOut>(200, "The message"),
    ]
}

fn delivery_log() -> Vec<OperationDoc> {
    vec![
        op(
            Method::DELETE,
            "/api/v1/app/{app_id}/msg/{msg_id}/content",
            LOG,
            "Expunge a message's payload",
        )
        .no_content("Expunged"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
            LOG,
            "List the endpoints a message was sent to",
        )
        .query::<PageQuery>()
        .page::<MessageEndpointOut>("A page of destinations"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
            LOG,
            "Get one attempt",
        )
        .query::<AttemptRender>()
        .json::<MessageAttemptOut>(200, "The attempt"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/dead-letter",
            LOG,
            "List dead letters",
        )
        .query::<PageQuery>()
        .query::<MessageFilterQuery>()
        .query::<EndpointFilterQuery>()
        .page::<DeadLetterOut>("A page of failed or parked deliveries"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/dead-letter/summary",
            LOG,
            "Count dead letters",
        )
        .json::<DeadLetterSummaryOut>(200, "Counts in total, by endpoint and by event type"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats",
            LOG,
            "Count an endpoint's deliveries",
        )
        .query::<StatsQuery>()
        .json::<EndpointStatsOut>(200, "Counts by status"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats/window",
            LOG,
            "An endpoint's attempts in time windows",
        )
        .query::<StatsWindowQuery>()
        .json::<WindowStatsOut>(200, "Attempts, successes and latency per window"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/attempt-stats",
            LOG,
            "Count an endpoint's attempts by outcome",
        )
        .query::<StatsQuery>()
        .json::<EndpointAttemptStatsOut>(200, "Attempts in the window, widened to whole hours"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
            LOG,
            "List the messages an endpoint was sent",
        )
        .query::<PageQuery>()
        .query::<MessageFilterQuery>()
        .query::<EndpointMessageQuery>()
        .page::<EndpointMessageOut>("A page of messages with their status there, newest first"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
            LOG,
            "Resend a message to one endpoint",
        )
        .inline(202, "Queued", empty_object()),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
            LOG,
            "List a message's attempts",
        )
        .query::<PageQuery>()
        .query::<MessageFilterQuery>()
        .query::<AttemptFilterQuery>()
        .query::<EndpointFilterQuery>()
        .query::<AttemptRender>()
        .page::<MessageAttemptOut>("A page of attempts"),
        op(
            Method::GET,
            "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
            LOG,
            "List an endpoint's attempts",
        )
        .query::<PageQuery>()
        .query::<MessageFilterQuery>()
        .query::<AttemptFilterQuery>()
        .query::<EndpointFilterQuery>()
        .query::<AttemptRender>()
        .page::<MessageAttemptOut>("A page of attempts"),
    ]
}

fn replays() -> Vec<OperationDoc> {
    vec![
        op(
            Method::POST,
            "/api/v1/app/{app_id}/msg/{msg_id}/replay",
            REPLAY,
            "Replay a message to its endpoints",
        )
        .inline(202, "Queued", empty_object()),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
            REPLAY,
            "Recover an endpoint's failed deliveries",
        )
        .body::<WindowIn>()
        .json::<BackgroundTaskOut>(202, "The task that queues them"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing",
            REPLAY,
            "Send an endpoint the messages it never got",
        )
        .body::<WindowIn>()
        .json::<BackgroundTaskOut>(202, "The task that queues them"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/replay",
            REPLAY,
            "Replay deliveries by filter",
        )
        .body::<BulkReplayIn>()
        .json::<BackgroundTaskOut>(202, "The task that queues them")
        .json::<DryRunOut>(200, "With `dryRun`: what a real run would queue"),
    ]
}
