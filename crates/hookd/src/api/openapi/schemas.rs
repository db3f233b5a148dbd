//! The schemas of the domain's string types as the API writes them: ids, uids, event type
//! and channel names. `ToSchema` is implemented here rather than derived in `domain`, so the
//! domain stays free of the API's description; each schema states the rule its parser keeps.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{
    AppId, AttemptId, BackgroundTaskId, ChannelName, EndpointId, EventTypeName, InboundRequestId,
    IntegrationId, MessageId, SourceId, TokenId, Uid,
};

/// A string schema with a description and an optional pattern.
fn string(description: &str, pattern: Option<&str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .into()
}

macro_rules! id_schema {
    ($($name:ident => $prefix:literal),* $(,)?) => {
        $(
            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    string(
                        concat!("An id: `", $prefix, "` and a time-ordered base62 suffix."),
                        None,
                    )
                }
            }

            impl ToSchema for $name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($name))
                }
            }
        )*
    };
}

id_schema!(
    AppId => "app_",
    EndpointId => "ep_",
    MessageId => "msg_",
    AttemptId => "atmpt_",
    BackgroundTaskId => "qtask_",
    SourceId => "src_",
    InboundRequestId => "inreq_",
    TokenId => "tok_",
    IntegrationId => "integ_",
);

impl PartialSchema for Uid {
    fn schema() -> RefOr<Schema> {
        string(
            "A caller-chosen unique name: 1-256 characters of letters, digits, '_', '.' and '-', \
             not starting with an id prefix (app_, ep_, msg_).",
            Some("^[a-zA-Z0-9_.-]{1,256}$"),
        )
    }
}

impl ToSchema for Uid {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Uid")
    }
}

impl PartialSchema for EventTypeName {
    fn schema() -> RefOr<Schema> {
        string(
            "An event type name such as `invoice.paid`: 1-256 characters of letters, digits, \
             '_', '.' and '-'.",
            Some("^[a-zA-Z0-9_.-]{1,256}$"),
        )
    }
}

impl ToSchema for EventTypeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EventTypeName")
    }
}

impl PartialSchema for ChannelName {
    fn schema() -> RefOr<Schema> {
        string(
            "A channel name: 1-128 characters of letters, digits, '_', '.', ':' and '-'.",
            Some("^[a-zA-Z0-9_.:-]{1,128}$"),
        )
    }
}

impl ToSchema for ChannelName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ChannelName")
    }
}

/// A string that is one of `values` (a query value's parser takes exactly these).
pub fn string_enum(values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .into()
}

/// An integer that is one of `values`.
pub fn integer_enum(values: &[i64]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some(values.iter().copied()))
        .into()
}

/// An integer in `minimum..=maximum` (no upper bound when `None`).
pub fn integer_range(minimum: u32, maximum: Option<u32>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(minimum))
        .maximum(maximum)
        .into()
}
