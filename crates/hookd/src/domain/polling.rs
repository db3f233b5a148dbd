//! The nouns of polling endpoints' reads, parsed at the edge: the opaque `iterator` a poll
//! hands out and takes back, the page size, and a consumer's id.
//!
//! An iterator is a position in the application's commit order (what `store::StreamPosition`
//! holds: a commit number and a message id), written as base64url of `v1:<commit>:<id>` so
//! that clients treat it as opaque. It names no endpoint: a position means the same thing for
//! every reader of the application.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{InvalidInput, MessageId};

/// A position in an application's commit order, as a poll's `iterator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollIterator {
    /// The backend's commit-ordered number (0 for rows from before positions existed).
    pub commit: i64,
    /// The last message of `commit` already read; empty before every message of it.
    pub message_id: String,
}

/// The longest iterator text accepted: `v1:`, an i64, `:` and a message id, in base64.
const MAX_ITERATOR_LEN: usize = 128;

impl PollIterator {
    /// Before every message of the application.
    pub fn beginning() -> Self {
        PollIterator {
            commit: 0,
            message_id: String::new(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let invalid = || InvalidInput::new("iterator is not one that a poll returned");
        if text.len() > MAX_ITERATOR_LEN {
            return Err(invalid());
        }
        let decoded = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let mut parts = decoded.splitn(3, ':');
        let (Some("v1"), Some(commit), Some(message_id)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let commit: i64 = commit.parse().map_err(|_| invalid())?;
        let id_is_valid = message_id.is_empty()
            || message_id
                .strip_prefix(MessageId::PREFIX)
                .is_some_and(|suffix| {
                    !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
                });
        if commit < 0 || !id_is_valid {
            return Err(invalid());
        }
        Ok(PollIterator {
            commit,
            message_id: message_id.to_owned(),
        })
    }

    /// The text a client sends back.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", self.commit, self.message_id))
    }
}

/// How many messages one poll returns at most (Svix's bounds: 1 to 250).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollLimit(usize);

impl PollLimit {
    pub const MAX: usize = 250;
    pub const DEFAULT: PollLimit = PollLimit(50);

    pub fn parse(value: u64) -> Result<Self, InvalidInput> {
        match usize::try_from(value) {
            Ok(limit @ 1..=Self::MAX) => Ok(PollLimit(limit)),
            _ => Err(InvalidInput::new("limit must be between 1 and 250")),
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

/// A polling endpoint's consumer, named by its client: 1 to 256 letters, digits, `-`, `_`, `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerId(String);

impl ConsumerId {
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if value.is_empty() || value.len() > 256 || !valid_chars {
            return Err(InvalidInput::new(
                "consumer id must be 1 to 256 letters, digits, '-', '_' or '.'",
            ));
        }
        Ok(ConsumerId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_iterator(text: &str, expected: Option<(i64, &str)>) {
        let parsed = PollIterator::parse(text).ok();
        let parsed = parsed
            .as_ref()
            .map(|it| (it.commit, it.message_id.as_str()));
        assert_eq!(parsed, expected, "iterator {text:?}");
    }

    #[test]
    fn iterators_round_trip_and_garbage_is_refused() {
        for (commit, id) in [(0, ""), (7, "msg_2abcXYZ"), (i64::MAX, "msg_1")] {
            let iterator = PollIterator {
                commit,
                message_id: id.to_owned(),
            };
            check_iterator(&iterator.encode(), Some((commit, id)));
        }
        let encode = |raw: &str| URL_SAFE_NO_PAD.encode(raw);
        check_iterator("", None);
        check_iterator("not base64!", None);
        check_iterator(&encode("v2:1:msg_a"), None);
        check_iterator(&encode("v1:-1:"), None);
        check_iterator(&encode("v1:x:"), None);
        check_iterator(&encode("v1:1:ep_abc"), None);
        check_iterator(&encode("v1:1:msg_"), None);
        check_iterator(&encode("v1:1:msg_a b"), None);
        check_iterator(&encode("v1:1"), None);
        check_iterator(&"A".repeat(200), None);
    }

    #[test]
    fn limits_and_consumer_ids() {
        assert_eq!(PollLimit::parse(1).map(PollLimit::get), Ok(1));
        assert_eq!(PollLimit::parse(250).map(PollLimit::get), Ok(250));
        assert!(PollLimit::parse(0).is_err());
        assert!(PollLimit::parse(251).is_err());
        assert!(ConsumerId::parse("worker-1.a_b").is_ok());
        assert!(ConsumerId::parse("").is_err());
        assert!(ConsumerId::parse("has space").is_err());
        assert!(ConsumerId::parse(&"c".repeat(257)).is_err());
    }
}
