//! The few calls of hookd's REST API the benchmark makes: create an application, create an
//! endpoint, send a message, and for the inbound gateway create a source and its ingest
//! endpoint (Svix Ingest's API under `/ingest/api/v1`). Requests are the ones a Svix SDK would send, with the admin token as
//! a bearer token. Every call goes to the loopback address hookd was started on.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::json;

/// Longest any one API call may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The event type of every benchmark message.
pub const EVENT_TYPE: &str = "bench.event";

/// A client of one hookd process. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct HookdApi {
    http: reqwest::Client,
    base_url: String,
    ingest_base_url: String,
    authorization: String,
}

/// An inbound source as the benchmark needs it: its id and the URL providers post to.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundSource {
    pub id: String,
    pub ingest_url: String,
}

/// The part of hookd's answers the benchmark needs: the created object's id.
#[derive(Deserialize)]
struct Created {
    id: String,
}

impl HookdApi {
    pub fn new(http: reqwest::Client, base_url: &str, admin_token: &str) -> Self {
        HookdApi {
            http,
            base_url: format!("{base_url}/api/v1"),
            ingest_base_url: format!("{base_url}/ingest/api/v1"),
            authorization: format!("Bearer {admin_token}"),
        }
    }

    /// `POST /app`; returns the application id.
    pub async fn create_application(&self, name: &str) -> anyhow::Result<String> {
        self.create(
            &format!("{}/app", self.base_url),
            json!({ "name": name }).to_string(),
        )
        .await
        .context("creating an application")
    }

    /// `POST /app/{app}/endpoint`; returns the endpoint id.
    pub async fn create_endpoint(&self, app_id: &str, url: &str) -> anyhow::Result<String> {
        self.create(
            &format!("{}/app/{app_id}/endpoint", self.base_url),
            json!({ "url": url }).to_string(),
        )
        .await
        .context("creating an endpoint")
    }

    /// `POST /app/{app}/msg` with an already serialized `MessageIn` body; returns the message id,
    /// which is also the `webhook-id` every delivery of it carries.
    pub async fn send_message(&self, app_id: &str, body: String) -> anyhow::Result<String> {
        self.create(&format!("{}/app/{app_id}/msg", self.base_url), body)
            .await
    }

    /// `POST /ingest/api/v1/source` of `source_type` (`stripe`, `github`, ...) verifying with
    /// `secret`; returns the source with its ingest URL.
    pub async fn create_source(
        &self,
        source_type: &str,
        secret: &str,
    ) -> anyhow::Result<InboundSource> {
        let body =
            json!({ "name": source_type, "type": source_type, "config": { "secret": secret } });
        let response = self
            .post(
                &format!("{}/source", self.ingest_base_url),
                body.to_string(),
            )
            .await
            .with_context(|| format!("creating a {source_type} source"))?;
        Ok(response.json::<InboundSource>().await?)
    }

    /// `POST /ingest/api/v1/source/{id}/endpoint`: accepted events of the source go to `url`.
    pub async fn create_ingest_endpoint(
        &self,
        source_id: &str,
        url: &str,
    ) -> anyhow::Result<String> {
        self.create(
            &format!("{}/source/{source_id}/endpoint", self.ingest_base_url),
            json!({ "url": url }).to_string(),
        )
        .await
        .context("creating an ingest endpoint")
    }

    async fn create(&self, url: &str, body: String) -> anyhow::Result<String> {
        Ok(self.post(url, body).await?.json::<Created>().await?.id)
    }

    /// An authorized JSON `POST`; an answer other than 2xx is an error carrying hookd's body.
    async fn post(&self, url: &str, body: String) -> anyhow::Result<reqwest::Response> {
        let response = self
            .http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            bail!("hookd answered {status}: {detail}");
        }
        Ok(response)
    }
}

/// The body of a benchmark message: a `MessageIn` whose payload serializes to about 1 KiB.
/// `sequence` makes each payload distinct, as real events are.
pub fn message_body(sequence: u64) -> String {
    json!({ "eventType": EVENT_TYPE, "payload": payload(sequence) }).to_string()
}

/// The payload alone, as hookd delivers it: the ceiling scenario posts exactly this.
pub fn payload(sequence: u64) -> serde_json::Value {
    // Fields of a typical event, then filler to bring the serialized object to about 1 KiB.
    let mut payload = json!({
        "type": "invoice.paid",
        "sequence": sequence,
        "customer": { "id": "cus_4f1c2a9e", "email": "billing@example.com", "plan": "business" },
        "amount": 4200,
        "currency": "eur",
        "padding": "",
    });
    let filler_len = 1024usize.saturating_sub(payload.to_string().len());
    payload["padding"] = json!("x".repeat(filler_len));
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_about_one_kibibyte() {
        for sequence in [0, 7, 123_456_789] {
            let length = payload(sequence).to_string().len();
            assert!((1020..=1030).contains(&length), "{length} bytes");
        }
    }
}
