//! Stored values back into domain types, shared by both backends: each column is parsed once,
//! where its row is read, and a value that no longer parses is a `CorruptValue` that names what
//! it was, never a panic. No SQL here; each backend's `rows.rs` reads the columns.

use crate::domain::{
    ContentFilter, DeliveryTaskState, EndpointSecret, ReplaySelection, Secret, Timestamp,
};
use crate::store::StoreError;

/// A stored value that no longer parses as its domain type: the row was damaged or edited by
/// hand. It reaches callers as `StoreError::Backend`, whose source this is.
#[derive(Debug, thiserror::Error)]
#[error("a stored {what} is corrupt")]
pub struct CorruptValue {
    pub what: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl CorruptValue {
    pub fn new(what: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        CorruptValue {
            what,
            source: Box::new(source),
        }
    }
}

impl From<CorruptValue> for StoreError {
    fn from(corrupt: CorruptValue) -> Self {
        StoreError::Backend(Box::new(corrupt))
    }
}

/// An `endpoint_secret` row. Secrets enter through `Secret::parse_whsec` and are stored as
/// their `Display` text, so a key that does not parse back is corrupt.
pub fn endpoint_secret(
    key: &str,
    expires_at: Option<Timestamp>,
) -> Result<EndpointSecret, CorruptValue> {
    let key = Secret::parse(key).map_err(|error| CorruptValue::new("endpoint secret", error))?;
    Ok(EndpointSecret { key, expires_at })
}

/// An endpoint's `content_filter` column: the filter's JSON as it was written, or NULL.
pub fn content_filter_column(filter: Option<&ContentFilter>) -> Option<String> {
    filter.map(|filter| filter.as_json().to_string())
}

/// The `content_filter` column back into the filter. Only filters that parsed are stored, so
/// one that no longer parses (edited by hand, or tighter bounds since) is corrupt. Fan-out
/// reads go through `store::parsed_filters` instead, which parses each text once.
pub fn content_filter(text: Option<&str>) -> Result<Option<ContentFilter>, CorruptValue> {
    text.map(parse_content_filter).transpose()
}

/// One non-NULL `content_filter` column parsed, as [`content_filter`] does.
pub fn parse_content_filter(text: &str) -> Result<ContentFilter, CorruptValue> {
    let written: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| CorruptValue::new("endpoint content filter", error))?;
    ContentFilter::parse(written)
        .map_err(|error| CorruptValue::new("endpoint content filter", error))
}

/// The `status` column of a delivery row, the same in every backend. Attempts store Svix's
/// integers instead (`domain::DeliveryStatus`).
pub const fn delivery_state_code(state: DeliveryTaskState) -> i16 {
    match state {
        DeliveryTaskState::Succeeded => 0,
        DeliveryTaskState::Pending => 1,
        DeliveryTaskState::Failed => 2,
        DeliveryTaskState::Parked => 9,
    }
}

/// A delivery row's `status` back into its state.
pub fn delivery_state(code: i64) -> Result<DeliveryTaskState, CorruptValue> {
    const ALL: [DeliveryTaskState; 4] = [
        DeliveryTaskState::Succeeded,
        DeliveryTaskState::Pending,
        DeliveryTaskState::Failed,
        DeliveryTaskState::Parked,
    ];
    ALL.into_iter()
        .find(|state| i64::from(delivery_state_code(*state)) == code)
        .ok_or_else(|| CorruptValue::new("delivery state", UnknownCode(code)))
}

/// `delivery_state_code` as constants, for SQL parameters and comparisons in the backends.
pub mod delivery_state {
    use super::{DeliveryTaskState, delivery_state_code};

    pub const SUCCEEDED: i16 = delivery_state_code(DeliveryTaskState::Succeeded);
    pub const PENDING: i16 = delivery_state_code(DeliveryTaskState::Pending);
    pub const FAILED: i16 = delivery_state_code(DeliveryTaskState::Failed);
    pub const PARKED: i16 = delivery_state_code(DeliveryTaskState::Parked);
}

/// The `delivery.status` codes of the states a replay selection picks.
pub fn delivery_state_codes(selection: ReplaySelection) -> Vec<i16> {
    selection
        .delivery_states()
        .iter()
        .map(|state| delivery_state_code(*state))
        .collect()
}

/// The `selection` column of a background task. The numbers began as the delivery status a
/// selection picks, which is why `Failed` is 2 and `Parked` 9; they are stored, so they stay.
pub fn replay_selection_code(selection: ReplaySelection) -> i64 {
    match selection {
        ReplaySelection::Failed => 2,
        ReplaySelection::Parked => 9,
        ReplaySelection::FailedParkedOrRetrying => 29,
        ReplaySelection::AnyFinished => 0,
        ReplaySelection::NeverQueued => -1,
        ReplaySelection::StillRetrying => 1,
        ReplaySelection::Succeeded => 10,
        ReplaySelection::FailedOrParked => 92,
    }
}

