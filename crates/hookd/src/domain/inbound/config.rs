//! A source's typed configuration: the secrets its type verifies with (several during a
//! rotation), a `generic-webhook` source's check (`generic.rs`), and hookd's per-source options
//! (dedupe header and window, body limit, Twilio's public URL, the application accepted
//! requests are also forwarded to, the original headers forwarded). Parsed once from the API's
//! `config` object; anything unknown or malformed, including a configuration the source type's
//! verifier refuses, is an error naming its field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::generic::{self, GenericCheck};
use super::{Scheme, SourceType};

/// How long a provider's delivery id is remembered when the source does not say: 7 days.
pub const DEFAULT_DEDUPE_WINDOW_SECS: u64 = 7 * 24 * 60 * 60;
/// The largest body a source accepts when it does not say: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// The longest dedupe window a source may ask for: 30 days.
pub const MAX_DEDUPE_WINDOW_SECS: u64 = 30 * 24 * 60 * 60;

/// A source's configuration as stored. The secrets are never rendered back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceConfig {
    /// Every secret a request may be signed with; the first is the current one.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Twilio signs the URL it called, which a proxy may rewrite: the URL as Twilio sees it.
    #[serde(default)]
    pub public_url: Option<String>,
    /// A header holding the provider's delivery id, instead of the type's own.
    #[serde(default)]
    pub dedupe_header: Option<String>,
    pub dedupe_window_secs: u64,
    pub max_body_bytes: u64,
    /// How a `generic-webhook` source checks requests; `None` accepts every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<GenericCheck>,
    /// An application of the user that every accepted request also becomes a message of: as
    /// given (id or uid) until `ops` resolves it, then its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_to_app: Option<String>,
    /// Original headers (lowercase names) forwarded unchanged with the body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_headers: Vec<String>,
}

/// A config field that is unknown or malformed; `field` is its path (`config.secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub(super) fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigError {
            field: format!("config.{key}"),
            message: message.into(),
        }
    }

    /// The field a configuration the verifier refused is about.
    fn from_verifier(error: &webhook_signature::ConfigError) -> Self {
        use webhook_signature::ConfigError as Refused;
        let key = match error {
            Refused::InvalidPublicUrl => "publicUrl",
            Refused::EmptyPrefix => "hmac.prefix",
            Refused::NegativeTolerance => "hmac.toleranceSecs",
            Refused::InvalidUsername => "basicAuth.username",
            Refused::InvalidHeaderName { .. } => "hmac.header",
            _ => "secret",
        };
        ConfigError::new(key, error.to_string())
    }
}

impl SourceConfig {
    /// Parses the `config` object of a source of type `source_type`.
    pub fn parse(
        source_type: SourceType,
        config: &Map<String, Value>,
    ) -> Result<Self, ConfigError> {
        let mut parsed = SourceConfig {
            secrets: Vec::new(),
            public_url: None,
            dedupe_header: None,
            dedupe_window_secs: DEFAULT_DEDUPE_WINDOW_SECS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            generic: None,
            forward_to_app: None,
            forward_headers: Vec::new(),
        };
        let is_generic = source_type.scheme() == Scheme::Generic;
        for (key, value) in config {
            match key.as_str() {
                "secret" => parsed.secrets.insert(0, text(key, value)?),
                "secrets" => {
                    let Value::Array(items) = value else {
                        return Err(ConfigError::new(key, "must be a list of strings"));
                    };
                    for item in items {
                        parsed.secrets.push(text(key, item)?);
                    }
                }
                "publicUrl" if source_type.scheme() == Scheme::Twilio => {
                    let url = text(key, value)?;
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        return Err(ConfigError::new(key, "must be an http(s) URL"));
                    }
                    parsed.public_url = Some(url);
                }
                "hmac" | "basicAuth" | "tokenHeader" if is_generic => {
                    if parsed.generic.is_some() {
                        return Err(ConfigError::new(
                            key,
                            "only one of hmac, basicAuth and tokenHeader may be set",
                        ));
                    }
                    parsed.generic = Some(generic::parse(key, value)?);
                }
                "forwardToApp" => parsed.forward_to_app = Some(text(key, value)?),
                "forwardHeaders" => parsed.forward_headers = forward_headers(key, value)?,
                "dedupeHeader" => {
                    let name = text(key, value)?;
                    if !is_header_name(&name) {
                        return Err(ConfigError::new(key, "must be a header name"));
                    }
                    parsed.dedupe_header = Some(name.to_ascii_lowercase());
                }
                "dedupeWindowSecs" => {
                    parsed.dedupe_window_secs = number(key, value, 0, MAX_DEDUPE_WINDOW_SECS)?;
                }
                "maxBodyBytes" => {
                    parsed.max_body_bytes = number(key, value, 1, DEFAULT_MAX_BODY_BYTES * 20)?;
                }
                _ => return Err(ConfigError::new(key, "unknown field for this source type")),
            }
        }
        let uses_secrets = !is_generic
            || matches!(
                parsed.generic,
                Some(GenericCheck::Hmac(_) | GenericCheck::Token { .. })
            );
        if !parsed.secrets.is_empty() && !uses_secrets {
            return Err(ConfigError::new(
                "secret",
                "a generic-webhook source takes secrets only with hmac or tokenHeader",
            ));
        }
        if parsed.secrets.is_empty() && uses_secrets {
            return Err(ConfigError::new("secret", "field required"));
        }
        if source_type.scheme() == Scheme::Standard {
            for secret in &parsed.secrets {
                if webhook_signature::VerificationKey::parse(secret).is_err() {
                    return Err(ConfigError::new(
                        "secret",
                        "must be a base64 secret, optionally prefixed with whsec_, \
                         or a whpk_ ed25519 public key",
                    ));
                }
            }
        }
        // What the verifier would refuse is refused now, before any request arrives.
        source_type
            .scheme()
            .verifier(&parsed, PLACEHOLDER_URL)
            .map_err(|error| ConfigError::from_verifier(&error))?;
        Ok(parsed)
    }
}

