//! What makes the app portal's pages the SaaS's own: the sites that may frame them, and its
//! name, logo and primary colour (`--portal-*`, parsed by `domain::portal`).
//!
//! A portal page is one answered to a session of an application token, or the portal's login
//! page; `security::add_security_headers` gives those the portal's Content-Security-Policy
//! (`frame-ancestors` the configured origins, `img-src` widened to a remote logo's origin) and
//! every other page the dashboard's (`frame-ancestors 'none'`). The colour reaches the pages
//! through a generated stylesheet (`/assets/brand.css`), never an inline style, so the CSP stays
//! without `unsafe-inline`. An embeddable portal's session cookie is `SameSite=None; Secure;
//! Partitioned` (`session.rs`): a framed page on another site gets no other kind.

use std::path::Path;

use crate::domain::portal::{BrandColor, PortalLogo, PortalSettings};

/// Where hookd serves a logo read from a file.
pub const LOGO_ASSET_PATH: &str = "/assets/portal-logo";
/// The largest logo file hookd serves.
const MAX_LOGO_BYTES: usize = 256 * 1024;

const CSP_BEFORE_IMAGES: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; img-src 'self' data:";

/// The admin dashboard's policy: no site may frame it.
pub const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; \
    img-src 'self' data:; frame-ancestors 'none'";

/// The portal's presentation, worked out once at start.
#[derive(Debug, Clone)]
pub struct PortalPresentation {
    /// The Content-Security-Policy of every portal page.
    pub content_security_policy: String,
    /// Whether some site may frame the portal (then its cookie is `SameSite=None`).
    pub embeddable: bool,
    /// The name on the portal's pages (hookd's when none is set).
    pub name: Option<String>,
    /// The `src` of the logo, if there is one.
    pub logo_src: Option<String>,
    /// A logo read from a file: its bytes and content type, served at `LOGO_ASSET_PATH`.
    pub logo_file: Option<(Vec<u8>, &'static str)>,
    /// The stylesheet that carries the primary colour.
    pub brand_css: String,
}

/// Why the portal's settings cannot be used (a logo file that cannot be served).
#[derive(Debug, thiserror::Error)]
pub enum PortalLoadError {
    #[error("--portal-logo-url: cannot read {path}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--portal-logo-url: {path} is {size} bytes; a logo may have at most {MAX_LOGO_BYTES}")]
    TooLarge { path: String, size: usize },
    #[error("--portal-logo-url: {path} is not a .png, .jpg, .jpeg, .gif, .webp or .svg file")]
    NotAnImage { path: String },
}

impl PortalPresentation {
    /// Reads a logo file, if one is named, and renders the policy and stylesheet.
    pub fn load(settings: &PortalSettings) -> Result<PortalPresentation, PortalLoadError> {
        let (logo_src, logo_file, logo_origin) = match &settings.logo {
            None => (None, None, None),
            Some(PortalLogo::Inline(uri)) => (Some(uri.clone()), None, None),
            Some(PortalLogo::Remote { url, origin }) => {
                (Some(url.clone()), None, Some(origin.clone()))
            }
            Some(PortalLogo::File(path)) => {
                let file = read_logo(path)?;
                (Some(LOGO_ASSET_PATH.to_owned()), Some(file), None)
            }
        };
        let ancestors = if settings.frame_ancestors.is_empty() {
            "'none'".to_owned()
        } else {
            let origins: Vec<&str> = settings
                .frame_ancestors
                .iter()
                .map(|origin| origin.as_str())
                .collect();
            origins.join(" ")
        };
        let image_origin = logo_origin
            .map(|origin| format!(" {origin}"))
            .unwrap_or_default();
        Ok(PortalPresentation {
            content_security_policy: format!(
                "{CSP_BEFORE_IMAGES}{image_origin}; frame-ancestors {ancestors}"
            ),
            embeddable: !settings.frame_ancestors.is_empty(),
            name: settings.name.clone(),
            logo_src,
            logo_file,
            brand_css: brand_css(settings.primary_color),
        })
    }
}

fn read_logo(path: &Path) -> Result<(Vec<u8>, &'static str), PortalLoadError> {
    let shown = path.display().to_string();
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    let content_type = match extension.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        _ => return Err(PortalLoadError::NotAnImage { path: shown }),
    };
    let bytes = std::fs::read(path).map_err(|source| PortalLoadError::Unreadable {
        path: shown.clone(),
        source,
    })?;
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(PortalLoadError::TooLarge {
            path: shown,
            size: bytes.len(),
        });
    }
    Ok((bytes, content_type))
}

/// The custom properties `hookd.css` colours the pages with, set to the brand's colour and
/// two shades of it.
fn brand_css(color: Option<BrandColor>) -> String {
    match color {
        None => "/* No --portal-primary-color: hookd's colours. */\n".to_owned(),
        Some(color) => format!(
            "/* --portal-primary-color */\n:root {{ --primary: {color}; --primary-dark: {}; --primary-soft: {}; }}\n",
            color.mix(BrandColor::BLACK, 0.15),
            color.mix(BrandColor::WHITE, 0.9),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::portal::parse_frame_ancestors;

    #[test]
    fn policies_frame_only_where_configured() {
        let closed = PortalPresentation::load(&PortalSettings::default()).unwrap();
        assert!(!closed.embeddable);
        assert_eq!(closed.content_security_policy, DASHBOARD_CSP);

        let open = PortalPresentation::load(&PortalSettings {
            frame_ancestors: parse_frame_ancestors("https://a.example https://*.b.example")
                .unwrap(),
            logo: Some(PortalLogo::parse("https://cdn.example/logo.png").unwrap()),
            ..PortalSettings::default()
        })
        .unwrap();
        assert!(open.embeddable);
        assert!(
            open.content_security_policy
                .ends_with("img-src 'self' data: https://cdn.example; frame-ancestors https://a.example https://*.b.example"),
            "{}",
            open.content_security_policy
        );
    }

    #[test]
    fn the_brand_colour_is_a_stylesheet() {
        let css = brand_css(BrandColor::parse("#0a7d5a").ok());
        assert!(css.contains("--primary: #0a7d5a;"), "{css}");
        assert!(!brand_css(None).contains("--primary"));
    }

    #[test]
    fn logo_files_must_be_small_images() {
        let dir = std::env::temp_dir().join(format!("hookd-logo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join("logo.png");
        std::fs::write(&png, b"\x89PNG").unwrap();
        assert_eq!(read_logo(&png).unwrap().1, "image/png");
        let big = dir.join("big.svg");
        std::fs::write(&big, vec![b' '; MAX_LOGO_BYTES + 1]).unwrap();
        assert!(matches!(
            read_logo(&big),
            Err(PortalLoadError::TooLarge { .. })
        ));
        assert!(matches!(
            read_logo(&dir.join("logo.exe")),
            Err(PortalLoadError::NotAnImage { .. })
        ));
        assert!(matches!(
            read_logo(&dir.join("missing.png")),
            Err(PortalLoadError::Unreadable { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
