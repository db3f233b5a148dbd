//! Loads the vendored signature vectors, compiled into the test binary so no path is read at run
//! time.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
pub struct Vectors {
    pub standard_webhooks: Vec<StandardVector>,
    pub github: Vec<GithubVector>,
    pub slack: Vec<SlackVector>,
    pub twilio: Vec<TwilioVector>,
    pub stripe: Vec<StripeVector>,
}

#[derive(Deserialize)]
pub struct StandardVector {
    pub secret: String,
    pub msg_id: String,
    pub timestamp: i64,
    pub payload: String,
    pub signature: String,
}

#[derive(Deserialize)]
pub struct GithubVector {
    pub secret: String,
    pub payload: String,
    pub header: String,
    pub signature: String,
}

#[derive(Deserialize)]
pub struct SlackVector {
    pub secret: String,
    pub timestamp: i64,
    pub payload: String,
    pub header: String,
    pub signature: String,
}

#[derive(Deserialize)]
pub struct TwilioVector {
    pub auth_token: String,
    pub url: String,
    pub params: BTreeMap<String, String>,
    pub header: String,
    pub signature: String,
}

#[derive(Deserialize)]
pub struct StripeVector {
    pub secret: String,
    pub timestamp: i64,
    pub payload: String,
    pub header: String,
    pub signature: String,
}

pub fn load() -> Vectors {
    let vectors: Vectors =
        serde_json::from_str(include_str!("../vectors/signatures.json")).expect("vectors parse");
    // Guard against an emptied file silently turning every loop below into a no-op.
    assert!(!vectors.standard_webhooks.is_empty());
    assert!(!vectors.github.is_empty());
    assert!(!vectors.slack.is_empty());
    assert!(!vectors.twilio.is_empty());
    assert!(!vectors.stripe.is_empty());
    vectors
}
