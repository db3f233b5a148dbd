//! Path and query-string extractors whose rejections are `ApiError`s (JSON), not axum's plain
//! text, and the parsing of query values into domain types.
//!
//! Each endpoint declares its query as a `#[derive(Deserialize)]` struct (or as a few parts,
//! `QueryPart`, that listings share: paging, message filters), read by axum-extra's `Query` (serde_html_form underneath, which takes repeated keys such as
//! `event_types=a&event_types=b` into one list). Every field is parsed by one of the helpers
//! here (`optional`, `flag`, `list_of`) into a `QueryValue`: a domain type, or a small type of the
//! API's own (a limit, an order). A value that does not parse is a 422 naming its parameter;
//! unknown parameters are ignored, since Svix SDKs send some that hookd has no use for.
//!
//! The helpers keep the query rules of the Svix clients: an empty value counts as absent, a
//! parameter given twice takes its last value, and a list may be repeated (`a=1&a=2`),
//! comma-separated (`a=1,2`) or both.

use std::error::Error as _;
use std::fmt;
use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum_extra::extract::{Query, QueryRejection};
use chrono::DateTime;
use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};

use utoipa::openapi::{RefOr, schema::Schema};

use super::error::ApiError;
use super::openapi::schemas;
use crate::domain::{ChannelName, EventTypeName, Timestamp};

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

/// A typed query string: axum-extra's `Query`, rejecting with a 422 that names the parameter.
/// A handler that must look up its target before it judges the query takes a `QueryPart<T>`
/// and opens it after the lookup (`lookup_first`).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

/// One part of a request's query, taken as `Result` so that the handler opens it when it is
/// ready to answer its rejection (after looking up its target). An endpoint whose query has
/// several parts (paging, message filters, rendering flags) takes each part as its own struct:
/// they all read the same query string, each ignoring the others' parameters. (serde's
/// `flatten` would make one struct of them, but would lose which parameter failed.)
pub type QueryPart<T> = Result<ApiQuery<T>, ApiError>;

/// Opens the parts of a query: every part's value, or the first part's rejection.
pub trait OpenQuery {
    type Parts;
    fn open(self) -> Result<Self::Parts, ApiError>;
}

impl<A> OpenQuery for QueryPart<A> {
    type Parts = A;
    fn open(self) -> Result<A, ApiError> {
        self.map(|ApiQuery(part)| part)
    }
}

macro_rules! open_query_tuple {
    ($($part:ident),+) => {
        impl<$($part),+> OpenQuery for ($(QueryPart<$part>,)+) {
            type Parts = ($($part,)+);
            #[allow(non_snake_case)]
            fn open(self) -> Result<Self::Parts, ApiError> {
                let ($($part,)+) = self;
                Ok(($($part?.0,)+))
            }
        }
    };
}

open_query_tuple!(A, B);
open_query_tuple!(A, B, C);
open_query_tuple!(A, B, C, D);
open_query_tuple!(A, B, C, D, E);

impl<T: DeserializeOwned> ApiQuery<T> {
    /// Runs the extractor on a request with this raw query string (for unit tests of query
    /// structs, and the fuzz targets' `api::fuzzing`).
    pub fn parse(query: &str) -> Result<T, ApiError>
    where
        T: Send,
    {
        let request = axum::http::Request::get(format!("/?{query}"))
            .body(())
            .expect("a test query");
        let (mut parts, ()) = request.into_parts();
        futures::executor::block_on(Self::from_request_parts(&mut parts, &()))
            .map(|ApiQuery(value)| value)
    }
}

/// The parameter a rejection names (serde_path_to_error's path) and our message for it.
fn query_rejection(rejection: &QueryRejection) -> ApiError {
    type Located = serde_path_to_error::Error<serde_html_form::de::Error>;
    let mut source = rejection.source();
    while let Some(error) = source {
        if let Some(located) = error.downcast_ref::<Located>() {
            return ApiError::invalid_query(
                &located.path().to_string(),
                located.inner().to_string(),
            );
        }
        if let Some(unlocated) = error.downcast_ref::<serde_html_form::de::Error>() {
            return ApiError::invalid_query("query", unlocated.to_string());
        }
        source = error.source();
    }
    ApiError::BadRequest(rejection.body_text())
}

/// A value one query parameter holds, parsed from its (non-empty) text; the error is the
/// message of the 422.
pub trait QueryValue: Sized {
    fn parse_query(text: &str) -> Result<Self, String>;
}

/// `#[serde(default, deserialize_with = "optional")]`: the last non-empty value, parsed.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: QueryValue,
{
    texts(deserializer)?
        .into_iter()
        .rev()
        .find(|text| !text.is_empty())
        .map(|text| T::parse_query(&text).map_err(de::Error::custom))
        .transpose()
}

/// `#[serde(default = "...", deserialize_with = "flag::<_, DEFAULT>")]`: `true`/`false` (or
/// `1`/`0`) as the SDKs send them; absent or empty is `DEFAULT`.
pub fn flag<'de, D, const DEFAULT: bool>(deserializer: D) -> Result<bool, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(optional::<D, bool>(deserializer)?.unwrap_or(DEFAULT))
}

/// The `default` of a flag that is on unless the client says otherwise.
pub fn yes() -> bool {
    true
}

/// `#[serde(default, deserialize_with = "list_of")]`: every value, whether repeated or
/// comma-separated, in order; empty items are skipped.
pub fn list_of<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: QueryValue,
{
    let texts = texts(deserializer)?;
    texts
        .iter()
        .flat_map(|text| text.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| T::parse_query(item).map_err(de::Error::custom))
        .collect()
}