/// A background task's `selection` column back into its selection.
pub fn replay_selection(code: i64) -> Result<ReplaySelection, CorruptValue> {
    const ALL: [ReplaySelection; 8] = [
        ReplaySelection::Failed,
        ReplaySelection::Parked,
        ReplaySelection::FailedParkedOrRetrying,
        ReplaySelection::AnyFinished,
        ReplaySelection::NeverQueued,
        ReplaySelection::StillRetrying,
        ReplaySelection::Succeeded,
        ReplaySelection::FailedOrParked,
    ];
    ALL.into_iter()
        .find(|selection| replay_selection_code(*selection) == code)
        .ok_or_else(|| CorruptValue::new("replay selection", UnknownCode(code)))
}

/// An integer column holds a code that no variant has.
#[derive(Debug, thiserror::Error)]
#[error("unknown code {0}")]
pub struct UnknownCode(pub i64);

/// `message.original_headers`: the inbound headers a payload is forwarded with, as JSON, or
/// `NULL` for none (every message that did not come through a source with `forwardHeaders`).
pub fn original_headers_column(
    payload: &crate::domain::MessagePayload,
) -> Result<Option<String>, StoreError> {
    let headers = payload.original_headers();
    if headers.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(headers)
        .map(Some)
        .map_err(|error| StoreError::Backend(Box::new(error)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::ErrorChain;

    #[test]
    fn stored_secrets_parse_or_are_corrupt() {
        let padded = format!("whsec_{}", "A".repeat(43) + "=");
        // (stored key, parses)
        let cases = [
            ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true),
            (padded.as_str(), true),
            ("whsec_not base64!", false),
            ("whsec_c2hvcnQ=", false),
            ("", false),
        ];
        for (key, parses) in cases {
            let parsed = endpoint_secret(key, None);
            assert_eq!(parsed.is_ok(), parses, "{key:?}");
            if let Err(corrupt) = parsed {
                let error = StoreError::from(corrupt);
                let chain = ErrorChain(&error).to_string();
                assert!(
                    chain.contains("stored endpoint secret is corrupt"),
                    "{chain}"
                );
                assert!(!chain.contains(key) || key.is_empty(), "{chain}");
            }
        }
    }

    #[test]
    fn delivery_states_have_their_stored_codes() {
        // The codes are in every database already: they must never change.
        let cases = [
            (DeliveryTaskState::Succeeded, 0),
            (DeliveryTaskState::Pending, 1),
            (DeliveryTaskState::Failed, 2),
            (DeliveryTaskState::Parked, 9),
        ];
        for (state, code) in cases {
            assert_eq!(delivery_state_code(state), code, "{state:?}");
            assert_eq!(delivery_state(i64::from(code)).unwrap(), state, "{code}");
        }
        for unknown in [-1, 3, 8, 10] {
            let error = StoreError::from(delivery_state(unknown).unwrap_err());
            let chain = ErrorChain(&error).to_string();
            assert!(
                chain.contains("stored delivery state is corrupt"),
                "{chain}"
            );
            assert!(
                chain.contains(&format!("unknown code {unknown}")),
                "{chain}"
            );
        }
    }

    #[test]
    fn replay_selections_have_their_stored_codes_and_states() {
        use DeliveryTaskState::{Failed, Parked, Pending, Succeeded};
        // (selection, stored code, the states' codes it selects)
        let cases: [(ReplaySelection, i64, &[DeliveryTaskState], &[i16]); 8] = [
            (ReplaySelection::Failed, 2, &[Failed], &[2]),
            (ReplaySelection::Parked, 9, &[Parked], &[9]),
            (
                ReplaySelection::FailedParkedOrRetrying,
                29,
                &[Failed, Parked, Pending],
                &[2, 9, 1],
            ),
            (
                ReplaySelection::AnyFinished,
                0,
                &[Succeeded, Failed, Parked],
                &[0, 2, 9],
            ),
            (ReplaySelection::NeverQueued, -1, &[], &[]),
            (ReplaySelection::StillRetrying, 1, &[Pending], &[1]),
            (ReplaySelection::Succeeded, 10, &[Succeeded], &[0]),
            (
                ReplaySelection::FailedOrParked,
                92,
                &[Failed, Parked],
                &[2, 9],
            ),
        ];
        for (selection, code, states, state_codes) in cases {
            assert_eq!(replay_selection_code(selection), code, "{selection:?}");
            assert_eq!(replay_selection(code).unwrap(), selection, "{code}");
            assert_eq!(selection.delivery_states(), states, "{selection:?}");
            assert_eq!(
                delivery_state_codes(selection),
                state_codes,
                "{selection:?}"
            );
        }
        for unknown in [3, 28, -2] {
            assert!(replay_selection(unknown).is_err(), "{unknown}");
        }
    }
}
