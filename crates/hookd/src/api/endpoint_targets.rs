//! The SSRF guard at the API edge, the part that needs no DNS: an endpoint URL's syntax and
//! its IP literal are checked as the body is parsed, so a bad target is refused with a 422
//! instead of failing quietly at every delivery. Host names are resolved and checked by the
//! operation that sets the URL (`ops::endpoint_targets`).

use super::error::{ApiError, ApiResult};
use crate::domain::EndpointUrl;
use crate::policy::ssrf::{TargetPolicy, check_url};

/// The URL's syntax and the parts of the SSRF guard that need no DNS.
pub fn parse_url(raw: &str, policy: &TargetPolicy) -> ApiResult<EndpointUrl> {
    let url = EndpointUrl::parse(raw).map_err(|error| ApiError::invalid_input(&["url"], error))?;
    if url.is_polling() {
        // Nothing is ever sent to a polling endpoint: it has no address to guard.
        return Ok(url);
    }
    check_url(url.as_url(), policy)
        .map_err(|rejection| ApiError::invalid_body(&["url"], rejection.to_string()))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARDED: TargetPolicy = TargetPolicy {
        allow_private: false,
        https_only: false,
    };
    const OPEN: TargetPolicy = TargetPolicy {
        allow_private: true,
        https_only: false,
    };

    #[test]
    fn urls_are_checked_without_dns() {
        assert!(parse_url("https://example.com/hook", &GUARDED).is_ok());
        assert!(parse_url("http://127.0.0.1:8000/", &OPEN).is_ok());
        assert!(parse_url("polling:", &GUARDED).is_ok());
        for refused in [
            "http://127.0.0.1/",
            "http://localhost/",
            "http://u:p@example.com/",
            "gopher://x",
            "polling://127.0.0.1/",
        ] {
            let error = parse_url(refused, &GUARDED).expect_err(refused);
            assert_eq!(
                error.body()["detail"][0]["loc"],
                serde_json::json!(["body", "url"])
            );
        }
    }
}
