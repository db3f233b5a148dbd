//! PATCH semantics: a field that is absent keeps its value, an explicit `null` clears it, and a
//! value replaces it. `Option<T>` cannot tell the first two apart, hence `Patch<T>`.
//!
//! A PATCH (or any change computed from the current record) is applied by the store as one
//! read-modify-write (`Store::modify_*`), so concurrent changes to other fields are kept;
//! `refuse` carries the API's own errors through it (and `OpError::Refused` back out).

use serde::{Deserialize, Deserializer};

use super::error::ApiError;
use crate::store::ChangeRefused;

/// One field of a PATCH body. Declare it with `#[serde(default)]` so an absent field is
/// `Absent`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Null,
            Some(value) => Patch::Value(value),
        })
    }
}

impl<T> Patch<T> {
    /// The new value of an optional field: `null` clears it.
    pub fn merge_optional(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Absent => current,
            Patch::Null => None,
            Patch::Value(value) => Some(value),
        }
    }

    /// The new value of a field that always has one: `null` resets it to `reset`.
    pub fn merge_or(self, current: T, reset: impl FnOnce() -> T) -> T {
        match self {
            Patch::Absent => current,
            Patch::Null => reset(),
            Patch::Value(value) => value,
        }
    }

    /// Turns the new value, if any, into another type (such as a parsed domain value), keeping
    /// `Absent` and `Null` as they are.
    pub fn try_map<U, E>(self, parse: impl FnOnce(T) -> Result<U, E>) -> Result<Patch<U>, E> {
        Ok(match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(value) => Patch::Value(parse(value)?),
        })
    }
}

/// Carries an API error (a 422, say) out of a store change, which runs inside the write
/// transaction, so that the handler answers with it unchanged.
pub fn refuse(error: ApiError) -> ChangeRefused {
    ChangeRefused(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default)]
        uid: Patch<String>,
    }

    fn check(json: &str, current: Option<&str>, expected: Option<&str>) {
        let body: Body = serde_json::from_str(json).unwrap();
        let merged = body.uid.merge_optional(current.map(str::to_owned));
        assert_eq!(merged.as_deref(), expected, "{json} over {current:?}");
    }

    #[test]
    fn absent_keeps_null_clears_value_replaces() {
        check("{}", Some("a"), Some("a"));
        check("{}", None, None);
        check(r#"{"uid": null}"#, Some("a"), None);
        check(r#"{"uid": "b"}"#, Some("a"), Some("b"));
        check(r#"{"uid": "b"}"#, None, Some("b"));
    }

    #[test]
    fn required_fields_reset_on_null() {
        assert_eq!(Patch::Absent.merge_or(5, || 1), 5);
        assert_eq!(Patch::Null.merge_or(5, || 1), 1);
        assert_eq!(Patch::Value(7).merge_or(5, || 1), 7);
    }

    #[test]
    fn parsing_keeps_absence_and_null() {
        let parse = |text: String| text.parse::<u32>().map_err(|_| "bad");
        assert_eq!(Patch::Absent.try_map(parse), Ok(Patch::Absent));
        assert_eq!(Patch::Null.try_map(parse), Ok(Patch::Null));
        assert_eq!(
            Patch::Value("3".to_owned()).try_map(parse),
            Ok(Patch::Value(3))
        );
        assert_eq!(Patch::Value("x".to_owned()).try_map(parse), Err("bad"));
    }
}
