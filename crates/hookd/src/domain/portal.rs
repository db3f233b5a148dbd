//! The app portal's settings as parsed from `hookd serve`'s flags: the sites allowed to embed it
//! (`--portal-frame-ancestors`), and the SaaS's brand on it (`--portal-name`,
//! `--portal-logo-url`, `--portal-primary-color`). Each is parsed once, here, into a type that
//! can only hold what is safe to put into a header or a stylesheet, so the web layer writes them
//! out without checking again.

use std::fmt;

/// One origin that may embed the portal in a frame, as a CSP `frame-ancestors` source:
/// `https://app.example.com`, `https://*.example.com`, `http://127.0.0.1:3000`. Only a scheme,
/// a host and a port: nothing that could end the directive or add another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameAncestor(String);

/// Why a `--portal-*` value was refused; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{written:?} {problem}")]
pub struct PortalSettingError {
    pub written: String,
    pub problem: &'static str,
}

fn refused(written: &str, problem: &'static str) -> PortalSettingError {
    PortalSettingError {
        written: written.to_owned(),
        problem,
    }
}

impl FrameAncestor {
    pub fn parse(written: &str) -> Result<FrameAncestor, PortalSettingError> {
        const SHAPE: &str = "is not an origin: write scheme://host[:port], as in \
             https://app.example.com or https://*.example.com (no path, no quotes)";
        let lowercase = written.trim().to_ascii_lowercase();
        let Some((scheme, rest)) = lowercase.split_once("://") else {
            return Err(refused(written, SHAPE));
        };
        if scheme != "https" && scheme != "http" {
            return Err(refused(written, "must start with https:// or http://"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        let host_name = host.strip_prefix("*.").unwrap_or(host);
        let host_ok = !host_name.is_empty()
            && host_name
                .split('.')
                .all(|label| !label.is_empty() && label.bytes().all(is_host_byte));
        let port_ok = port.is_none_or(|port| {
            port == "*"
                || (!port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()))
        });
        if !host_ok || !port_ok {
            return Err(refused(written, SHAPE));
        }
        Ok(FrameAncestor(format!("{scheme}://{rest}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_host_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-'
}

/// Parses `--portal-frame-ancestors`: origins separated by commas or spaces. Empty means none.
pub fn parse_frame_ancestors(written: &str) -> Result<Vec<FrameAncestor>, PortalSettingError> {
    written
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|origin| !origin.is_empty())
        .map(FrameAncestor::parse)
        .collect()
}

/// The portal's primary colour, `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrandColor {
    pub red: u8,
    pub green: u8,
    pub blue: u8,
}

impl BrandColor {
    pub fn parse(written: &str) -> Result<BrandColor, PortalSettingError> {
        let digits = written.trim().strip_prefix('#').unwrap_or("");
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(refused(
                written,
                "is not a colour: write # and six hex digits, as in #1f6feb",
            ));
        }
        let channel = |at: usize| u8::from_str_radix(&digits[at..at + 2], 16).unwrap_or(0);
        Ok(BrandColor {
            red: channel(0),
            green: channel(2),
            blue: channel(4),
        })
    }

    /// This colour moved `amount` (0 to 1) of the way towards `toward`: a darker shade for
    /// hover, a pale one for backgrounds.
    pub fn mix(self, toward: BrandColor, amount: f32) -> BrandColor {
        let blend = |from: u8, to: u8| {
            let value = f32::from(from) + (f32::from(to) - f32::from(from)) * amount;
            value.round().clamp(0.0, 255.0) as u8
        };
        BrandColor {
            red: blend(self.red, toward.red),
            green: blend(self.green, toward.green),
            blue: blend(self.blue, toward.blue),
        }
    }

    pub const BLACK: BrandColor = BrandColor {
        red: 0,
        green: 0,
        blue: 0,
    };
    pub const WHITE: BrandColor = BrandColor {
        red: 255,
        green: 255,
        blue: 255,
    };
}

impl fmt::Display for BrandColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.red, self.green, self.blue)
    }
}

/// Where the portal's logo comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalLogo {
    /// An image on another server (`https://...`); its origin joins the portal's `img-src`.
    Remote { url: String, origin: String },
    /// A `data:image/...` URI, shown as it is (`img-src` allows `data:`).
    Inline(String),
    /// A file that hookd reads at start and serves itself, at `/assets/portal-logo`.
    File(std::path::PathBuf),
}

