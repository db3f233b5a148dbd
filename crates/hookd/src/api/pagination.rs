//! List pagination in Svix's shape: `?limit=&iterator=&order=` in, `{"data", "iterator",
//! "prevIterator", "done"}` out. The cursors themselves are opaque strings made by the store.

use serde::Serialize;

use super::error::{ApiError, ApiResult};
use super::params::QueryParams;
use crate::store::{Order, Page, PageRequest};

/// Items per page when the client does not say.
pub const DEFAULT_LIMIT: usize = 50;
/// Larger requested limits are lowered to this, as Svix does.
pub const MAX_LIMIT: usize = 250;

/// Reads `limit`, `iterator` and `order` from the query string.
pub fn page_request(query: &QueryParams, default_order: Order) -> ApiResult<PageRequest> {
    let limit = match query.number::<usize>("limit")? {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(ApiError::invalid_query("limit", "must be at least 1")),
        Some(limit) => limit.min(MAX_LIMIT),
    };
    let order = match query.get("order") {
        None => default_order,
        Some("ascending") => Order::Ascending,
        Some("descending") => Order::Descending,
        Some(_) => {
            return Err(ApiError::invalid_query(
                "order",
                "must be ascending or descending",
            ));
        }
    };
    Ok(PageRequest {
        limit,
        iterator: query.get("iterator").map(str::to_owned),
        order,
    })
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

    fn check_request(query: &str, expected: Result<PageRequest, ()>) {
        let actual = page_request(&QueryParams::parse(query), Order::Descending).map_err(|_| ());
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
        check_request("limit=0", Err(()));
        check_request("limit=-3", Err(()));
        check_request("order=sideways", Err(()));
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
