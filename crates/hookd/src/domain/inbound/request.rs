//! The pure rules for one received request, once its source's verifier (`Scheme::verifier`)
//! has judged it: what is the provider's delivery id (the dedupe key), which event type does it
//! carry, is it Slack's `url_verification`, which of its headers are forwarded, and which must
//! not be kept as sent. Nothing here does I/O.

use serde_json::Value;
use webhook_signature::{InboundRequest, VerifyError};

use super::{Scheme, Source, never_forwarded};
use crate::domain::EventTypeName;

/// A request's headers, names lowercased, in the order received.
#[derive(Debug, Clone, Default)]
pub struct InboundHeaders(pub Vec<(String, String)>);

impl InboundHeaders {
    /// The first value of the header `name` (lowercase), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }

    /// The headers as `webhook_signature::InboundRequest` borrows them.
    pub fn as_pairs(&self) -> Vec<(&str, &[u8])> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect()
    }

    /// The request as the verifier reads it.
    pub fn request<'a>(
        pairs: &'a [(&'a str, &'a [u8])],
        query: &'a str,
        body: &'a [u8],
    ) -> InboundRequest<'a> {
        InboundRequest {
            query,
            headers: pairs,
            body,
        }
    }
}

/// Why a request was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Its signature did not verify.
    Signature(VerifyError),
    /// The body is not UTF-8 text, which a message payload must be.
    BodyNotUtf8,
}

const SIGNATURE_REASONS: &[VerifyError] = &[
    VerifyError::MissingMessageId,
    VerifyError::MissingSignature,
    VerifyError::MalformedSignature,
    VerifyError::MissingTimestamp,
    VerifyError::InvalidTimestamp,
    VerifyError::TimestampTooOld,
    VerifyError::TimestampTooNew,
    VerifyError::NoMatchingSignature,
    VerifyError::MissingCredentials,
    VerifyError::MalformedCredentials,
    VerifyError::WrongCredentials,
];

impl RejectReason {
    /// A stable snake_case code: what the provider is told and what the record keeps.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::Signature(error) => error.code(),
            RejectReason::BodyNotUtf8 => "body_not_utf8",
        }
    }

    /// The reason a stored code names.
    pub fn from_code(code: &str) -> Option<RejectReason> {
        if code == "body_not_utf8" {
            return Some(RejectReason::BodyNotUtf8);
        }
        SIGNATURE_REASONS
            .iter()
            .find(|error| error.code() == code)
            .map(|error| RejectReason::Signature(*error))
    }
}

/// The provider's delivery id, which a retry of the same event repeats: the configured
/// header, else the type's own header or body field. `None` when the request has none (it is
/// then never a duplicate).
pub fn dedupe_key(source: &Source, headers: &InboundHeaders, body: &[u8]) -> Option<String> {
    let key = match &source.fields.config.dedupe_header {
        Some(header) => headers.get(header).map(str::to_owned),
        None => match source.fields.source_type.scheme() {
            Scheme::Github => headers.get("x-github-delivery").map(str::to_owned),
            Scheme::Shopify => headers.get("x-shopify-webhook-id").map(str::to_owned),
            Scheme::Standard => ["webhook-id", "svix-id"]
                .iter()
                .find_map(|name| headers.get(name))
                .map(str::to_owned),
            Scheme::Stripe => body_text_field(body, &["id"]),
            Scheme::Slack => body_text_field(body, &["event_id"]),
            Scheme::Twilio => headers.get("i-twilio-idempotency-token").map(str::to_owned),
            Scheme::Generic => None,
        },
    };
    key.filter(|key| !key.is_empty() && key.len() <= 512)
}