impl PortalLogo {
    pub fn parse(written: &str) -> Result<PortalLogo, PortalSettingError> {
        let trimmed = written.trim();
        if trimmed.is_empty() {
            return Err(refused(written, "is empty"));
        }
        if trimmed.starts_with("data:") {
            let is_image = trimmed.starts_with("data:image/");
            let is_safe = !trimmed.contains(['"', '\'', '<', '>', ' ', '\n', '\r']);
            if !is_image || !is_safe {
                return Err(refused(
                    written,
                    "is not an image data: URI (data:image/png;base64,...)",
                ));
            }
            return Ok(PortalLogo::Inline(trimmed.to_owned()));
        }
        if let Some((scheme, rest)) = trimmed.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if scheme != "https" && scheme != "http" {
                return Err(refused(
                    written,
                    "must be an https:// URL, a data:image URI or a file path",
                ));
            }
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let origin = FrameAncestor::parse(&format!("{scheme}://{authority}"))
                .map_err(|_| refused(written, "is not a URL with a host name"))?;
            if trimmed.contains(['"', '\'', '<', '>', ' ', '\n', '\r']) {
                return Err(refused(written, "contains characters a URL may not hold"));
            }
            return Ok(PortalLogo::Remote {
                url: trimmed.to_owned(),
                origin: origin.as_str().to_owned(),
            });
        }
        Ok(PortalLogo::File(trimmed.into()))
    }
}

/// Everything the flags say about the portal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalSettings {
    /// Sites allowed to embed the portal; empty: none (`frame-ancestors 'none'`).
    pub frame_ancestors: Vec<FrameAncestor>,
    /// The SaaS's name on the portal's pages; `None` shows hookd's.
    pub name: Option<String>,
    pub logo: Option<PortalLogo>,
    pub primary_color: Option<BrandColor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_ancestor(written: &str, expected: Option<&str>) {
        let parsed = FrameAncestor::parse(written).ok();
        assert_eq!(
            parsed.as_ref().map(FrameAncestor::as_str),
            expected,
            "{written:?}"
        );
    }

    #[test]
    fn frame_ancestors_are_bare_origins() {
        check_ancestor("https://app.example.com", Some("https://app.example.com"));
        check_ancestor("https://App.Example.com/", Some("https://app.example.com"));
        check_ancestor("https://*.example.com", Some("https://*.example.com"));
        check_ancestor("http://127.0.0.1:3000", Some("http://127.0.0.1:3000"));
        check_ancestor("https://example.com:*", Some("https://example.com:*"));
        check_ancestor("example.com", None);
        check_ancestor("ftp://example.com", None);
        check_ancestor("https://example.com/path", None);
        check_ancestor("https://example.com; script-src *", None);
        check_ancestor("'self'", None);
        check_ancestor("https://", None);
        check_ancestor("https://a..b", None);
        check_ancestor("https://example.com:99999x", None);
        check_ancestor("https://*", None);
    }

    #[test]
    fn frame_ancestor_lists_split_on_commas_and_spaces() {
        let parsed =
            parse_frame_ancestors("https://a.example, https://b.example  http://c:1").unwrap();
        let origins: Vec<&str> = parsed.iter().map(FrameAncestor::as_str).collect();
        assert_eq!(
            origins,
            ["https://a.example", "https://b.example", "http://c:1"]
        );
        assert!(parse_frame_ancestors("").unwrap().is_empty());
        assert!(parse_frame_ancestors("https://a.example,bad").is_err());
    }

    #[test]
    fn colours_are_six_hex_digits() {
        for (written, expected) in [
            ("#1f6feb", Some("#1f6feb")),
            ("#1F6FEB", Some("#1f6feb")),
            (" #000000 ", Some("#000000")),
            ("1f6feb", None),
            ("#fff", None),
            ("#1f6feg", None),
            ("red", None),
            ("#1f6feb;", None),
            ("", None),
        ] {
            let parsed = BrandColor::parse(written)
                .ok()
                .map(|color| color.to_string());
            assert_eq!(parsed.as_deref(), expected, "{written:?}");
        }
        let error = BrandColor::parse("#fff").unwrap_err().to_string();
        assert!(error.contains("six hex digits"), "{error}");
    }

    #[test]
    fn shades_mix_towards_black_and_white() {
        let color = BrandColor::parse("#204080").unwrap();
        assert_eq!(color.mix(BrandColor::BLACK, 0.5).to_string(), "#102040");
        assert_eq!(color.mix(BrandColor::WHITE, 1.0).to_string(), "#ffffff");
        assert_eq!(color.mix(BrandColor::WHITE, 0.0).to_string(), "#204080");
    }

    #[test]
    fn logos_are_urls_data_uris_or_files() {
        assert_eq!(
            PortalLogo::parse("https://cdn.example.com/logo.svg?v=2").unwrap(),
            PortalLogo::Remote {
                url: "https://cdn.example.com/logo.svg?v=2".to_owned(),
                origin: "https://cdn.example.com".to_owned(),
            }
        );
        assert_eq!(
            PortalLogo::parse("data:image/png;base64,iVBOR").unwrap(),
            PortalLogo::Inline("data:image/png;base64,iVBOR".to_owned())
        );
        assert_eq!(
            PortalLogo::parse("./brand/logo.png").unwrap(),
            PortalLogo::File("./brand/logo.png".into())
        );
        for refused in [
            "",
            "data:text/html,<script>",
            "javascript://alert(1)",
            "https:///nohost.png",
            "https://cdn.example.com/a\"b.png",
        ] {
            assert!(PortalLogo::parse(refused).is_err(), "{refused:?}");
        }
    }
}
