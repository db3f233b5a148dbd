//! The rules of an endpoint's custom headers (Svix's endpoint headers), shared by the API and
//! the dashboard: which names may be customized, which values are valid, how many an endpoint
//! may have, which are credentials (sent with every delivery, never shown again), and how a
//! change merges into the current set.
//!
//! Names that would let a caller forge or break a delivery are refused: the signature headers
//! (`webhook-*`, `svix-*`) and the headers the HTTP client owns (`content-type`, `host`, ...).
//! Names compare case-insensitively, so `X-Team` and `x-team` are one header.

use std::collections::BTreeMap;

/// Most custom headers one endpoint may have.
pub const MAX_HEADERS: usize = 50;
/// Headers the delivery client sets itself; a custom value would conflict with it.
const RESERVED_NAMES: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];
/// Prefixes of the signature headers.
const RESERVED_PREFIXES: &[&str] = &["webhook-", "svix-"];
/// Headers that carry credentials (lowercase): their values are sent but never shown. Svix's
/// list, plus the cookie and API-key headers.
const SENSITIVE_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
    "www-authenticate",
    "proxy-authenticate",
];

/// Why a custom header, or a set of them, is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderRefusal {
    #[error("not a valid HTTP header name")]
    InvalidName,
    #[error("this header is set by hookd and cannot be customized")]
    Reserved,
    #[error("not a valid HTTP header value")]
    InvalidValue,
    #[error("header names must be unique ignoring case")]
    DuplicateName,
    #[error("at most {MAX_HEADERS} headers are allowed")]
    TooMany,
}

/// A refusal and the header it is about (`None`: the set as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{refusal}", name.as_deref().map(|name| format!("{name}: ")).unwrap_or_default())]
pub struct HeaderError {
    pub name: Option<String>,
    pub refusal: HeaderRefusal,
}

impl HeaderError {
    fn about(name: &str, refusal: HeaderRefusal) -> Self {
        HeaderError {
            name: Some(name.to_owned()),
            refusal,
        }
    }
}

/// Whether `name`'s value is a credential, which is sent but never shown.
pub fn is_sensitive(name: &str) -> bool {
    SENSITIVE_NAMES
        .iter()
        .any(|sensitive| name.eq_ignore_ascii_case(sensitive))
}

/// Why a custom header is not allowed, if it is not.
pub fn check_header(name: &str, value: &str) -> Result<(), HeaderRefusal> {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(HeaderRefusal::InvalidName);
    }
    let lowercase = name.to_ascii_lowercase();
    if RESERVED_NAMES.contains(&lowercase.as_str())
        || RESERVED_PREFIXES
            .iter()
            .any(|prefix| lowercase.starts_with(prefix))
    {
        return Err(HeaderRefusal::Reserved);
    }
    if !value.bytes().all(is_value_byte) {
        return Err(HeaderRefusal::InvalidValue);
    }
    Ok(())
}

/// Checks a complete set of custom headers.
pub fn check_headers(headers: &BTreeMap<String, String>) -> Result<(), HeaderError> {
    if headers.len() > MAX_HEADERS {
        return Err(HeaderError {
            name: None,
            refusal: HeaderRefusal::TooMany,
        });
    }
    let mut seen: Vec<String> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let lowercase = name.to_ascii_lowercase();
        if seen.contains(&lowercase) {
            return Err(HeaderError::about(name, HeaderRefusal::DuplicateName));
        }
        check_header(name, value).map_err(|refusal| HeaderError::about(name, refusal))?;
        seen.push(lowercase);
    }
    Ok(())
}

/// Applies changes to the current headers: a value sets (replacing any spelling of the same
/// name), `None` removes.
pub fn merge_headers(
    mut current: BTreeMap<String, String>,
    changes: BTreeMap<String, Option<String>>,
) -> Result<BTreeMap<String, String>, HeaderError> {
    for (name, value) in changes {
        current.retain(|existing, _| !existing.eq_ignore_ascii_case(&name));
        if let Some(value) = value {
            check_header(&name, &value).map_err(|refusal| HeaderError::about(&name, refusal))?;
            current.insert(name, value);
        }
    }
    if current.len() > MAX_HEADERS {
        return Err(HeaderError {
            name: None,
            refusal: HeaderRefusal::TooMany,
        });
    }
    Ok(current)
}

/// RFC 9110's `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Visible ASCII, space and tab: what `http::HeaderValue::from_str` accepts.
fn is_value_byte(byte: u8) -> bool {
    (32..127).contains(&byte) || byte == b'\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, value: &str, expected: Result<(), HeaderRefusal>) {
        assert_eq!(check_header(name, value), expected, "{name}: {value:?}");
    }

    #[test]
    fn header_names_and_values() {
        use HeaderRefusal::*;
        check("X-Team", "core", Ok(()));
        check("authorization", "Bearer abc", Ok(()));
        check("x-empty", "", Ok(()));
        check("x-tab", "a\tb", Ok(()));
        check("Webhook-Signature", "v1,abc", Err(Reserved));
        check("svix-id", "msg_1", Err(Reserved));
        check("Content-Type", "text/plain", Err(Reserved));
        check("host", "evil.example", Err(Reserved));
        check("User-Agent", "x", Err(Reserved));
        check("Transfer-Encoding", "chunked", Err(Reserved));
        check("connection", "close", Err(Reserved));
        check("content-length", "1", Err(Reserved));
        check("bad name", "x", Err(InvalidName));
        check("x:colon", "x", Err(InvalidName));
        check("", "x", Err(InvalidName));
        check("x-newline", "a\r\nInjected: yes", Err(InvalidValue));
        check("x-delete", "a\u{7f}", Err(InvalidValue));
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn complete_sets_refuse_case_duplicates_and_too_many() {
        assert!(check_headers(&map(&[("x-a", "1"), ("x-b", "2")])).is_ok());
        let error = check_headers(&map(&[("X-A", "1"), ("x-a", "2")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "x-a: header names must be unique ignoring case"
        );
        let many: BTreeMap<String, String> = (0..=MAX_HEADERS)
            .map(|index| (format!("x-{index}"), String::new()))
            .collect();
        assert_eq!(
            check_headers(&many).unwrap_err().refusal,
            HeaderRefusal::TooMany
        );
    }

    #[test]
    fn merges_set_replace_and_remove() {
        let current = map(&[("X-Team", "core"), ("x-keep", "1"), ("x-drop", "1")]);
        let changes = BTreeMap::from([
            ("x-team".to_owned(), Some("edge".to_owned())),
            ("X-DROP".to_owned(), None),
            ("x-new".to_owned(), Some("2".to_owned())),
        ]);
        let merged = merge_headers(current, changes).unwrap();
        assert_eq!(
            merged,
            map(&[("x-keep", "1"), ("x-new", "2"), ("x-team", "edge")])
        );
        let refused = BTreeMap::from([("svix-id".to_owned(), Some("x".to_owned()))]);
        assert_eq!(
            merge_headers(BTreeMap::new(), refused)
                .unwrap_err()
                .to_string(),
            "svix-id: this header is set by hookd and cannot be customized"
        );
    }

    #[test]
    fn credentials_are_sensitive_whatever_their_case() {
        for name in ["Authorization", "cookie", "X-API-Key", "x-auth-token"] {
            assert!(is_sensitive(name), "{name}");
        }
        for name in ["X-Api-Key-Id", "x-team"] {
            assert!(!is_sensitive(name), "{name}");
        }
    }
}
