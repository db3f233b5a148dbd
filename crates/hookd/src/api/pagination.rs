//! List pagination in Svix's shape: `?limit=&iterator=&order=` in, `{"data", "iterator",
//! "prevIterator", "done"}` out. The cursors themselves are opaque strings made by the store.

use serde::{Deserialize, Serialize};

use utoipa::openapi::{RefOr, schema::Schema};

use super::openapi::schemas;
use super::params::{QueryValue, integer, optional};
use crate::store::{Order, Page, PageRequest};

/// Items per page when the client does not say.
pub const DEFAULT_LIMIT: usize = 50;
/// Larger requested limits are lowered to this, as Svix does.
pub const MAX_LIMIT: usize = 250;

/// `limit`, `iterator` and `order`: the paging part of every listing's query (a `QueryPart`
/// beside the listing's filters).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    limit: Option<Limit>,
    #[serde(default, deserialize_with = "optional")]
    iterator: Option<String>,
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    order: Option<Order>,
}

impl PageQuery {
    /// The page to read, in `default_order` unless the client chose one.
    pub fn request(self, default_order: Order) -> PageRequest {
        PageRequest {
            limit: self.limit.map_or(DEFAULT_LIMIT, |Limit(limit)| limit),
            iterator: self.iterator,
            order: self.order.unwrap_or(default_order),
        }
    }
}

/// A page size: at least 1, and lowered to `MAX_LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit(usize);

impl QueryValue for Limit {
    fn parse_query(text: &str) -> Result<Self, String> {
        match integer::<usize>(text)? {
            0 => Err("must be at least 1".to_owned()),
            limit => Ok(Limit(limit.min(MAX_LIMIT))),
        }
    }
}

impl utoipa::PartialSchema for Limit {
    fn schema() -> RefOr<Schema> {
        schemas::integer_range(1, None)
    }
}

impl QueryValue for Order {
    fn parse_query(text: &str) -> Result<Self, String> {
        match text {
            "ascending" => Ok(Order::Ascending),
            "descending" => Ok(Order::Descending),
            _ => Err("must be ascending or descending".to_owned()),
        }
    }
}

impl utoipa::PartialSchema for Order {
    fn schema() -> RefOr<Schema> {
        schemas::string_enum(&["ascending", "descending"])
    }
}

/// One page as sent to the client. `iterator` and `prevIterator` are always present (null at
/// the ends) because the SDK's list models require them.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

/// Renders each item of a store page with `render`, keeping the cursors.
pub fn render_page<T, O>(page: Page<T>, render: impl FnMut(T) -> O) -> ListResponse<O> {
    ListResponse {
        data: page.items.into_iter().map(render).collect(),
        iterator: page.iterator,
        prev_iterator: page.prev_iterator,
        done: page.done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::api::params::ApiQuery;

    fn check_request(query: &str, expected: Result<PageRequest, &str>) {
        let actual = ApiQuery::<PageQuery>::parse(query)
            .map(|page| page.request(Order::Descending))
            .map_err(|error| error.body()["detail"][0]["loc"][1].clone());
        let expected = expected.map_err(serde_json::Value::from);
        assert_eq!(actual, expected, "{query}");
    }

    #[test]
    fn page_requests() {
        let request = |limit, iterator: Option<&str>, order| PageRequest {
            limit,
            iterator: iterator.map(str::to_owned),
            order,
        };
        check_request("", Ok(request(50, None, Order::Descending)));
        check_request("limit=10", Ok(request(10, None, Order::Descending)));
        check_request("limit=1000", Ok(request(250, None, Order::Descending)));
        check_request(
            "limit=5&iterator=msg_1&order=ascending",
            Ok(request(5, Some("msg_1"), Order::Ascending)),
        );
        check_request("iterator=", Ok(request(50, None, Order::Descending)));
        check_request("limit=0", Err("limit"));
        check_request("limit=-3", Err("limit"));
        check_request("order=sideways", Err("order"));
    }

    #[test]
    fn pages_render_with_all_cursor_fields() {
        let page = Page {
            items: vec![1, 2],
            iterator: Some("next".to_owned()),
            prev_iterator: None,
            done: false,
        };
        let rendered = serde_json::to_value(render_page(page, |n| n * 10)).unwrap();
        assert_eq!(
            rendered,
            json!({"data": [10, 20], "iterator": "next", "prevIterator": null, "done": false})
        );
    }
}
