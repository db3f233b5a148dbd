//! Span export over OpenTelemetry OTLP (HTTP/protobuf), when `--otlp-endpoint` is given: the
//! `tracing` spans hookd opens (`request`, `ops.*`, `store.commit`, `delivery.attempt`,
//! `delivery.record`) become OpenTelemetry spans of the service `hookd`, batched by the SDK's
//! batch processor on the tokio runtime and posted to `<endpoint>/v1/traces`. Without the flag
//! none of this exists: no layer, no exporter task.
//!
//! The endpoint is the operator's own collector, so it is not held to the SSRF guard (which is
//! for webhook destinations that API callers choose). The exporter has its own reqwest client;
//! no span or event of it is exported, so a slow collector cannot feed itself.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use url::Url;

/// The path OTLP/HTTP collectors take traces on.
const TRACES_PATH: &str = "/v1/traces";
/// How long one export may take before the batch is given up (the collector is down).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where spans go: a collector's OTLP/HTTP base URL (`http://collector:4318`), or the full
/// traces URL (ending in `/v1/traces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpEndpoint {
    traces_url: Url,
}

/// Why `--otlp-endpoint` was refused.
#[derive(Debug, thiserror::Error)]
pub enum OtlpEndpointError {
    #[error("{written:?} is not a URL ({source}); write one like http://collector:4318")]
    NotAUrl {
        written: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{written:?} is not an http:// or https:// URL; OTLP export here is HTTP/protobuf")]
    NotHttp { written: String },
    #[error("{written:?} has a query or fragment; give the collector's base URL")]
    HasQuery { written: String },
}

impl OtlpEndpoint {
    /// Parses the flag's value: an http(s) URL without query or fragment. A base URL gets
    /// `/v1/traces` appended (after its own path, if any), as OTLP/HTTP exporters do.
    pub fn parse(written: &str) -> Result<OtlpEndpoint, OtlpEndpointError> {
        let url = Url::parse(written).map_err(|source| OtlpEndpointError::NotAUrl {
            written: written.to_owned(),
            source,
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(OtlpEndpointError::NotHttp {
                written: written.to_owned(),
            });
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(OtlpEndpointError::HasQuery {
                written: written.to_owned(),
            });
        }
        let mut traces_url = url;
        if !traces_url.path().ends_with(TRACES_PATH) {
            let base = traces_url.path().trim_end_matches('/').to_owned();
            traces_url.set_path(&format!("{base}{TRACES_PATH}"));
        }
        Ok(OtlpEndpoint { traces_url })
    }

    /// The URL spans are posted to.
    pub fn traces_url(&self) -> &Url {
        &self.traces_url
    }
}

impl std::fmt::Display for OtlpEndpoint {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.traces_url)
    }
}

/// The exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("could not set up the OTLP span exporter")]
pub struct OtlpSetupError(#[source] opentelemetry_otlp::ExporterBuildError);

/// The tracer provider that batches and exports spans. Must be called inside a tokio runtime:
/// the batch processor's task is spawned on it.
pub fn tracer_provider(endpoint: &OtlpEndpoint) -> Result<SdkTracerProvider, OtlpSetupError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.traces_url.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(
            reqwest::Client::builder()
                .timeout(EXPORT_TIMEOUT)
                .build()
                .unwrap_or_default(),
        )
        .build()
        .map_err(OtlpSetupError)?;
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let resource = Resource::builder()
        .with_service_name("hookd")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build())
}

/// The `tracing` layer that turns spans into the provider's spans.
pub fn layer<S>(
    provider: &SdkTracerProvider,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    // A log line inside a span (`delivery attempt`, `message accepted`) becomes an event of
    // that span, with the same fields: logs never carry a secret or a payload, so neither do
    // these.
    tracing_opentelemetry::layer().with_tracer(provider.tracer("hookd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(written: &str, expected: Result<&str, &str>) {
        let parsed = OtlpEndpoint::parse(written);
        match (&parsed, expected) {
            (Ok(endpoint), Ok(url)) => assert_eq!(endpoint.traces_url().as_str(), url),
            (Err(error), Err(fragment)) => {
                assert!(error.to_string().contains(fragment), "{written}: {error}")
            }
            _ => panic!("{written}: got {parsed:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn endpoints_are_base_urls_or_traces_urls() {
        #[rustfmt::skip]
        let cases = [
            ("http://127.0.0.1:4318", Ok("http://127.0.0.1:4318/v1/traces")),
            ("http://collector:4318/", Ok("http://collector:4318/v1/traces")),
            ("https://otel.example/v1/traces", Ok("https://otel.example/v1/traces")),
            ("https://otel.example/otlp", Ok("https://otel.example/otlp/v1/traces")),
            ("https://otel.example/otlp/", Ok("https://otel.example/otlp/v1/traces")),
            ("collector:4318", Err("not an http:// or https:// URL")),
            ("grpc://collector:4317", Err("not an http:// or https:// URL")),
            ("127.0.0.1:4318", Err("is not a URL")),
            ("", Err("is not a URL")),
            ("http://collector:4318/?token=x", Err("has a query")),
        ];
        for (written, expected) in cases {
            check(written, expected);
        }
    }
}
