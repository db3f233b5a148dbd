//! Path and query-string extractors whose rejections are `ApiError`s (JSON), not axum's plain
//! text.
//!
//! The query string is kept as raw pairs because Svix clients repeat keys for lists
//! (`event_types=a&event_types=b`), which a struct-based deserializer cannot express; typed
//! getters turn each value into a 422 naming the parameter when it does not parse.

use std::str::FromStr;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use chrono::DateTime;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ApiResult};
use crate::domain::Timestamp;

/// URL path parameters (`{app_id}` ...), deserialized like axum's `Path`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// The decoded `name=value` pairs of the query string, in order.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl<S> FromRequestParts<S> for QueryParams
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(QueryParams::parse(parts.uri.query().unwrap_or("")))
    }
}

impl QueryParams {
    pub fn parse(query: &str) -> Self {
        QueryParams {
            pairs: url::form_urlencoded::parse(query.as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        }
    }

    /// The last value given for `name`; empty values count as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// Every value of a list parameter, whether repeated (`a=1&a=2`) or comma-separated
    /// (`a=1,2`), in order.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == name || key.strip_suffix("[]") == Some(name))
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect()
    }

    /// A boolean flag (`true`/`false`, as the SDKs send them).
    pub fn flag(&self, name: &str, default: bool) -> ApiResult<bool> {
        match self.get(name) {
            None => Ok(default),
            Some(value) if value.eq_ignore_ascii_case("true") || value == "1" => Ok(true),
            Some(value) if value.eq_ignore_ascii_case("false") || value == "0" => Ok(false),
            Some(_) => Err(ApiError::invalid_query(name, "must be true or false")),
        }
    }

    /// A number (or anything else with `FromStr`).
    pub fn number<T: FromStr>(&self, name: &str) -> ApiResult<Option<T>> {
        self.get(name)
            .map(|value| {
                value
                    .parse()
                    .map_err(|_| ApiError::invalid_query(name, "must be an integer"))
            })
            .transpose()
    }

    /// An RFC 3339 timestamp with a time zone.
    pub fn timestamp(&self, name: &str) -> ApiResult<Option<Timestamp>> {
        self.get(name)
            .map(|value| {
                parse_timestamp(value).ok_or_else(|| {
                    ApiError::invalid_query(name, "must be an RFC 3339 timestamp with a time zone")
                })
            })
            .transpose()
    }
}

/// Parses an RFC 3339 timestamp. A `+` in an offset that reached us unencoded has been decoded
/// to a space by form decoding, so a space is read back as `+`.
fn parse_timestamp(value: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_rfc3339(&value.replace(' ', "+")))
        .ok()
        .map(|time| time.to_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_accept_repeated_and_comma_separated_values() {
        let query = QueryParams::parse("event_types=a.b&event_types=c,d&other=x&event_types=");
        assert_eq!(query.list("event_types"), vec!["a.b", "c", "d"]);
        assert!(query.list("missing").is_empty());
    }

    #[test]
    fn typed_values_and_their_errors() {
        let query = QueryParams::parse(
            "limit=20&bad=x&with_content=false&before=2024-01-02T03:04:05%2B01:00&after=2024-01-02T03:04:05+01:00",
        );
        assert_eq!(query.number::<usize>("limit").unwrap(), Some(20));
        assert_eq!(query.number::<usize>("absent").unwrap(), None);
        assert!(matches!(
            query.number::<usize>("bad"),
            Err(ApiError::Validation(_))
        ));
        assert!(!query.flag("with_content", true).unwrap());
        assert!(query.flag("absent", true).unwrap());
        assert!(query.flag("bad", true).is_err());
        let expected = DateTime::parse_from_rfc3339("2024-01-02T02:04:05Z")
            .unwrap()
            .to_utc();
        assert_eq!(query.timestamp("before").unwrap(), Some(expected));
        assert_eq!(query.timestamp("after").unwrap(), Some(expected));
        assert!(query.timestamp("bad").is_err());
    }
}
