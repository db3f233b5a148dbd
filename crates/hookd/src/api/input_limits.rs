//! The API side of `domain::limits`: checks a body's free-form fields and answers 422 with the
//! field's location when one breaks a rule.

use super::error::{ApiError, ApiResult};
use crate::domain::Metadata;
use crate::domain::limits::{self, TextRule};

/// `value`, checked against `rule`; `at` is the field's location in the body.
pub fn text(value: String, rule: TextRule, at: &[&str]) -> ApiResult<String> {
    limits::check_text(&value, rule).map_err(|error| ApiError::invalid_input(at, error))?;
    Ok(value)
}

/// `metadata`, every key and value checked; an error points at the offending key.
pub fn metadata(metadata: Metadata, at: &[&str]) -> ApiResult<Metadata> {
    limits::check_metadata(&metadata).map_err(|invalid| match &invalid.key {
        Some(key) => ApiError::invalid_input(&[at, &[key.as_str()]].concat(), invalid.error),
        None => ApiError::invalid_input(at, invalid.error),
    })?;
    Ok(metadata)
}

/// A `throttleRate` (messages per second): at least 1 when set, as in Svix. Zero would stop
/// deliveries for good while looking like a setting.
pub fn throttle_rate(rate: u32, at: &[&str]) -> ApiResult<u32> {
    if rate == 0 {
        return Err(ApiError::invalid_body(
            at,
            "throttleRate must be at least 1 message per second when set",
        ));
    }
    Ok(rate)
}

/// An optional `throttleRate`, as a create or full update carries it.
pub fn optional_throttle_rate(rate: Option<u32>, at: &[&str]) -> ApiResult<Option<u32>> {
    rate.map(|rate| throttle_rate(rate, at)).transpose()
}

/// Optional free-form text, as a create or full update carries it.
pub fn optional_text(
    value: Option<String>,
    rule: TextRule,
    at: &[&str],
) -> ApiResult<Option<String>> {
    value.map(|value| text(value, rule, at)).transpose()
}
