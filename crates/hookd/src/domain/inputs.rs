//! Parsed inputs: the names and URLs a caller sends, each built only through its `parse`
//! function so that code past the API edge never re-checks a string.

use serde::{Deserialize, Serialize};

use super::ids::{AppId, EndpointId, MessageId};
use super::limits;

/// An input value that failed to parse; `field` names the JSON field, `message` says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub message: String,
}

impl InvalidInput {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        InvalidInput {
            message: message.into(),
        }
    }
}

/// A caller-chosen unique name for an application or endpoint (Svix `uid`): 1-256 characters of
/// `[a-zA-Z0-9_.-]`. It may not start with an id prefix, so a path segment is never ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uid(String);

impl Uid {
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        if value.is_empty() || value.len() > 256 {
            return Err(InvalidInput::new("uid must be 1 to 256 characters long"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(InvalidInput::new(
                "uid may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        limits::check_path_segment(value, "uid")?;
        let id_prefixes = [AppId::PREFIX, EndpointId::PREFIX, MessageId::PREFIX];
        if id_prefixes.iter().any(|prefix| value.starts_with(prefix)) {
            return Err(InvalidInput::new(
                "uid may not start with an id prefix (app_, ep_, msg_)",
            ));
        }
        Ok(Uid(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An event type name such as `invoice.paid`: 1-256 characters of `[a-zA-Z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventTypeName(String);

impl EventTypeName {
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        if value.is_empty() || value.len() > 256 {
            return Err(InvalidInput::new(
                "event type name must be 1 to 256 characters long",
            ));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(InvalidInput::new(
                "event type name may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        limits::check_path_segment(value, "event type name")?;
        Ok(EventTypeName(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A channel name, used to route messages to the endpoints that subscribe to it: 1-128
/// characters of `[a-zA-Z0-9_.:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelName(String);

impl ChannelName {
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        if value.is_empty() || value.len() > 128 {
            return Err(InvalidInput::new(
                "channel must be 1 to 128 characters long",
            ));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'))
        {
            return Err(InvalidInput::new(
                "channel may contain only letters, digits, '_', '.', ':' and '-'",
            ));
        }
        Ok(ChannelName(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An endpoint URL that is syntactically valid http(s) with a host, or `polling:`, the mark
/// of a polling endpoint (nothing is ever sent to it: its consumer reads its messages through
/// `/app/{app_id}/poller/{endpoint_id}`). Whether an http(s) target address is allowed (the
/// SSRF guard) depends on server policy and is checked separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    /// The longest URL kept, as written and as normalized.
    pub const MAX_LEN: usize = 2048;

    /// The URL of a polling endpoint, exactly as it is written and kept.
    pub const POLLING: &'static str = "polling:";

    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        if value == Self::POLLING {
            let polling = url::Url::parse(Self::POLLING)
                .map_err(|error| InvalidInput::new(format!("invalid url: {error}")))?;
            return Ok(EndpointUrl(polling));
        }
        let too_long = || InvalidInput::new("url must be at most 2048 characters");
        if value.len() > Self::MAX_LEN {
            return Err(too_long());
        }
        let url = url::Url::parse(value)
            .map_err(|error| InvalidInput::new(format!("invalid url: {error}")))?;
        // Normalizing percent-encodes what needs it, which can triple the length; the store
        // parses the kept text again on every read, so it must pass this very check.
        if url.as_str().len() > Self::MAX_LEN {
            return Err(too_long());
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InvalidInput::new(
                "url scheme must be http or https (or the url `polling:` for a polling endpoint)",
            ));
        }
        if url.host().is_none() {
            return Err(InvalidInput::new("url must have a host"));
        }
        Ok(EndpointUrl(url))
    }

    /// Whether this is a polling endpoint's `polling:`: never sent to, never resolved.
    pub fn is_polling(&self) -> bool {
        self.0.as_str() == Self::POLLING
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_uid(input: &str, ok: bool) {
        assert_eq!(Uid::parse(input).is_ok(), ok, "uid {input:?}");
    }

    #[test]
    fn uids() {
        check_uid("my-app_1.2", true);
        check_uid("", false);
        check_uid("has space", false);
        check_uid("slash/no", false);
        check_uid("app_lookalike", false);
        check_uid("ep_lookalike", false);
        check_uid("apples", true);
        check_uid(&"a".repeat(256), true);
        check_uid(&"a".repeat(257), false);
        // URLs drop these segments: `/app/X/endpoint/..` would address the application.
        check_uid(".", false);
        check_uid("..", false);
        check_uid("...", true);
    }

    #[test]
    fn event_type_names_that_a_url_would_drop_are_refused() {
        for (name, ok) in [(".", false), ("..", false), ("invoice.paid", true)] {
            assert_eq!(EventTypeName::parse(name).is_ok(), ok, "{name:?}");
        }
    }

    fn check_url(input: &str, ok: bool) {
        let parsed = EndpointUrl::parse(input);
        assert_eq!(parsed.is_ok(), ok, "url {input:?}");
        if let Ok(url) = parsed {
            // The store reads endpoints back through `parse`: what it keeps must pass again.
            assert_eq!(EndpointUrl::parse(url.as_str()), Ok(url), "url {input:?}");
        }
    }

    #[test]
    fn endpoint_urls() {
        check_url("https://example.com/hook", true);
        check_url("http://127.0.0.1:9000/", true);
        check_url("ftp://example.com/", false);
        check_url("not a url", false);
        check_url("file:///etc/passwd", false);
        check_url("https://", false);
        check_url("polling:", true);
        assert!(EndpointUrl::parse("polling:").unwrap().is_polling());
        assert!(
            !EndpointUrl::parse("https://example.com")
                .unwrap()
                .is_polling()
        );
        check_url("polling://x", false);
        check_url("POLLING:", false);
        let longest = format!("https://example.com/{}", "a".repeat(2048 - 20));
        check_url(&longest, true);
        check_url(&format!("{longest}a"), false);
        // 2,020 bytes as written, 6,020 once each `é` is percent-encoded (found by fuzzing:
        // it was accepted, then every read of the endpoint failed as a corrupt row).
        check_url(&format!("https://example.com/{}", "é".repeat(1000)), false);
    }
}