/// Stands in for the URL Twilio calls when checking a config that names none: every request
/// then brings its own.
const PLACEHOLDER_URL: &str = "https://hookd.invalid/";

/// Headers that are never forwarded as the provider sent them: hookd writes its own signature
/// (`webhook-*`, `svix-*`), content type and framing.
const NEVER_FORWARDED: &[&str] = &[
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "user-agent",
];

/// Whether a forwarded original header would clash with what hookd sends itself.
pub fn never_forwarded(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("webhook-") || name.starts_with("svix-") || NEVER_FORWARDED.contains(&&*name)
}

fn forward_headers(key: &str, value: &Value) -> Result<Vec<String>, ConfigError> {
    let Value::Array(items) = value else {
        return Err(ConfigError::new(key, "must be a list of header names"));
    };
    if items.len() > 32 {
        return Err(ConfigError::new(key, "at most 32 header names"));
    }
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let name = text(key, item)?;
        if !is_header_name(&name) {
            return Err(ConfigError::new(
                key,
                format!("{name:?} is not a header name"),
            ));
        }
        if never_forwarded(&name) {
            return Err(ConfigError::new(
                key,
                format!("{name:?} is written by hookd itself and cannot be forwarded"),
            ));
        }
        names.push(name.to_ascii_lowercase());
    }
    Ok(names)
}

/// A header name as HTTP writes one (RFC 9110 `token`).
pub(super) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(super) fn text(key: &str, value: &Value) -> Result<String, ConfigError> {
    match value {
        Value::String(text) if !text.is_empty() && text.len() <= 1024 => Ok(text.clone()),
        Value::String(_) => Err(ConfigError::new(key, "must be 1 to 1024 characters long")),
        _ => Err(ConfigError::new(key, "must be a string")),
    }
}

pub(super) fn number(key: &str, value: &Value, min: u64, max: u64) -> Result<u64, ConfigError> {
    match value.as_u64() {
        Some(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(ConfigError::new(
            key,
            format!("must be a whole number from {min} to {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(type_name: &str, config: Value, expected: Result<(), &str>) {
        let source_type = SourceType::parse(type_name).unwrap();
        let Value::Object(config) = config else {
            panic!("test config must be an object")
        };
        let got = SourceConfig::parse(source_type, &config)
            .map(|_| ())
            .map_err(|e| e.field);
        assert_eq!(
            got,
            expected.map_err(str::to_owned),
            "{type_name} {config:?}"
        );
    }

    #[test]
    fn configs_are_checked_per_type() {
        use serde_json::json;
        check("stripe", json!({"secret": "whsec_x"}), Ok(()));
        check("stripe", json!({}), Err("config.secret"));
        check("stripe", json!({"secret": 3}), Err("config.secret"));
        check(
            "stripe",
            json!({"secret": "a", "nope": 1}),
            Err("config.nope"),
        );
        check(
            "stripe",
            json!({"secret": "a", "publicUrl": "https://x"}),
            Err("config.publicUrl"),
        );
        check(
            "twilio",
            json!({"secret": "a", "publicUrl": "https://x/y"}),
            Ok(()),
        );
        check(
            "twilio",
            json!({"secret": "a", "publicUrl": "ftp://x"}),
            Err("config.publicUrl"),
        );
        check(
            "svix",
            json!({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
            Ok(()),
        );
        check(
            "svix",
            json!({"secret": "not base64!"}),
            Err("config.secret"),
        );
        check(
            "github",
            json!({"secret": "a", "secrets": ["b", 1]}),
            Err("config.secrets"),
        );
        check("generic-webhook", json!({}), Ok(()));
        check(
            "generic-webhook",
            json!({"secret": "a"}),
            Err("config.secret"),
        );
        check(
            "github",
            json!({"secret": "a", "dedupeWindowSecs": -1}),
            Err("config.dedupeWindowSecs"),
        );
        check(
            "github",
            json!({"secret": "a", "maxBodyBytes": 0}),
            Err("config.maxBodyBytes"),
        );
        check(
            "github",
            json!({"secret": "a", "dedupeHeader": "bad header"}),
            Err("config.dedupeHeader"),
        );
    }

    #[test]
    fn the_secret_comes_first_and_rotation_secrets_follow() {
        let config = serde_json::json!({"secrets": ["old"], "secret": "new"});
        let parsed = SourceConfig::parse(
            SourceType::parse("github").unwrap(),
            config.as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(parsed.secrets, ["new", "old"]);
    }
}
