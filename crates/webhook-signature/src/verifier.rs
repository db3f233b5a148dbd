//! One verifier per inbound source type, built once from typed configuration and then applied to
//! each request. This module owns the list of source types, the mapping from a type to its
//! scheme (the Standard Webhooks family shares one), and which headers each scheme reads. The
//! schemes themselves live in `standard`, `providers` and `generic`; this module only routes.

use std::fmt;

use crate::generic::GenericVerifier;
use crate::request::InboundRequest;
use crate::secrets::{SharedSecrets, check_tolerance};
use crate::standard::{self, VerificationKey};
use crate::{ConfigError, DEFAULT_TOLERANCE_SECS, VerifyError};
use crate::{github, shopify, slack, stripe, twilio};

/// The `type` of an inbound source, as Svix Ingest names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceType {
    /// `standard-webhooks`: any sender that follows the Standard Webhooks specification.
    StandardWebhooks,
    /// `svix`: Svix, which sends Standard Webhooks with `svix-*` header names.
    Svix,
    /// `replicate`: Standard Webhooks.
    Replicate,
    /// `clerk`: Standard Webhooks with `svix-*` headers.
    Clerk,
    /// `resend`: Standard Webhooks with `svix-*` headers.
    Resend,
    /// `stripe`.
    Stripe,
    /// `github`.
    Github,
    /// `shopify`.
    Shopify,
    /// `slack`.
    Slack,
    /// `twilio`.
    Twilio,
    /// `generic-webhook`: a configured check, or none.
    GenericWebhook,
}

impl SourceType {
    /// Every source type, in a fixed order.
    pub const ALL: [Self; 11] = [
        Self::StandardWebhooks,
        Self::Svix,
        Self::Replicate,
        Self::Clerk,
        Self::Resend,
        Self::Stripe,
        Self::Github,
        Self::Shopify,
        Self::Slack,
        Self::Twilio,
        Self::GenericWebhook,
    ];

    /// Reads a type name such as `stripe` or `generic-webhook`.
    ///
    /// # Errors
    /// [`ConfigError::UnknownSourceType`] for any other name.
    pub fn parse(name: &str) -> Result<Self, ConfigError> {
        Self::ALL
            .into_iter()
            .find(|source_type| source_type.as_str() == name)
            .ok_or_else(|| ConfigError::UnknownSourceType {
                name: name.to_owned(),
            })
    }

    /// The type's name, as [`SourceType::parse`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StandardWebhooks => "standard-webhooks",
            Self::Svix => "svix",
            Self::Replicate => "replicate",
            Self::Clerk => "clerk",
            Self::Resend => "resend",
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Shopify => "shopify",
            Self::Slack => "slack",
            Self::Twilio => "twilio",
            Self::GenericWebhook => "generic-webhook",
        }
    }

    /// Whether the type signs with Standard Webhooks, so that its secrets are `whsec_` keys
    /// (or `whpk_` public keys) for [`Verifier::standard_webhooks`].
    pub fn uses_standard_webhooks(self) -> bool {
        matches!(
            self,
            Self::StandardWebhooks | Self::Svix | Self::Replicate | Self::Clerk | Self::Resend
        )
    }
}

impl fmt::Display for SourceType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A source's verifier: its scheme, its secrets and its timestamp tolerance.
#[derive(Debug, Clone)]
pub struct Verifier {
    scheme: Scheme,
    tolerance_secs: i64,
}

#[derive(Debug, Clone)]
enum Scheme {
    StandardWebhooks(Vec<VerificationKey>),
    Stripe(SharedSecrets),
    Github(SharedSecrets),
    Shopify(SharedSecrets),
    Slack(SharedSecrets),
    Twilio {
        auth_tokens: SharedSecrets,
        public_url: String,
    },
    Generic(GenericVerifier),
}

impl Verifier {
    /// Standard Webhooks (`standard-webhooks`, `svix`, `replicate`, `clerk`, `resend`):
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature`, or the same with `svix-`.
    ///
    /// The keys are `whsec_` secrets, `whsk_` key pairs or `whpk_` public keys
    /// ([`VerificationKey`]); each checks the header's entries of its own kind.
    ///
    /// # Errors
    /// [`ConfigError::NoSecrets`] for an empty list.
    pub fn standard_webhooks<K: Into<VerificationKey>>(
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Self, ConfigError> {
        let secrets: Vec<VerificationKey> = keys.into_iter().map(Into::into).collect();
        if secrets.is_empty() {
            return Err(ConfigError::NoSecrets);
        }
        Ok(Self::with_scheme(Scheme::StandardWebhooks(secrets)))
    }

    /// Stripe's `Stripe-Signature`; each secret is the whole `whsec_...` text.
    pub fn stripe(secrets: SharedSecrets) -> Self {
        Self::with_scheme(Scheme::Stripe(secrets))
    }

    /// GitHub's `X-Hub-Signature-256`.
    pub fn github(secrets: SharedSecrets) -> Self {
        Self::with_scheme(Scheme::Github(secrets))
    }

    /// Shopify's `X-Shopify-Hmac-Sha256`.
    pub fn shopify(secrets: SharedSecrets) -> Self {
        Self::with_scheme(Scheme::Shopify(secrets))
    }

    /// Slack's `X-Slack-Signature` and `X-Slack-Request-Timestamp`.
    pub fn slack(signing_secrets: SharedSecrets) -> Self {
        Self::with_scheme(Scheme::Slack(signing_secrets))
    }

    /// Twilio's `X-Twilio-Signature`. `public_url` is the URL Twilio is configured to call,
    /// without the query (which is taken from each request), as seen from outside any proxy.
    ///
    /// # Errors
    /// [`ConfigError::InvalidPublicUrl`] unless it is `http://` or `https://`, a host, and an
    /// optional path, with no `?` or `#`.
    pub fn twilio(auth_tokens: SharedSecrets, public_url: &str) -> Result<Self, ConfigError> {
        let rest = public_url
            .strip_prefix("https://")
            .or_else(|| public_url.strip_prefix("http://"))
            .ok_or(ConfigError::InvalidPublicUrl)?;
        let host_is_empty = rest.is_empty() || rest.starts_with('/');
        if host_is_empty
            || public_url.contains(['?', '#'])
            || public_url.contains(char::is_whitespace)
        {
            return Err(ConfigError::InvalidPublicUrl);
        }
        Ok(Self::with_scheme(Scheme::Twilio {
            auth_tokens,
            public_url: public_url.to_owned(),
        }))
    }