/// The event type the provider gave the request, made a valid event type name (characters
/// hookd does not allow in one, such as Shopify's `/`, become `.`); `{type}.request` when the
/// provider gives none.
pub fn event_type(source: &Source, headers: &InboundHeaders, body: &[u8]) -> EventTypeName {
    let given = match source.fields.source_type.scheme() {
        Scheme::Github => headers.get("x-github-event").map(str::to_owned),
        Scheme::Shopify => headers.get("x-shopify-topic").map(str::to_owned),
        Scheme::Stripe | Scheme::Standard => body_text_field(body, &["type"]),
        Scheme::Slack => {
            body_text_field(body, &["event", "type"]).or_else(|| body_text_field(body, &["type"]))
        }
        Scheme::Twilio | Scheme::Generic => None,
    };
    let cleaned = given.map(|name| {
        name.chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => c,
                _ => '.',
            })
            .take(256)
            .collect::<String>()
    });
    cleaned
        .and_then(|name| EventTypeName::parse(&name).ok())
        .unwrap_or_else(|| {
            let fallback = format!("{}.request", source.fields.source_type.as_str());
            EventTypeName::parse(&fallback).expect("source type names are valid event types")
        })
}

/// Slack's `url_verification` challenge, which must be answered with its `challenge`.
pub fn slack_challenge(source: &Source, body: &[u8]) -> Option<String> {
    if source.fields.source_type.scheme() != Scheme::Slack {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    (value.get("type")?.as_str()? == "url_verification")
        .then(|| value.get("challenge")?.as_str().map(str::to_owned))
        .flatten()
}

/// The original headers the source forwards (`forwardHeaders`), as received, in order; never
/// one that hookd writes itself.
pub fn forwarded_headers(source: &Source, headers: &InboundHeaders) -> Vec<(String, String)> {
    let wanted = &source.fields.config.forward_headers;
    headers
        .0
        .iter()
        .filter(|(name, _)| wanted.contains(name) && !never_forwarded(name))
        .cloned()
        .collect()
}

/// Header names whose values are credentials or signatures, kept as `[redacted]`.
const REDACTED_HEADER_PARTS: &[&str] = &[
    "authorization",
    "cookie",
    "signature",
    "hmac",
    "token",
    "secret",
    "api-key",
    "apikey",
];

/// The headers as the request record keeps them: credentials and signatures redacted.
pub fn redacted_headers(headers: &InboundHeaders) -> Vec<(String, String)> {
    headers
        .0
        .iter()
        .map(|(name, value)| {
            if REDACTED_HEADER_PARTS.iter().any(|part| name.contains(part)) {
                (name.clone(), "[redacted]".to_owned())
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect()
}

fn body_text_field(body: &[u8], path: &[&str]) -> Option<String> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    for key in path {
        value = value.get_mut(*key)?.take();
    }
    value.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inbound::{SourceConfig, SourceFields, SourceType};
    use crate::domain::{Metadata, SourceId};

    fn source(type_name: &str, secrets: &[&str]) -> Source {
        let source_type = SourceType::parse(type_name).unwrap();
        let mut config = SourceConfig::parse(
            SourceType::parse("generic-webhook").unwrap(),
            &Default::default(),
        )
        .unwrap();
        config.secrets = secrets.iter().map(|s| (*s).to_owned()).collect();
        Source {
            id: SourceId::from_trusted("src_1"),
            fields: SourceFields {
                uid: None,
                name: "s".into(),
                source_type,
                config,
                metadata: Metadata::new(),
            },
            token: "t".into(),
            created_at: Default::default(),
            updated_at: Default::default(),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> InboundHeaders {
        InboundHeaders(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn verify(source: &Source, sent: &InboundHeaders, body: &[u8]) -> Result<(), VerifyError> {
        let pairs = sent.as_pairs();
        source
            .verifier("https://hookd.test/in")
            .unwrap()
            .verify(&InboundHeaders::request(&pairs, "", body), 1000)
    }

    #[test]
    fn any_secret_of_a_rotation_verifies() {
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let signature = webhook_signature::stripe::sign(b"whsec_old", 1000, body);
        let source = source("stripe", &["whsec_new", "whsec_old"]);
        let sent = headers(&[("stripe-signature", &signature)]);
        assert_eq!(verify(&source, &sent, body), Ok(()));
        let mut unknown = source.clone();
        unknown.fields.config.secrets = vec!["whsec_other".into()];
        assert_eq!(
            verify(&unknown, &sent, body),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn only_listed_headers_are_forwarded_and_never_hookds_own() {
        let mut source = source("github", &["s"]);
        source.fields.config.forward_headers = vec!["x-github-event".into(), "webhook-id".into()];
        let sent = headers(&[
            ("x-github-event", "push"),
            ("x-other", "no"),
            ("webhook-id", "msg_1"),
        ]);
        assert_eq!(
            forwarded_headers(&source, &sent),
            [("x-github-event".to_owned(), "push".to_owned())]
        );
    }

    #[test]
    fn delivery_ids_and_event_types_come_from_the_provider() {
        // (type, headers, body, dedupe key, event type)
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            &'a str,
            Option<&'a str>,
            &'a str,
        );
        let cases: &[Case] = &[
            (
                "github",
                &[("x-github-delivery", "d1"), ("x-github-event", "push")],
                "{}",
                Some("d1"),
                "push",
            ),
            (
                "shopify",
                &[
                    ("x-shopify-webhook-id", "w1"),
                    ("x-shopify-topic", "orders/create"),
                ],
                "{}",
                Some("w1"),
                "orders.create",
            ),
            (
                "stripe",
                &[],
                r#"{"id":"evt_1","type":"invoice.paid"}"#,
                Some("evt_1"),
                "invoice.paid",
            ),
            (
                "slack",
                &[],
                r#"{"event_id":"Ev1","event":{"type":"app_mention"}}"#,
                Some("Ev1"),
                "app_mention",
            ),
            (
                "svix",
                &[("svix-id", "msg_1")],
                r#"{"type":"user.created"}"#,
                Some("msg_1"),
                "user.created",
            ),
            (
                "clerk",
                &[("webhook-id", "msg_2")],
                "{}",
                Some("msg_2"),
                "clerk.request",
            ),
            (
                "twilio",
                &[("i-twilio-idempotency-token", "tw1")],
                "a=b",
                Some("tw1"),
                "twilio.request",
            ),
            (
                "generic-webhook",
                &[("x-id", "g1")],
                "not json",
                None,
                "generic-webhook.request",
            ),
        ];
        for (type_name, sent, body, key, event) in cases {
            let source = source(type_name, &["s"]);
            let sent = headers(sent);
            assert_eq!(
                dedupe_key(&source, &sent, body.as_bytes()).as_deref(),
                *key,
                "{type_name}"
            );
            assert_eq!(
                event_type(&source, &sent, body.as_bytes()).as_str(),
                *event,
                "{type_name}"
            );
        }
    }

    #[test]
    fn a_configured_dedupe_header_wins() {
        let mut source = source("generic-webhook", &[]);
        source.fields.config.dedupe_header = Some("x-id".into());
        assert_eq!(
            dedupe_key(&source, &headers(&[("x-id", "g1")]), b"").as_deref(),
            Some("g1")
        );
    }

    #[test]
    fn signatures_and_credentials_are_redacted() {
        let kept = redacted_headers(&headers(&[
            ("stripe-signature", "t=1,v1=ab"),
            ("authorization", "Bearer x"),
            ("content-type", "application/json"),
        ]));
        assert_eq!(kept[0].1, "[redacted]");
        assert_eq!(kept[1].1, "[redacted]");
        assert_eq!(kept[2].1, "application/json");
    }

    #[test]
    fn reject_codes_read_back() {
        for reason in SIGNATURE_REASONS
            .iter()
            .map(|error| RejectReason::Signature(*error))
            .chain([RejectReason::BodyNotUtf8])
        {
            assert_eq!(RejectReason::from_code(reason.code()), Some(reason));
        }
    }

    #[test]
    fn slack_url_verification_is_answered() {
        let source = source("slack", &["s"]);
        let body = br#"{"type":"url_verification","challenge":"abc"}"#;
        assert_eq!(slack_challenge(&source, body).as_deref(), Some("abc"));
        assert_eq!(
            slack_challenge(&source, br#"{"type":"event_callback"}"#),
            None
        );
    }
}
