//! Identifiers: a prefix naming what the id is for (`app_`, `ep_`, `msg_`, ...) followed by a
//! time-ordered base62 suffix, so ids sort by creation.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::Timestamp;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new identifier: the prefix followed by a time-ordered random suffix.
            pub fn generate(now: Timestamp, random: u128) -> Self {
                $name(format!("{}{}", $prefix, sortable_suffix(now, random)))
            }

            /// Wraps an identifier read back from the store or from a URL path. It is not checked:
            /// an unknown id simply finds nothing.
            pub fn from_trusted(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An application (tenant) id, `app_...`.
    AppId,
    "app_"
);
id_type!(
    /// An endpoint id, `ep_...`.
    EndpointId,
    "ep_"
);
id_type!(
    /// A message id, `msg_...`; also the `webhook-id` of every delivery of the message.
    MessageId,
    "msg_"
);
id_type!(
    /// One delivery attempt, `atmpt_...`.
    AttemptId,
    "atmpt_"
);
id_type!(
    /// One message-to-endpoint delivery task, `dlv_...` (internal; not part of the Svix API).
    DeliveryId,
    "dlv_"
);
id_type!(
    /// A background task (endpoint recovery, bulk replay), `qtask_...` as in Svix.
    BackgroundTaskId,
    "qtask_"
);

id_type!(
    /// An inbound source (a provider's webhooks arriving at one ingest URL), `src_...`.
    SourceId,
    "src_"
);
id_type!(
    /// One request received at an ingest URL, `inreq_...` (hookd's own; Svix shows none).
    InboundRequestId,
    "inreq_"
);

id_type!(
    /// An application-scoped API token, `tok_...` (its record; never the token itself).
    TokenId,
    "tok_"
);

id_type!(
    /// An integration of an application (Svix's), `integ_...`; its key is a credential.
    IntegrationId,
    "integ_"
);

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Ids made in the same process sort by creation even within one millisecond.
static MONOTONIC: AtomicU64 = AtomicU64::new(0);

/// 27 base62 characters: 64 bits of microsecond time (made strictly increasing within this
/// process) followed by 96 random bits. Fixed width, and the alphabet is in ASCII order, so ids
/// sort lexicographically by creation time; list pagination relies on that.
fn sortable_suffix(now: Timestamp, random: u128) -> String {
    let micros = now.timestamp_micros().max(0) as u64;
    let stamp = MONOTONIC
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(micros.max(last + 1))
        })
        .map(|last| micros.max(last + 1))
        .unwrap_or(micros);
    let mut value: u128 = (u128::from(stamp) << 64) | (random & 0xFFFF_FFFF_FFFF_FFFF);
    // 27 base62 digits cover 160 bits; we encode 128 bits and pad, keeping the width fixed.
    let mut digits = [b'0'; 27];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn ids_are_prefixed_fixed_width_and_sorted_by_creation() {
        let now = Utc::now();
        let first = MessageId::generate(now, u128::MAX);
        let second = MessageId::generate(now, 0);
        assert!(first.as_str().starts_with("msg_"));
        assert_eq!(first.as_str().len(), 4 + 27);
        assert!(first < second, "{first} should sort before {second}");
    }
}
