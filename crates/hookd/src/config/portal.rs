//! The app portal's flags: which sites may embed it, and the SaaS's name, logo and colour on
//! it. Each value is parsed by `domain::portal`, so a bad one stops `hookd serve` at start with a
//! message that names the flag and says what to write.

use clap::Args;

use crate::domain::portal::{
    BrandColor, FrameAncestor, PortalLogo, PortalSettingError, PortalSettings,
    parse_frame_ancestors,
};

#[derive(Debug, Clone, Default, Args)]
pub struct PortalArgs {
    /// Sites that may embed the app portal in an iframe: origins separated by commas or spaces
    /// (`https://app.example.com`, `https://*.example.com`). Their portal sessions then use a
    /// `SameSite=None; Secure; Partitioned` cookie, which browsers keep only over HTTPS (or on
    /// loopback). Without it, no site may frame any page.
    #[arg(long, env = "HOOKD_PORTAL_FRAME_ANCESTORS", value_name = "ORIGINS", value_parser = parse_ancestors_flag)]
    portal_frame_ancestors: Option<AncestorList>,
    /// The name shown on the app portal's pages instead of hookd's.
    #[arg(long, env = "HOOKD_PORTAL_NAME")]
    portal_name: Option<String>,
    /// The app portal's logo: an https:// URL, a data:image URI, or an image file hookd reads
    /// at start and serves itself (PNG, JPEG, GIF, WebP or SVG, at most 256 KiB).
    #[arg(long, env = "HOOKD_PORTAL_LOGO_URL", value_name = "URL|PATH", value_parser = PortalLogo::parse)]
    portal_logo_url: Option<PortalLogo>,
    /// The app portal's primary colour (buttons, links, the active page), as `#rrggbb`.
    #[arg(long, env = "HOOKD_PORTAL_PRIMARY_COLOR", value_name = "#RRGGBB", value_parser = BrandColor::parse)]
    portal_primary_color: Option<BrandColor>,
}

impl PortalArgs {
    pub fn into_settings(self) -> PortalSettings {
        PortalSettings {
            frame_ancestors: self
                .portal_frame_ancestors
                .map(|list| list.0)
                .unwrap_or_default(),
            name: self
                .portal_name
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty()),
            logo: self.portal_logo_url,
            primary_color: self.portal_primary_color,
        }
    }
}

/// The whole list as one flag value (a bare `Vec` would make clap take several values).
#[derive(Debug, Clone)]
struct AncestorList(Vec<FrameAncestor>);

fn parse_ancestors_flag(written: &str) -> Result<AncestorList, PortalSettingError> {
    parse_frame_ancestors(written).map(AncestorList)
}
