//! The query parts that the listings of messages, attempts and dead letters share: the message
//! filters (`event_types`, `channel`, `tag`, `before`, `after`) and one endpoint
//! (`endpoint_id`).

use serde::Deserialize;

use super::params::{list_of, optional};
use crate::domain::{ChannelName, EventTypeName, Timestamp};
use crate::store::MessageFilter;

/// Which messages a listing shows.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageFilterQuery {
    /// Any of these event types (repeated or comma-separated).
    #[serde(default, alias = "event_types[]", deserialize_with = "list_of")]
    #[param(inline)]
    event_types: Vec<EventTypeName>,
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    channel: Option<ChannelName>,
    #[serde(default, deserialize_with = "optional")]
    tag: Option<String>,
    /// Created before this time.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>, format = DateTime)]
    before: Option<Timestamp>,
    /// Created after this time.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>, format = DateTime)]
    after: Option<Timestamp>,
}

impl MessageFilterQuery {
    pub fn filter(self) -> MessageFilter {
        MessageFilter {
            event_types: Some(self.event_types).filter(|types| !types.is_empty()),
            channel: self.channel,
            tag: self.tag,
            before: self.before,
            after: self.after,
        }
    }
}

/// One endpoint of the application (its id or uid), resolved by the operation.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndpointFilterQuery {
    #[serde(default, deserialize_with = "optional")]
    pub endpoint_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::ApiQuery;

    #[test]
    fn list_filters() {
        let parse = ApiQuery::<MessageFilterQuery>::parse;
        let filter =
            parse("event_types=a.b,c&event_types=d&channel=eu&before=2024-01-01T00:00:00Z")
                .unwrap()
                .filter();
        assert_eq!(filter.event_types.unwrap().len(), 3);
        assert_eq!(filter.channel.unwrap().as_str(), "eu");
        assert!(filter.before.is_some() && filter.after.is_none());
        let alias = parse("event_types[]=a&event_types[]=b").unwrap().filter();
        assert_eq!(alias.event_types.unwrap().len(), 2);
        let error = parse("channel=a%20b").unwrap_err().body();
        assert_eq!(
            error["detail"][0]["loc"],
            serde_json::json!(["query", "channel"])
        );
        assert!(parse("").unwrap().filter().event_types.is_none());
    }
}
