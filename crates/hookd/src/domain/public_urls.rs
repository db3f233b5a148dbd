//! The URLs hookd hands out (ingest URLs, portal links), built one way for the API and the
//! dashboard alike.

/// Where providers post to a source: this path and the source's token.
pub const INGEST_PATH: &str = "/ingest/in/";

/// hookd's public base URL, without a trailing slash: `--public-url`, else `http://` and the
/// request's `Host` (`localhost` without one).
pub fn public_base(public_url: Option<&str>, host: Option<&str>) -> String {
    match public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", host.unwrap_or("localhost")),
    }
}

/// The ingest URL of the source whose token is `token`, under `base` (from `public_base`).
pub fn ingest_url(base: &str, token: &str) -> String {
    format!("{base}{INGEST_PATH}{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_wins_over_the_host() {
        let cases = [
            (
                Some("https://hooks.example.com/"),
                Some("h:1"),
                "https://hooks.example.com",
            ),
            (
                Some("https://hooks.example.com"),
                None,
                "https://hooks.example.com",
            ),
            (None, Some("127.0.0.1:8071"), "http://127.0.0.1:8071"),
            (None, None, "http://localhost"),
        ];
        for (public_url, host, expected) in cases {
            assert_eq!(
                public_base(public_url, host),
                expected,
                "{public_url:?} {host:?}"
            );
        }
        assert_eq!(ingest_url("http://h", "tok"), "http://h/ingest/in/tok");
    }
}
