//! Paging that both backends share because it is not SQL: how a page request becomes a keyset
//! scan over a sortable key, and how the fetched rows become a page in Svix's shape.

/// Direction of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// One page request: at most `limit` items after the cursor. An `iterator` starting with `-`
/// (a `prevIterator`) pages backwards from that item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub iterator: Option<String>,
    pub order: Order,
}

/// One page of results in Svix's shape: `iterator` continues forward, `prev_iterator` backward.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

/// The rows of one table that belong to one parent (an application's tokens and integrations,
/// a source's requests), listed a page at a time by id: what each backend's
/// `rows::page_of_children` reads.
#[derive(Debug, Clone, Copy)]
pub struct Children<'a> {
    pub columns: &'a str,
    pub table: &'a str,
    pub parent_column: &'a str,
}

/// A page request as a keyset scan over a sortable key column: compare the key with
/// `position` using `comparison`, sort `direction`, fetch one more row than the limit (to know
/// whether there are more), and reverse the rows afterwards when paging backwards.
pub struct PagePlan {
    pub position: Option<String>,
    pub comparison: &'static str,
    pub direction: &'static str,
    pub fetch: i64,
    reverse: bool,
    limit: usize,
}

impl PagePlan {
    pub fn new(page: &PageRequest) -> Self {
        let backwards = page
            .iterator
            .as_deref()
            .is_some_and(|iterator| iterator.starts_with('-'));
        let position = page
            .iterator
            .as_deref()
            .map(|iterator| iterator.trim_start_matches('-').to_owned());
        // Walking forward in ascending order means keys greater than the cursor, and so on.
        let ascending_scan = matches!(
            (page.order, backwards),
            (Order::Ascending, false) | (Order::Descending, true)
        );
        let (comparison, direction) = if ascending_scan {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        PagePlan {
            position,
            comparison,
            direction,
            fetch: i64::try_from(page.limit)
                .unwrap_or(i64::MAX)
                .saturating_add(1),
            reverse: backwards,
            limit: page.limit,
        }
    }

    /// Turns the fetched rows (one more than the limit, when there are more) into a page.
    pub fn page<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        if self.reverse {
            rows.reverse();
        }
        let iterator = rows.last().map(&key);
        let prev_iterator = rows.first().map(|first| format!("-{}", key(first)));
        // Paging backwards, "done" means there is nothing further back; Svix reports the same.
        Page {
            items: rows,
            iterator,
            prev_iterator,
            done: !more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_forward_and_back() {
        let request = |iterator: Option<&str>| PageRequest {
            limit: 2,
            iterator: iterator.map(str::to_owned),
            order: Order::Ascending,
        };
        let forward = PagePlan::new(&request(Some("k2")));
        assert_eq!((forward.comparison, forward.direction), (">", "ASC"));
        let page = forward.page(vec!["k3", "k4", "k5"], |key| key.to_string());
        assert_eq!(page.items, ["k3", "k4"]);
        assert!(!page.done);
        assert_eq!(page.iterator.as_deref(), Some("k4"));
        assert_eq!(page.prev_iterator.as_deref(), Some("-k3"));

        let backward = PagePlan::new(&request(Some("-k3")));
        assert_eq!((backward.comparison, backward.direction), ("<", "DESC"));
        let page = backward.page(vec!["k2", "k1"], |key| key.to_string());
        assert_eq!(
            page.items,
            ["k1", "k2"],
            "reversed back into ascending order"
        );
        assert!(page.done);
    }
}
