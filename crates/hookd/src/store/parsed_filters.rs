//! This node's parsed content filters, by the text of their `content_filter` column. Fan-out
//! reads every endpoint of the application for each message, so without this each message
//! would parse every filter again (JSON, then `ContentFilter::parse` with its bounds); with
//! it, a filter is parsed once per node and then shared. The stored text is the key, so there
//! is nothing to invalidate: a changed filter is new text (a new entry), and endpoints with the
//! same filter share one. Both backends hold one and hand it to their fan-out reads; it owns
//! no SQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::stored::{self, CorruptValue};
use crate::domain::ContentFilter;

/// At most this many filters are kept; past it the cache starts again empty (each filter is
/// parsed once more on its next fan-out).
const MAX_PARSED_FILTERS: usize = 4096;

/// Parsed filters by their stored text.
#[derive(Default)]
pub struct ParsedFilters {
    by_text: Mutex<HashMap<Box<str>, Arc<ContentFilter>>>,
}

impl ParsedFilters {
    /// The filter that the `content_filter` column `text` holds, parsed on first sight.
    pub fn get(&self, text: Option<&str>) -> Result<Option<Arc<ContentFilter>>, CorruptValue> {
        let Some(text) = text else {
            return Ok(None);
        };
        if let Some(parsed) = self.lock().get(text) {
            return Ok(Some(Arc::clone(parsed)));
        }
        let parsed = Arc::new(stored::parse_content_filter(text)?);
        let mut by_text = self.lock();
        if by_text.len() >= MAX_PARSED_FILTERS {
            by_text.clear();
        }
        by_text.insert(text.into(), Arc::clone(&parsed));
        Ok(Some(parsed))
    }

    /// How many parsed filters are held (for tests of the cache).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no filter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<ContentFilter>>> {
        self.by_text
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_parsed_once_and_shared_by_its_text() {
        let filters = ParsedFilters::default();
        let text = r#"{"amount":{"$gt":40}}"#;

        let first = filters.get(Some(text)).unwrap().unwrap();
        let second = filters.get(Some(text)).unwrap().unwrap();
        let other = filters
            .get(Some(r#"{"amount":{"$lt":40}}"#))
            .unwrap()
            .unwrap();

        assert!(Arc::ptr_eq(&first, &second));
        assert_ne!(first, other);
        assert_eq!(filters.len(), 2);
        assert_eq!(filters.get(None).unwrap(), None);
        assert!(filters.get(Some("{not json")).is_err());
        assert_eq!(filters.len(), 2, "what does not parse is not kept");
    }
}
