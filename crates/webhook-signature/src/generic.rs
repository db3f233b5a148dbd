//! The `generic-webhook` source: for senders that have no scheme of their own here. It owns four
//! ways to check a request: none at all, an HMAC whose header, hash, text encoding, prefix and
//! signed content are configured, HTTP basic authentication, or a static token in a header.
//! Every comparison is constant-time, and every configuration that could not work is refused
//! when it is built.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::mac::{any_secret_matches, hmac_sha1, hmac_sha256, hmac_sha512, tags_match};
use crate::request::InboundRequest;
use crate::secrets::{HeaderName, SharedSecrets, check_tolerance};
use crate::timestamp::{check_within_tolerance, parse_unix_timestamp};
use crate::{ConfigError, VerifyError};

/// How a `generic-webhook` source checks its requests.
#[derive(Debug, Clone)]
pub enum GenericVerifier {
    /// Every request is accepted. Only for senders that cannot sign, on an unguessable URL.
    None,
    /// An HMAC of the request in a header.
    Hmac(HmacConfig),
    /// HTTP basic authentication with one of several username/password pairs.
    Basic(BasicAuthConfig),
    /// A header whose whole value must equal one of several tokens.
    Token(TokenConfig),
}

impl GenericVerifier {
    /// Checks `request` as configured.
    ///
    /// # Errors
    /// Those of [`HmacConfig::verify`], [`BasicAuthConfig::verify`] or [`TokenConfig::verify`].
    pub fn verify(&self, request: &InboundRequest<'_>, now_unix: i64) -> Result<(), VerifyError> {
        match self {
            Self::None => Ok(()),
            Self::Hmac(config) => config.verify(request, now_unix),
            Self::Basic(config) => config.verify(request),
            Self::Token(config) => config.verify(request),
        }
    }
}

/// The hash an HMAC is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacAlgorithm {
    /// HMAC-SHA1, for old senders only.
    Sha1,
    /// HMAC-SHA256, the usual choice.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How the tag is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagEncoding {
    /// Hexadecimal, either case.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// What the sender signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedContent {
    /// The raw body alone. Such a signature has no expiry: a captured request can be replayed,
    /// so deduplication on a delivery id matters more.
    Body,
    /// `"{timestamp}.{body}"`, where the timestamp is the text of `header` (Unix seconds); it
    /// must lie within `tolerance_secs` of now.
    TimestampAndBody {
        /// The header that carries the signed timestamp.
        header: HeaderName,
        /// How far the timestamp may lie from now, in seconds, either way.
        tolerance_secs: i64,
    },
}

impl SignedContent {
    /// `"{timestamp}.{body}"` with the timestamp in `header`, checked within `tolerance_secs`.
    ///
    /// # Errors
    /// [`ConfigError::InvalidHeaderName`] or [`ConfigError::NegativeTolerance`].
    pub fn timestamp_and_body(header: &str, tolerance_secs: i64) -> Result<Self, ConfigError> {
        Ok(Self::TimestampAndBody {
            header: HeaderName::parse(header)?,
            tolerance_secs: check_tolerance(tolerance_secs)?,
        })
    }
}

/// A configured HMAC check, built by [`HmacConfig::new`].
#[derive(Debug, Clone)]
pub struct HmacConfig {
    header: HeaderName,
    algorithm: HmacAlgorithm,
    encoding: TagEncoding,
    prefix: Option<String>,
    signed_content: SignedContent,
    secrets: SharedSecrets,
}

impl HmacConfig {
    /// A check that expects, in `header`, the optional `prefix` (such as `sha256=`) followed by
    /// the `encoding` of the `algorithm` HMAC of `signed_content` under any of `secrets`.
    ///
    /// # Errors
    /// [`ConfigError::InvalidHeaderName`] or [`ConfigError::EmptyPrefix`].
    pub fn new(
        header: &str,
        algorithm: HmacAlgorithm,
        encoding: TagEncoding,
        prefix: Option<&str>,
        signed_content: SignedContent,
        secrets: SharedSecrets,
    ) -> Result<Self, ConfigError> {
        if prefix.is_some_and(str::is_empty) {
            return Err(ConfigError::EmptyPrefix);
        }
        Ok(Self {
            header: HeaderName::parse(header)?,
            algorithm,
            encoding,
            prefix: prefix.map(str::to_owned),
            signed_content,
            secrets,
        })
    }

    /// The header value a sender would put in the configured header for `body` (at
    /// `timestamp`, if the timestamp is signed) under `secret`.
    pub fn sign(&self, secret: &[u8], timestamp: i64, body: &[u8]) -> String {
        let timestamp = timestamp.to_string();
        let tag = self.tag(secret, &timestamp, body);
        let encoded = match self.encoding {
            TagEncoding::Hex => hex::encode(tag),
            TagEncoding::Base64 => STANDARD.encode(tag),
        };
        format!("{}{encoded}", self.prefix.as_deref().unwrap_or(""))
    }