    /// A `generic-webhook` source.
    pub fn generic(verifier: GenericVerifier) -> Self {
        Self::with_scheme(Scheme::Generic(verifier))
    }

    /// Replaces the timestamp tolerance of Standard Webhooks, Stripe and Slack (default
    /// [`DEFAULT_TOLERANCE_SECS`]). A generic HMAC carries its own.
    ///
    /// # Errors
    /// [`ConfigError::NegativeTolerance`].
    pub fn with_tolerance(mut self, tolerance_secs: i64) -> Result<Self, ConfigError> {
        self.tolerance_secs = check_tolerance(tolerance_secs)?;
        Ok(self)
    }

    /// Verifies `request`, with `now_unix` as the current time for schemes with a timestamp.
    ///
    /// # Errors
    /// The scheme's [`VerifyError`]; an absent header counts as an empty one, and a header that
    /// is not UTF-8 as a malformed one.
    pub fn verify(&self, request: &InboundRequest<'_>, now_unix: i64) -> Result<(), VerifyError> {
        let tolerance = self.tolerance_secs;
        let header = |name: &str| -> Result<&str, VerifyError> {
            Ok(request
                .header(name, VerifyError::MalformedSignature)?
                .unwrap_or(""))
        };
        let body = request.body;
        match &self.scheme {
            Scheme::StandardWebhooks(secrets) => {
                let prefix = if request
                    .header("webhook-id", VerifyError::MalformedSignature)?
                    .is_some()
                {
                    "webhook"
                } else {
                    "svix"
                };
                let msg_id = header(&format!("{prefix}-id"))?;
                let timestamp = request
                    .header(
                        &format!("{prefix}-timestamp"),
                        VerifyError::InvalidTimestamp,
                    )?
                    .unwrap_or("");
                let signature = header(&format!("{prefix}-signature"))?;
                standard::verify_keys(
                    secrets, msg_id, timestamp, signature, body, now_unix, tolerance,
                )
            }
            Scheme::Stripe(secrets) => {
                let signature = header(stripe::SIGNATURE_HEADER)?;
                stripe::verify_any(secrets.as_slice(), signature, body, now_unix, tolerance)
            }
            Scheme::Github(secrets) => {
                github::verify_any(secrets.as_slice(), header(github::SIGNATURE_HEADER)?, body)
            }
            Scheme::Shopify(secrets) => {
                shopify::verify_any(secrets.as_slice(), header(shopify::SIGNATURE_HEADER)?, body)
            }
            Scheme::Slack(secrets) => {
                let timestamp = request
                    .header(slack::TIMESTAMP_HEADER, VerifyError::InvalidTimestamp)?
                    .unwrap_or("");
                let signature = header(slack::SIGNATURE_HEADER)?;
                slack::verify_any(
                    secrets.as_slice(),
                    timestamp,
                    signature,
                    body,
                    now_unix,
                    tolerance,
                )
            }
            Scheme::Twilio {
                auth_tokens,
                public_url,
            } => {
                let signature = header(twilio::SIGNATURE_HEADER)?;
                let url = if request.query.is_empty() {
                    public_url.clone()
                } else {
                    format!("{public_url}?{}", request.query)
                };
                let signs_body_hash = form_urlencoded::parse(request.query.as_bytes())
                    .any(|(name, _)| name == twilio::BODY_SHA256_PARAM);
                if signs_body_hash {
                    twilio::verify_json_any(auth_tokens.as_slice(), &url, body, signature)
                } else {
                    let params: Vec<(String, String)> = form_urlencoded::parse(body)
                        .map(|(name, value)| (name.into_owned(), value.into_owned()))
                        .collect();
                    twilio::verify_any(auth_tokens.as_slice(), &url, &params, signature)
                }
            }
            Scheme::Generic(generic) => generic.verify(request, now_unix),
        }
    }

    fn with_scheme(scheme: Scheme) -> Self {
        Self {
            scheme,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }
}
