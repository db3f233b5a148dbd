//! Listing pages that carry payloads: the byte budget that ends such a page early, so one
//! answer never holds more than `LIST_PAYLOAD_BUDGET` of payloads however large its limit.

use crate::store::{Page, PageRequest};

/// Payload bytes that one listing answer holds at most (besides its count limit). Past it the
/// page ends early: `done` is false and the iterator names the last item shown, so a client
/// that pages on gets the rest, and `limit=250` over 1 MiB payloads is not a 250 MB answer.
pub const LIST_PAYLOAD_BUDGET: usize = 8 * 1024 * 1024;

/// Whether a page request walks backwards (`iterator` from a `prevIterator`).
pub fn is_backwards(page: &PageRequest) -> bool {
    page.iterator
        .as_deref()
        .is_some_and(|iterator| iterator.starts_with('-'))
}

/// Ends a forward `page` after its first `keep` items: the iterator then names the last item
/// kept and the page is not done. Does nothing when `keep` covers the page.
pub fn end_page_after<T>(page: &mut Page<T>, keep: usize, key: impl Fn(&T) -> String) {
    if keep >= page.items.len() {
        return;
    }
    page.items.truncate(keep);
    page.iterator = page.items.last().map(key);
    page.done = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_ended_early_names_its_last_item_and_is_not_done() {
        let page = || Page {
            items: vec!["a", "b", "c"],
            iterator: Some("c".to_owned()),
            prev_iterator: Some("-a".to_owned()),
            done: true,
        };
        let mut cut = page();
        end_page_after(&mut cut, 2, |item| item.to_string());
        assert_eq!(cut.items, ["a", "b"]);
        assert_eq!(cut.iterator.as_deref(), Some("b"));
        assert_eq!(cut.prev_iterator.as_deref(), Some("-a"));
        assert!(!cut.done);
        let mut whole = page();
        end_page_after(&mut whole, 3, |item| item.to_string());
        assert_eq!(whole, page());
    }
}
