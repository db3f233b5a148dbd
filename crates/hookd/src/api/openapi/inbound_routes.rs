//! The descriptions of the inbound gateway's routes: sources, their ingest endpoints and
//! received requests under `/ingest/api/v1`, and the ingest URL providers post to.

use axum::http::Method;

use super::operation::{OperationDoc, empty_object, object_of, op, string};
use crate::api::endpoint_headers::{EndpointHeadersIn, EndpointHeadersOut};
use crate::api::endpoint_secrets::{EndpointSecretOut, EndpointSecretRotateIn};
use crate::api::endpoint_transformations::{
    EndpointTransformationOut, EndpointTransformationPatch,
};
use crate::api::endpoints::{EndpointIn, EndpointOut};
use crate::api::inbound::{InboundRequestOut, RotateTokenOut, SourceIn, SourceOut};
use crate::api::pagination::PageQuery;

const SOURCES: &str = "Inbound sources";

/// Every route of the inbound gateway but its event stream.
pub fn operations() -> Vec<OperationDoc> {
    let mut all = inbound_sources();
    all.extend(inbound_endpoints());
    all
}

fn inbound_sources() -> Vec<OperationDoc> {
    let one = "/ingest/api/v1/source/{source_id}";
    let requests = "/ingest/api/v1/source/{source_id}/request";
    vec![
        op(
            Method::GET,
            "/ingest/api/v1/source",
            SOURCES,
            "List inbound sources",
        )
        .query::<PageQuery>()
        .page::<SourceOut>("A page of sources"),
        op(
            Method::POST,
            "/ingest/api/v1/source",
            SOURCES,
            "Create an inbound source",
        )
        .body::<SourceIn>()
        .json::<SourceOut>(201, "Created"),
        op(Method::GET, one, SOURCES, "Get an inbound source").json::<SourceOut>(200, "The source"),
        op(
            Method::PUT,
            one,
            SOURCES,
            "Update or create an inbound source",
        )
        .body::<SourceIn>()
        .json::<SourceOut>(200, "Updated")
        .json::<SourceOut>(201, "Created"),
        op(Method::DELETE, one, SOURCES, "Delete an inbound source").no_content("Deleted"),
        op(
            Method::POST,
            "/ingest/api/v1/source/{source_id}/token/rotate",
            SOURCES,
            "Rotate the source's ingest token",
        )
        .json::<RotateTokenOut>(200, "The new ingest URL"),
        op(
            Method::GET,
            requests,
            SOURCES,
            "List the requests a source received",
        )
        .query::<PageQuery>()
        .page::<InboundRequestOut>("A page of received requests"),
        op(
            Method::GET,
            "/ingest/api/v1/source/{source_id}/request/{request_id}",
            SOURCES,
            "Get one received request",
        )
        .json::<InboundRequestOut>(200, "The request"),
        op(
            Method::POST,
            "/ingest/api/v1/source/{source_id}/request/{request_id}/replay",
            SOURCES,
            "Forward an accepted request again",
        )
        .inline(202, "Queued", empty_object()),
        op(
            Method::POST,
            "/ingest/in/{token}",
            SOURCES,
            "Receive a provider's webhook (the ingest URL)",
        )
        .inline(
            200,
            "Stored and forwarded, a duplicate, or Slack's challenge answered",
            received(),
        )
        .inline(
            401,
            "The signature did not verify (`code` says why)",
            rejected(),
        )
        .inline(
            415,
            "A body that is not UTF-8 text cannot be forwarded",
            rejected(),
        ),
    ]
}

fn inbound_endpoints() -> Vec<OperationDoc> {
    let list = "/ingest/api/v1/source/{source_id}/endpoint";
    let one = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}";
    let headers = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers";
    let transformation = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation";
    vec![
        op(
            Method::GET,
            list,
            SOURCES,
            "List a source's ingest endpoints",
        )
        .query::<PageQuery>()
        .page::<EndpointOut>("A page of endpoints"),
        op(Method::POST, list, SOURCES, "Create an ingest endpoint")
            .body::<EndpointIn>()
            .json::<EndpointOut>(201, "Created"),
        op(Method::GET, one, SOURCES, "Get an ingest endpoint")
            .json::<EndpointOut>(200, "The endpoint"),
        op(
            Method::PUT,
            one,
            SOURCES,
            "Update or create an ingest endpoint",
        )
        .body::<EndpointIn>()
        .json::<EndpointOut>(200, "Updated")
        .json::<EndpointOut>(201, "Created"),
        op(Method::DELETE, one, SOURCES, "Delete an ingest endpoint").no_content("Deleted"),
        op(
            Method::GET,
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret",
            SOURCES,
            "Get an ingest endpoint's secret",
        )
        .json::<EndpointSecretOut>(200, "The current secret"),
        op(
            Method::POST,
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret/rotate",
            SOURCES,
            "Rotate an ingest endpoint's secret",
        )
        .optional_body::<EndpointSecretRotateIn>()
        .json::<EndpointSecretOut>(200, "The new secret"),
        op(
            Method::GET,
            headers,
            SOURCES,
            "Get an ingest endpoint's custom headers",
        )
        .json::<EndpointHeadersOut>(200, "The headers; credentials only named"),
        op(
            Method::PUT,
            headers,
            SOURCES,
            "Replace an ingest endpoint's custom headers",
        )
        .body::<EndpointHeadersIn>()
        .no_content("Replaced"),
        op(
            Method::GET,
            transformation,
            SOURCES,
            "Get an ingest endpoint's transformation",
        )
        .json::<EndpointTransformationOut>(200, "The code and whether it runs"),
        op(
            Method::PATCH,
            transformation,
            SOURCES,
            "Set, enable or remove an ingest endpoint's transformation",
        )
        .body::<EndpointTransformationPatch>()
        .no_content("Changed"),
    ]
}

/// What the ingest URL answers when it stored a request: `status` and `msgId`, or Slack's
/// `challenge`.
fn received() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(object_of(&[("status", string()), ("msgId", string())]))
        .item(object_of(&[("challenge", string())]))
        .into()
}

/// A refusal of the ingest URL: the general error shape, with the reason as its `code`.
fn rejected() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ApiError"))
}
