//! A `generic-webhook` source's check, as configured and stored: an HMAC (header, hash, text
//! encoding, optional prefix, optional signed timestamp), HTTP basic authentication, or a static
//! token header; no check at all when none is set. The HMAC keys and the tokens are the source's
//! `secret`/`secrets`, so they rotate like every other type's. This module only parses the
//! configuration; `webhook_signature::generic` does the checking.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use webhook_signature::generic::{
    BasicAuthConfig, GenericVerifier, HmacAlgorithm, HmacConfig, SignedContent, TagEncoding,
    TokenConfig,
};
use webhook_signature::{ConfigError as Refused, DEFAULT_TOLERANCE_SECS, SharedSecrets};

use super::config::{ConfigError, is_header_name, number, text};

/// How a `generic-webhook` source checks its requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "camelCase")]
pub enum GenericCheck {
    /// `config.hmac`, keyed with the source's secrets.
    Hmac(GenericHmac),
    /// `config.basicAuth`: any of these credentials.
    Basic { credentials: Vec<BasicCredential> },
    /// `config.tokenHeader`: the header's whole value is one of the source's secrets.
    Token { header: String },
}

/// `config.hmac`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenericHmac {
    pub header: String,
    pub algorithm: HashName,
    pub encoding: EncodingName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// When set, the sender signs `{timestamp}.{body}` with the timestamp in this header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    pub tolerance_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashName {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingName {
    Hex,
    Base64,
}

/// One username/password pair of `config.basicAuth`. The password is never rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicCredential {
    pub username: String,
    pub password: String,
}

/// Parses the `config` field `key` (`hmac`, `basicAuth` or `tokenHeader`).
pub(super) fn parse(key: &str, value: &Value) -> Result<GenericCheck, ConfigError> {
    match key {
        "hmac" => parse_hmac(value).map(GenericCheck::Hmac),
        "basicAuth" => {
            let items = match value {
                Value::Array(items) if !items.is_empty() => items.iter().collect(),
                Value::Object(_) => vec![value],
                _ => {
                    return Err(ConfigError::new(
                        key,
                        "must be {\"username\", \"password\"} or a non-empty list of them",
                    ));
                }
            };
            let credentials = items
                .into_iter()
                .map(parse_credential)
                .collect::<Result<_, _>>()?;
            Ok(GenericCheck::Basic { credentials })
        }
        _ => Ok(GenericCheck::Token {
            header: header_name(key, value)?,
        }),
    }
}

/// The crate's verifier for a check (`None`: no check) keyed with `secrets`.
pub(super) fn verifier(
    check: Option<&GenericCheck>,
    secrets: &[String],
) -> Result<GenericVerifier, Refused> {
    Ok(match check {
        None => GenericVerifier::None,
        Some(GenericCheck::Hmac(hmac)) => {
            let signed_content = match &hmac.timestamp_header {
                None => SignedContent::Body,
                Some(header) => SignedContent::timestamp_and_body(header, hmac.tolerance_secs)?,
            };
            GenericVerifier::Hmac(HmacConfig::new(
                &hmac.header,
                match hmac.algorithm {
                    HashName::Sha1 => HmacAlgorithm::Sha1,
                    HashName::Sha256 => HmacAlgorithm::Sha256,
                    HashName::Sha512 => HmacAlgorithm::Sha512,
                },
                match hmac.encoding {
                    EncodingName::Hex => TagEncoding::Hex,
                    EncodingName::Base64 => TagEncoding::Base64,
                },
                hmac.prefix.as_deref(),
                signed_content,
                SharedSecrets::new(secrets)?,
            )?)
        }
        Some(GenericCheck::Basic { credentials }) => {
            let pairs: Vec<(&str, &str)> = credentials
                .iter()
                .map(|pair| (pair.username.as_str(), pair.password.as_str()))
                .collect();
            GenericVerifier::Basic(BasicAuthConfig::new(&pairs)?)
        }
        Some(GenericCheck::Token { header }) => {
            GenericVerifier::Token(TokenConfig::new(header, SharedSecrets::new(secrets)?)?)
        }
    })
}

fn parse_hmac(value: &Value) -> Result<GenericHmac, ConfigError> {
    let Value::Object(fields) = value else {
        return Err(ConfigError::new("hmac", "must be an object"));
    };
    let mut hmac = GenericHmac {
        header: String::new(),
        algorithm: HashName::Sha256,
        encoding: EncodingName::Hex,
        prefix: None,
        timestamp_header: None,
        tolerance_secs: DEFAULT_TOLERANCE_SECS,
    };
    let mut tolerance_given = false;
    for (name, value) in fields {
        let key = format!("hmac.{name}");
        match name.as_str() {
            "header" => hmac.header = header_name(&key, value)?,
            "algorithm" => {
                hmac.algorithm = match value.as_str() {
                    Some("sha1") => HashName::Sha1,
                    Some("sha256") => HashName::Sha256,
                    Some("sha512") => HashName::Sha512,
                    _ => return Err(ConfigError::new(&key, "must be sha1, sha256 or sha512")),
                }
            }
            "encoding" => {
                hmac.encoding = match value.as_str() {
                    Some("hex") => EncodingName::Hex,
                    Some("base64") => EncodingName::Base64,
                    _ => return Err(ConfigError::new(&key, "must be hex or base64")),
                }
            }
            "prefix" => hmac.prefix = Some(text(&key, value)?),
            "timestampHeader" => hmac.timestamp_header = Some(header_name(&key, value)?),
            "toleranceSecs" => {
                let secs = number(&key, value, 1, 24 * 60 * 60)?;
                hmac.tolerance_secs = i64::try_from(secs).unwrap_or(i64::MAX);
                tolerance_given = true;
            }
            _ => return Err(ConfigError::new(&key, "unknown field")),
        }
    }
    if hmac.header.is_empty() {
        return Err(ConfigError::new("hmac.header", "field required"));
    }
    if tolerance_given && hmac.timestamp_header.is_none() {
        return Err(ConfigError::new(
            "hmac.toleranceSecs",
            "only with timestampHeader: an unsigned body has no time to check",
        ));
    }
    Ok(hmac)
}

fn parse_credential(value: &Value) -> Result<BasicCredential, ConfigError> {
    let fields: &Map<String, Value> = value
        .as_object()
        .ok_or_else(|| ConfigError::new("basicAuth", "each entry must be an object"))?;
    let mut username = None;
    let mut password = None;
    for (name, value) in fields {
        let key = format!("basicAuth.{name}");
        match name.as_str() {
            "username" => {
                let name = text(&key, value)?;
                if name.contains(':') {
                    return Err(ConfigError::new(&key, "must not contain ':'"));
                }
                username = Some(name);
            }
            "password" => password = Some(text(&key, value)?),
            _ => return Err(ConfigError::new(&key, "unknown field")),
        }
    }
    Ok(BasicCredential {
        username: username
            .ok_or_else(|| ConfigError::new("basicAuth.username", "field required"))?,
        password: password
            .ok_or_else(|| ConfigError::new("basicAuth.password", "field required"))?,
    })
}

fn header_name(key: &str, value: &Value) -> Result<String, ConfigError> {
    let name = text(key, value)?;
    if is_header_name(&name) {
        Ok(name)
    } else {
        Err(ConfigError::new(key, "must be a header name"))
    }
}