    /// Checks the configured header against `request`.
    ///
    /// # Errors
    /// [`VerifyError::MissingSignature`] without the header; [`VerifyError::MalformedSignature`]
    /// without the prefix or with a tag that is not in the encoding; for a signed timestamp, the
    /// timestamp errors of [`crate::stripe::verify`]; [`VerifyError::NoMatchingSignature`] if
    /// the tag differs under every secret.
    pub fn verify(&self, request: &InboundRequest<'_>, now_unix: i64) -> Result<(), VerifyError> {
        let signature = request.required_header(
            self.header.as_str(),
            VerifyError::MissingSignature,
            VerifyError::MalformedSignature,
        )?;
        let timestamp_text = match &self.signed_content {
            SignedContent::Body => "",
            SignedContent::TimestampAndBody {
                header,
                tolerance_secs,
            } => {
                let text = request
                    .header(header.as_str(), VerifyError::InvalidTimestamp)?
                    .ok_or(VerifyError::MissingTimestamp)?;
                check_within_tolerance(parse_unix_timestamp(text)?, now_unix, *tolerance_secs)?;
                text
            }
        };
        let encoded = match &self.prefix {
            Some(prefix) => signature
                .strip_prefix(prefix.as_str())
                .ok_or(VerifyError::MalformedSignature)?,
            None => signature,
        };
        let provided = match self.encoding {
            TagEncoding::Hex => hex::decode(encoded).ok(),
            TagEncoding::Base64 => STANDARD.decode(encoded).ok(),
        }
        .ok_or(VerifyError::MalformedSignature)?;
        any_secret_matches(self.secrets.as_slice(), &provided, |secret| {
            self.tag(secret, timestamp_text, request.body)
        })
    }

    fn tag(&self, secret: &[u8], timestamp_text: &str, body: &[u8]) -> Vec<u8> {
        let parts: &[&[u8]] = match self.signed_content {
            SignedContent::Body => &[body],
            SignedContent::TimestampAndBody { .. } => &[timestamp_text.as_bytes(), b".", body],
        };
        match self.algorithm {
            HmacAlgorithm::Sha1 => hmac_sha1(secret, parts),
            HmacAlgorithm::Sha256 => hmac_sha256(secret, parts),
            HmacAlgorithm::Sha512 => hmac_sha512(secret, parts),
        }
    }
}

/// HTTP basic authentication (`Authorization: Basic <base64 of user:password>`) with any of
/// several credentials, built by [`BasicAuthConfig::new`].
#[derive(Clone)]
pub struct BasicAuthConfig {
    /// Each credential as the `user:password` bytes the header carries.
    credentials: Vec<Vec<u8>>,
}

impl BasicAuthConfig {
    /// Accepts any of `credentials`, given as (username, password) pairs.
    ///
    /// # Errors
    /// [`ConfigError::NoSecrets`] for an empty list, [`ConfigError::InvalidUsername`] for an
    /// empty username or one with `:`, [`ConfigError::EmptySecret`] for an empty password.
    pub fn new<U: AsRef<str>, P: AsRef<str>>(credentials: &[(U, P)]) -> Result<Self, ConfigError> {
        if credentials.is_empty() {
            return Err(ConfigError::NoSecrets);
        }
        let mut joined = Vec::with_capacity(credentials.len());
        for (username, password) in credentials {
            let (username, password) = (username.as_ref(), password.as_ref());
            if username.is_empty() || username.contains(':') {
                return Err(ConfigError::InvalidUsername);
            }
            if password.is_empty() {
                return Err(ConfigError::EmptySecret);
            }
            joined.push(format!("{username}:{password}").into_bytes());
        }
        Ok(Self {
            credentials: joined,
        })
    }

    /// Checks the `Authorization` header of `request`.
    ///
    /// # Errors
    /// [`VerifyError::MissingCredentials`] without the header,
    /// [`VerifyError::MalformedCredentials`] if it is not `Basic` with base64 of `user:password`,
    /// [`VerifyError::WrongCredentials`] if it matches no credential.
    pub fn verify(&self, request: &InboundRequest<'_>) -> Result<(), VerifyError> {
        let header = request.required_header(
            "Authorization",
            VerifyError::MissingCredentials,
            VerifyError::MalformedCredentials,
        )?;
        let (scheme, encoded) = header
            .split_once(' ')
            .ok_or(VerifyError::MalformedCredentials)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(VerifyError::MalformedCredentials);
        }
        let provided = STANDARD
            .decode(encoded.trim())
            .map_err(|_| VerifyError::MalformedCredentials)?;
        if !provided.contains(&b':') {
            return Err(VerifyError::MalformedCredentials);
        }
        let any_match = self
            .credentials
            .iter()
            .any(|credential| tags_match(credential, &provided));
        if any_match {
            Ok(())
        } else {
            Err(VerifyError::WrongCredentials)
        }
    }
}

impl std::fmt::Debug for BasicAuthConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "BasicAuthConfig(<{} redacted>)",
            self.credentials.len()
        )
    }
}

/// A static token: the whole value of `header` must equal one of the tokens.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    header: HeaderName,
    tokens: SharedSecrets,
}

impl TokenConfig {
    /// Accepts requests whose `header` equals any of `tokens` (such as `Bearer abc` for
    /// `Authorization`).
    ///
    /// # Errors
    /// [`ConfigError::InvalidHeaderName`].
    pub fn new(header: &str, tokens: SharedSecrets) -> Result<Self, ConfigError> {
        Ok(Self {
            header: HeaderName::parse(header)?,
            tokens,
        })
    }

    /// Checks the configured header of `request`.
    ///
    /// # Errors
    /// [`VerifyError::MissingCredentials`] without the header, [`VerifyError::WrongCredentials`]
    /// if it matches no token.
    pub fn verify(&self, request: &InboundRequest<'_>) -> Result<(), VerifyError> {
        let provided = request.required_header(
            self.header.as_str(),
            VerifyError::MissingCredentials,
            VerifyError::WrongCredentials,
        )?;
        let any_match = self
            .tokens
            .as_slice()
            .iter()
            .any(|token| tags_match(token, provided.as_bytes()));
        if any_match {
            Ok(())
        } else {
            Err(VerifyError::WrongCredentials)
        }
    }
}