/// Every text given for one parameter: one value, or several when the key is repeated.
fn texts<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct Texts(PhantomData<()>);

    impl<'de> Visitor<'de> for Texts {
        type Value = Vec<String>;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a query value")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(vec![value.to_owned()])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut values = Vec::new();
            while let Some(value) = seq.next_element::<String>()? {
                values.push(value);
            }
            Ok(values)
        }
    }

    deserializer.deserialize_any(Texts(PhantomData))
}

impl QueryValue for bool {
    fn parse_query(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("true") || text == "1" {
            Ok(true)
        } else if text.eq_ignore_ascii_case("false") || text == "0" {
            Ok(false)
        } else {
            Err("must be true or false".to_owned())
        }
    }
}

impl QueryValue for String {
    fn parse_query(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

/// An RFC 3339 timestamp with a time zone. A `+` in an offset that reached us unencoded has
/// been decoded to a space by form decoding, so a space is read back as `+`.
impl QueryValue for Timestamp {
    fn parse_query(text: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(text)
            .or_else(|_| DateTime::parse_from_rfc3339(&text.replace(' ', "+")))
            .map(|time| time.to_utc())
            .map_err(|_| "must be an RFC 3339 timestamp with a time zone".to_owned())
    }
}

impl QueryValue for EventTypeName {
    fn parse_query(text: &str) -> Result<Self, String> {
        EventTypeName::parse(text).map_err(|error| error.message)
    }
}

impl QueryValue for ChannelName {
    fn parse_query(text: &str) -> Result<Self, String> {
        ChannelName::parse(text).map_err(|error| error.message)
    }
}

/// An integer in `MIN..=MAX`, such as the width of a statistics window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InRange<const MIN: u32, const MAX: u32>(pub u32);

impl<const MIN: u32, const MAX: u32> QueryValue for InRange<MIN, MAX> {
    fn parse_query(text: &str) -> Result<Self, String> {
        let value: u32 = integer(text)?;
        if !(MIN..=MAX).contains(&value) {
            return Err(format!("must be from {MIN} to {MAX}"));
        }
        Ok(InRange(value))
    }
}

impl<const MIN: u32, const MAX: u32> utoipa::PartialSchema for InRange<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        schemas::integer_range(MIN, Some(MAX))
    }
}

/// An integer of any width, or the message every integer parameter answers with.
pub fn integer<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| "must be an integer".to_owned())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "list_of")]
        event_types: Vec<EventTypeName>,
        #[serde(default, deserialize_with = "optional")]
        before: Option<Timestamp>,
        #[serde(default, deserialize_with = "optional")]
        after: Option<Timestamp>,
        #[serde(default = "yes", deserialize_with = "flag::<_, true>")]
        with_content: bool,
        #[serde(default, deserialize_with = "optional")]
        minutes: Option<InRange<1, 60>>,
        #[serde(default, deserialize_with = "optional")]
        tag: Option<String>,
    }

    fn names(sample: &Sample) -> Vec<&str> {
        sample
            .event_types
            .iter()
            .map(EventTypeName::as_str)
            .collect()
    }

    #[test]
    fn lists_accept_repeated_and_comma_separated_values() {
        let sample: Sample =
            ApiQuery::parse("event_types=a.b&event_types=c,d&other=x&event_types=").unwrap();
        assert_eq!(names(&sample), vec!["a.b", "c", "d"]);
        let sample: Sample = ApiQuery::parse("").unwrap();
        assert!(sample.event_types.is_empty());
    }

    #[test]
    fn typed_values_defaults_and_repeats() {
        let sample: Sample = ApiQuery::parse(
            "with_content=false&before=2024-01-02T03:04:05%2B01:00&after=2024-01-02T03:04:05+01:00&tag=a&tag=b&minutes=",
        )
        .unwrap();
        let expected = DateTime::parse_from_rfc3339("2024-01-02T02:04:05Z")
            .unwrap()
            .to_utc();
        assert_eq!(sample.before, Some(expected));
        assert_eq!(sample.after, Some(expected));
        assert!(!sample.with_content);
        assert_eq!(sample.tag.as_deref(), Some("b"), "the last value counts");
        assert_eq!(sample.minutes, None, "an empty value is absent");
        let defaults: Sample = ApiQuery::parse("unknown=1").unwrap();
        assert!(defaults.with_content);
        assert_eq!(defaults.before, None);
    }

    fn check_rejected(query: &str, name: &str, message: &str) {
        let error = ApiQuery::<Sample>::parse(query).unwrap_err();
        let body = error.body();
        assert_eq!(
            body["detail"][0]["loc"],
            serde_json::json!(["query", name]),
            "{query}"
        );
        assert_eq!(body["detail"][0]["msg"], message, "{query}");
    }

    #[test]
    fn a_bad_value_names_its_parameter() {
        check_rejected(
            "with_content=maybe",
            "with_content",
            "must be true or false",
        );
        check_rejected(
            "before=yesterday",
            "before",
            "must be an RFC 3339 timestamp with a time zone",
        );
        check_rejected("minutes=61", "minutes", "must be from 1 to 60");
        check_rejected("minutes=x", "minutes", "must be an integer");
        assert!(ApiQuery::<Sample>::parse("event_types=a%20b").is_err());
    }
}
