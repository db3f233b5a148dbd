//! Agreement with the providers' own libraries: every case in
//! `compat/provider_libraries/cases.json` was signed by a provider's library (stripe, slack_sdk,
//! standardwebhooks, svix, twilio, @octokit/webhooks-methods, @shopify/shopify-api) and judged
//! by it, tampered and stale requests included. Each goes through [`Verifier`] as the inbound
//! gateway would use it, and our verdict must be the library's. `compat/test_provider_libraries.py` keeps the file
//! what the pinned libraries say.

use std::collections::BTreeMap;

use serde::Deserialize;
use webhook_signature::{InboundRequest, Secret, SharedSecrets, SourceType, Verifier};

#[derive(Deserialize)]
struct Document {
    libraries: BTreeMap<String, String>,
    tolerance_secs: i64,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    provider: String,
    name: String,
    secrets: Vec<String>,
    headers: BTreeMap<String, String>,
    body: String,
    now: i64,
    public_url: Option<String>,
    query: Option<String>,
    library_accepts: bool,
}

impl Case {
    fn verifier(&self) -> Verifier {
        let source_type = SourceType::parse(&self.provider).expect("a known source type");
        if source_type.uses_standard_webhooks() {
            let secrets = self
                .secrets
                .iter()
                .map(|secret| Secret::parse(secret).expect("whsec secret"));
            return Verifier::standard_webhooks(secrets).expect("secrets");
        }
        let secrets = SharedSecrets::new(&self.secrets).expect("non-empty secrets");
        match source_type {
            SourceType::Stripe => Verifier::stripe(secrets),
            SourceType::Slack => Verifier::slack(secrets),
            SourceType::Github => Verifier::github(secrets),
            SourceType::Shopify => Verifier::shopify(secrets),
            SourceType::Twilio => {
                let public_url = self
                    .public_url
                    .as_deref()
                    .expect("twilio cases name their URL");
                Verifier::twilio(secrets, public_url).expect("a valid public URL")
            }
            other => panic!("no library cases are expected for {other}"),
        }
    }

    fn hookd_accepts(&self, tolerance_secs: i64) -> bool {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        let request = InboundRequest {
            query: self.query.as_deref().unwrap_or(""),
            headers: &headers,
            body: self.body.as_bytes(),
        };
        let verifier = self
            .verifier()
            .with_tolerance(tolerance_secs)
            .expect("tolerance");
        verifier.verify(&request, self.now).is_ok()
    }
}

#[test]
fn every_verdict_matches_the_providers_own_library() {
    let document: Document = serde_json::from_str(include_str!(
        "../../../../compat/provider_libraries/cases.json"
    ))
    .expect("cases.json parses");
    // An emptied or truncated file must not pass by checking nothing.
    for provider in [
        "stripe",
        "slack",
        "standard-webhooks",
        "svix",
        "github",
        "twilio",
        "shopify",
    ] {
        let (accepted, rejected): (Vec<&Case>, Vec<&Case>) = document
            .cases
            .iter()
            .filter(|case| case.provider == provider)
            .partition(|case| case.library_accepts);
        assert!(
            accepted.len() >= 2 && rejected.len() >= 3,
            "{provider}: too few cases"
        );
    }
    assert_eq!(document.libraries.len(), 7, "{:?}", document.libraries);

    let disagreements: Vec<String> = document
        .cases
        .iter()
        .filter(|case| case.hookd_accepts(document.tolerance_secs) != case.library_accepts)
        .map(|case| {
            let library = if case.library_accepts {
                "accepts"
            } else {
                "rejects"
            };
            format!(
                "{} / {}: the library {library}, hookd does not",
                case.provider, case.name
            )
        })
        .collect();
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
