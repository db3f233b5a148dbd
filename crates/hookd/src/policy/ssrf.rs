//! The SSRF guard's rules: which IP addresses and which URLs hookd may deliver to. This module owns
//! the table of special-purpose address ranges (IPv4, IPv6, and the IPv6 forms that embed an IPv4
//! address) and the URL-level checks (scheme, embedded credentials, local hostnames, IP literals).
//! It is pure: it must not resolve names, open sockets or read configuration. Resolving a hostname
//! and checking every address it resolves to happens in `super::client`, the only place that sends.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Ends every refusal that is about where a URL points, so that whoever reads it in a 422 or an
/// attempt's record (often a developer trying a local receiver) learns the way out.
pub const ALLOW_PRIVATE_TARGETS_HINT: &str = "to deliver to local or private addresses during \
     development, start hookd with --allow-private-targets";

/// An address that hookd refuses to connect to, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is not an allowed delivery target: {reason}; {ALLOW_PRIVATE_TARGETS_HINT}")]
pub struct BlockedAddress {
    pub ip: IpAddr,
    pub reason: BlockReason,
}

/// A hostname refused because one of the addresses it resolves to is blocked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{host} resolves to {}, which is not an allowed delivery target: {}; \
     {ALLOW_PRIVATE_TARGETS_HINT}",
    blocked.ip,
    blocked.reason
)]
pub struct BlockedHost {
    pub host: String,
    pub blocked: BlockedAddress,
}

/// Why an address is not an acceptable delivery target.
///
/// The variants that wrap another reason describe IPv6 addresses that carry an IPv4 address
/// inside them; the inner reason is the verdict on that embedded IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockReason {
    #[error("unspecified address")]
    Unspecified,
    #[error("\"this network\" address (0.0.0.0/8)")]
    ThisNetwork,
    #[error("loopback address")]
    Loopback,
    #[error("private-use address")]
    Private,
    #[error("carrier-grade NAT shared address (100.64.0.0/10)")]
    SharedCgnat,
    #[error("link-local address")]
    LinkLocal,
    #[error("IETF protocol assignment")]
    ProtocolAssignment,
    #[error("documentation address")]
    Documentation,
    #[error("benchmarking address (198.18.0.0/15)")]
    Benchmarking,
    #[error("multicast address")]
    Multicast,
    #[error("limited broadcast address")]
    Broadcast,
    #[error("reserved or unallocated address")]
    Reserved,
    #[error("unique local address (fc00::/7)")]
    UniqueLocal,
    #[error("deprecated site-local address (fec0::/10)")]
    SiteLocal,
    #[error("Teredo tunnel address (2001::/32)")]
    Teredo,
    #[error("local-use NAT64 address (64:ff9b:1::/48)")]
    LocalNat64,
    #[error("IPv4-mapped address of a {0}")]
    Ipv4Mapped(Box<BlockReason>),
    #[error("IPv4-compatible address of a {0}")]
    Ipv4Compatible(Box<BlockReason>),
    #[error("NAT64 address of a {0}")]
    Nat64(Box<BlockReason>),
    #[error("6to4 address of a {0}")]
    SixToFour(Box<BlockReason>),
}

/// What kinds of target the operator allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Allow loopback, private and other special-purpose addresses. Only for development and
    /// tests: it switches the SSRF guard off.
    pub allow_private: bool,
    /// Refuse plain `http://` URLs.
    pub https_only: bool,
}

/// Why a URL is not an acceptable delivery target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRejection {
    #[error("scheme {0:?} is not allowed; use http or https")]
    UnsupportedScheme(String),
    #[error("only https URLs are allowed")]
    HttpsRequired,
    #[error("the URL has no host")]
    MissingHost,
    #[error("the URL contains credentials; send secrets in headers instead")]
    Credentials,
    #[error("{0:?} is a local hostname; {ALLOW_PRIVATE_TARGETS_HINT}")]
    LocalHostname(String),
    #[error(transparent)]
    BlockedAddress(#[from] BlockedAddress),
}

impl UrlRejection {
    /// True when the URL was refused because of where it points rather than how it is written.
    pub fn is_ssrf(&self) -> bool {
        matches!(
            self,
            UrlRejection::LocalHostname(_) | UrlRejection::BlockedAddress(_)
        )
    }
}

/// Accepts `ip` as a delivery target, or says why it is refused.
pub fn check_ip(ip: IpAddr) -> Result<(), BlockedAddress> {
    let reason = match ip {
        IpAddr::V4(ipv4) => ipv4_block_reason(ipv4),
        IpAddr::V6(ipv6) => ipv6_block_reason(ipv6),
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(BlockedAddress { ip, reason }),
    }
}

/// Checks everything about `url` that can be known without resolving its host.
///
/// A hostname that is not an IP literal still has to be resolved and every resulting address
/// passed through [`check_ip`]; `super::client` does that at connection time.
pub fn check_url(url: &url::Url, policy: &TargetPolicy) -> Result<(), UrlRejection> {
    match url.scheme() {
        "https" => {}
        "http" if policy.https_only => return Err(UrlRejection::HttpsRequired),
        "http" => {}
        other => return Err(UrlRejection::UnsupportedScheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRejection::Credentials);
    }
    let host = url.host().ok_or(UrlRejection::MissingHost)?;
    if policy.allow_private {
        return Ok(());
    }
    match host {
        url::Host::Domain(domain) if is_local_hostname(domain) => {
            Err(UrlRejection::LocalHostname(domain.to_owned()))
        }
        url::Host::Domain(_) => Ok(()),
        url::Host::Ipv4(ipv4) => Ok(check_ip(IpAddr::V4(ipv4))?),
        url::Host::Ipv6(ipv6) => Ok(check_ip(IpAddr::V6(ipv6))?),
    }
}

/// `localhost` and its subdomains resolve to loopback by convention (RFC 6761), often without
/// asking DNS at all, so they are refused by name as well.
fn is_local_hostname(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    domain == "localhost" || domain.ends_with(".localhost")
}

/// IPv4 special-purpose ranges (IANA registry, RFC 6890 and successors) that are never delivery
/// targets. `255.255.255.255` is checked before this table because it lies inside `240.0.0.0/4`.
const IPV4_BLOCKED_RANGES: &[([u8; 4], u8, BlockReason)] = &[
    ([0, 0, 0, 0], 8, BlockReason::ThisNetwork),
    ([10, 0, 0, 0], 8, BlockReason::Private),
    ([100, 64, 0, 0], 10, BlockReason::SharedCgnat),
    ([127, 0, 0, 0], 8, BlockReason::Loopback),
    ([169, 254, 0, 0], 16, BlockReason::LinkLocal),
    ([172, 16, 0, 0], 12, BlockReason::Private),
    ([192, 0, 0, 0], 24, BlockReason::ProtocolAssignment),
    ([192, 0, 2, 0], 24, BlockReason::Documentation),
    // The deprecated 6to4 relay anycast prefix (RFC 7526).
    ([192, 88, 99, 0], 24, BlockReason::Reserved),
    ([192, 168, 0, 0], 16, BlockReason::Private),
    ([198, 18, 0, 0], 15, BlockReason::Benchmarking),
    ([198, 51, 100, 0], 24, BlockReason::Documentation),
    ([203, 0, 113, 0], 24, BlockReason::Documentation),
    ([224, 0, 0, 0], 4, BlockReason::Multicast),
    ([240, 0, 0, 0], 4, BlockReason::Reserved),
];

/// IPv6 ranges refused outright. Earlier entries win, so Teredo (2001::/32) comes before the IETF
/// protocol assignments block (2001::/23) that contains it. Everything outside the global unicast
/// space 2000::/3 is refused anyway; the entries below it only give a more precise reason.
const IPV6_BLOCKED_RANGES: &[(u128, u8, BlockReason)] = &[
    (0x2001_0000 << 96, 32, BlockReason::Teredo),
    (0x2001_0db8 << 96, 32, BlockReason::Documentation),
    (0x2001_0000 << 96, 23, BlockReason::ProtocolAssignment),
    (0x3fff_0000 << 96, 20, BlockReason::Documentation),
    (0xfc00 << 112, 7, BlockReason::UniqueLocal),
    (0xfe80 << 112, 10, BlockReason::LinkLocal),
    (0xfec0 << 112, 10, BlockReason::SiteLocal),
    (0xff00 << 112, 8, BlockReason::Multicast),
];

const IPV4_MAPPED: (u128, u8) = (0xffff << 32, 96);
const IPV4_COMPATIBLE: (u128, u8) = (0, 96);
const NAT64_WELL_KNOWN: (u128, u8) = (0x0064_ff9b << 96, 96);
const NAT64_LOCAL_USE: (u128, u8) = ((0x0064_ff9b << 96) | (1 << 80), 48);
const SIX_TO_FOUR: (u128, u8) = (0x2002 << 112, 16);
const GLOBAL_UNICAST: (u128, u8) = (0x2000 << 112, 3);

fn ipv4_block_reason(ip: Ipv4Addr) -> Option<BlockReason> {
    if ip == Ipv4Addr::BROADCAST {
        return Some(BlockReason::Broadcast);
    }
    if ip.is_unspecified() {
        return Some(BlockReason::Unspecified);
    }
    let bits = u32::from(ip);
    IPV4_BLOCKED_RANGES
        .iter()
        .find(|(network, prefix_len, _)| {
            ipv4_in_range(bits, u32::from_be_bytes(*network), *prefix_len)
        })
        .map(|(_, _, reason)| reason.clone())
}

fn ipv6_block_reason(ip: Ipv6Addr) -> Option<BlockReason> {
    if ip.is_unspecified() {
        return Some(BlockReason::Unspecified);
    }
    if ip.is_loopback() {
        return Some(BlockReason::Loopback);
    }
    let bits = u128::from(ip);
    // These forms reach the IPv4 address inside them (through the dual-stack socket API, a NAT64
    // gateway or a 6to4 relay), so the verdict is the one on that IPv4 address.
    let low_32_bits = Ipv4Addr::from(bits as u32);
    if ipv6_in_range(bits, IPV4_MAPPED) {
        return ipv4_block_reason(low_32_bits)
            .map(|inner| BlockReason::Ipv4Mapped(Box::new(inner)));
    }
    if ipv6_in_range(bits, IPV4_COMPATIBLE) {
        return ipv4_block_reason(low_32_bits)
            .map(|inner| BlockReason::Ipv4Compatible(Box::new(inner)));
    }
    if ipv6_in_range(bits, NAT64_WELL_KNOWN) {
        return ipv4_block_reason(low_32_bits).map(|inner| BlockReason::Nat64(Box::new(inner)));
    }
    // Where the IPv4 address sits inside a local-use NAT64 address depends on the prefix length
    // the operator chose (RFC 6052 section 2.2), so it cannot be checked reliably. The prefix is
    // for use inside one network, which is exactly what the guard keeps webhooks out of.
    if ipv6_in_range(bits, NAT64_LOCAL_USE) {
        return Some(BlockReason::LocalNat64);
    }
    if ipv6_in_range(bits, SIX_TO_FOUR) {
        let embedded = Ipv4Addr::from((bits >> 80) as u32);
        return ipv4_block_reason(embedded).map(|inner| BlockReason::SixToFour(Box::new(inner)));
    }
    if let Some((_, _, reason)) = IPV6_BLOCKED_RANGES
        .iter()
        .find(|(network, prefix_len, _)| ipv6_in_range(bits, (*network, *prefix_len)))
    {
        return Some(reason.clone());
    }
    if !ipv6_in_range(bits, GLOBAL_UNICAST) {
        return Some(BlockReason::Reserved);
    }
    None
}

fn ipv4_in_range(bits: u32, network: u32, prefix_len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    bits & mask == network & mask
}

fn ipv6_in_range(bits: u128, (network, prefix_len): (u128, u8)) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(prefix_len))
        .unwrap_or(0);
    bits & mask == network & mask
}

#[cfg(test)]
mod tests {
    use super::BlockReason::*;
    use super::*;

    fn check(input: &str, expected: Result<(), BlockReason>) {
        let ip: IpAddr = input.parse().expect("test address parses");
        let actual = check_ip(ip).map_err(|blocked| {
            assert_eq!(blocked.ip, ip, "blocked address keeps the input address");
            blocked.reason
        });
        assert_eq!(actual, expected, "check_ip({input})");
    }

    fn mapped(inner: BlockReason) -> BlockReason {
        Ipv4Mapped(Box::new(inner))
    }

    fn compatible(inner: BlockReason) -> BlockReason {
        Ipv4Compatible(Box::new(inner))
    }

    fn nat64(inner: BlockReason) -> BlockReason {
        Nat64(Box::new(inner))
    }

    fn six_to_four(inner: BlockReason) -> BlockReason {
        SixToFour(Box::new(inner))
    }

    #[test]
    fn ipv4_special_ranges_are_blocked_at_both_ends() {
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.0.0.1", ThisNetwork),
            ("0.255.255.255", ThisNetwork),
            ("10.0.0.0", Private),
            ("10.255.255.255", Private),
            ("100.64.0.0", SharedCgnat),
            ("100.127.255.255", SharedCgnat),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.0.0", LinkLocal),
            ("169.254.169.254", LinkLocal),
            ("172.16.0.0", Private),
            ("172.31.255.255", Private),
            ("192.0.0.0", ProtocolAssignment),
            ("192.0.0.255", ProtocolAssignment),
            ("192.0.2.0", Documentation),
            ("192.0.2.255", Documentation),
            ("192.88.99.1", Reserved),
            ("192.168.0.0", Private),
            ("192.168.255.255", Private),
            ("198.18.0.0", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("198.51.100.0", Documentation),
            ("198.51.100.255", Documentation),
            ("203.0.113.0", Documentation),
            ("203.0.113.255", Documentation),
            ("224.0.0.0", Multicast),
            ("239.255.255.255", Multicast),
            ("240.0.0.0", Reserved),
            ("255.255.255.254", Reserved),
            ("255.255.255.255", Broadcast),
        ];
        for (input, reason) in cases {
            check(input, Err(reason));
        }
    }

    #[test]
    fn ipv4_addresses_just_outside_special_ranges_pass() {
        let cases = [
            "1.0.0.0",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "203.0.112.255",
            "223.255.255.255",
        ];
        for input in cases {
            check(input, Ok(()));
        }
    }

    #[test]
    fn ipv6_special_ranges_are_blocked() {
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("fe80::", LinkLocal),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("fec0::1", SiteLocal),
            ("fc00::", UniqueLocal),
            ("fd12:3456:789a::1", UniqueLocal),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", UniqueLocal),
            ("ff00::", Multicast),
            ("ff02::1", Multicast),
            ("ff0e::101", Multicast),
            ("2001::", Teredo),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Teredo),
            ("2001:db8::", Documentation),
            ("2001:db8:ffff:ffff::1", Documentation),
            ("3fff::1", Documentation),
            ("2001:2::1", ProtocolAssignment),
            ("2001:1ff::1", ProtocolAssignment),
            ("64:ff9b:1::1", LocalNat64),
            ("64:ff9b:1:ffff::808:808", LocalNat64),
            ("100::1", Reserved),
            ("5f00::1", Reserved),
            ("::ffff:0:808:808", Reserved),
            ("1000::1", Reserved),
            ("4000::1", Reserved),
        ];
        for (input, reason) in cases {
            check(input, Err(reason));
        }
    }

    #[test]
    fn ipv6_forms_embedding_ipv4_take_the_embedded_verdict() {
        let cases = [
            ("::ffff:127.0.0.1", Err(mapped(Loopback))),
            ("::ffff:7f00:1", Err(mapped(Loopback))),
            ("::ffff:10.1.2.3", Err(mapped(Private))),
            ("::ffff:192.168.1.1", Err(mapped(Private))),
            ("::ffff:169.254.169.254", Err(mapped(LinkLocal))),
            ("::ffff:0.0.0.0", Err(mapped(Unspecified))),
            ("::ffff:255.255.255.255", Err(mapped(Broadcast))),
            ("::ffff:8.8.8.8", Ok(())),
            ("::127.0.0.1", Err(compatible(Loopback))),
            ("::10.0.0.1", Err(compatible(Private))),
            ("::0.0.0.2", Err(compatible(ThisNetwork))),
            ("::8.8.8.8", Ok(())),
            ("64:ff9b::127.0.0.1", Err(nat64(Loopback))),
            ("64:ff9b::a00:1", Err(nat64(Private))),
            ("64:ff9b::192.168.0.1", Err(nat64(Private))),
            ("64:ff9b::100.64.0.1", Err(nat64(SharedCgnat))),
            ("64:ff9b::8.8.8.8", Ok(())),
            ("2002:7f00:1::", Err(six_to_four(Loopback))),
            ("2002:a00:1::1", Err(six_to_four(Private))),
            ("2002:c0a8:101::", Err(six_to_four(Private))),
            ("2002:e000::", Err(six_to_four(Multicast))),
            ("2002:808:808::1", Ok(())),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn public_ipv6_addresses_pass() {
        for input in [
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
        ] {
            check(input, Ok(()));
        }
    }

    fn check_url_case(input: &str, policy: TargetPolicy, expected: Result<(), UrlRejection>) {
        let url = url::Url::parse(input).expect("test URL parses");
        assert_eq!(
            check_url(&url, &policy),
            expected,
            "check_url({input}, {policy:?})"
        );
    }

    fn blocked(ip: &str, reason: BlockReason) -> Result<(), UrlRejection> {
        Err(UrlRejection::BlockedAddress(BlockedAddress {
            ip: ip.parse().expect("test address parses"),
            reason,
        }))
    }

    #[test]
    fn urls_are_checked_against_the_policy() {
        let guarded = TargetPolicy::default();
        let https_only = TargetPolicy {
            https_only: true,
            ..TargetPolicy::default()
        };
        let permissive = TargetPolicy {
            allow_private: true,
            https_only: false,
        };
        let cases = [
            ("https://example.com/hook", guarded, Ok(())),
            ("http://example.com:8080/hook?x=1", guarded, Ok(())),
            ("https://8.8.8.8/", guarded, Ok(())),
            ("https://[2606:4700::1111]/", guarded, Ok(())),
            ("https://example.com/", https_only, Ok(())),
            (
                "http://example.com/",
                https_only,
                Err(UrlRejection::HttpsRequired),
            ),
            (
                "ftp://example.com/",
                guarded,
                Err(UrlRejection::UnsupportedScheme("ftp".to_owned())),
            ),
            (
                "file:///etc/passwd",
                permissive,
                Err(UrlRejection::UnsupportedScheme("file".to_owned())),
            ),
            (
                "https://user:pass@example.com/",
                guarded,
                Err(UrlRejection::Credentials),
            ),
            (
                "https://user@example.com/",
                guarded,
                Err(UrlRejection::Credentials),
            ),
            (
                "https://:secret@example.com/",
                permissive,
                Err(UrlRejection::Credentials),
            ),
            (
                "http://localhost:3000/",
                guarded,
                Err(UrlRejection::LocalHostname("localhost".to_owned())),
            ),
            (
                "http://LOCALHOST./",
                guarded,
                Err(UrlRejection::LocalHostname("localhost.".to_owned())),
            ),
            (
                "http://api.localhost/",
                guarded,
                Err(UrlRejection::LocalHostname("api.localhost".to_owned())),
            ),
            ("http://notlocalhost.com/", guarded, Ok(())),
            ("http://localhost:3000/", permissive, Ok(())),
            (
                "http://127.0.0.1:3000/",
                guarded,
                blocked("127.0.0.1", Loopback),
            ),
            ("http://127.0.0.1:3000/", permissive, Ok(())),
            ("http://10.0.0.1/", guarded, blocked("10.0.0.1", Private)),
            (
                "http://169.254.169.254/latest/",
                guarded,
                blocked("169.254.169.254", LinkLocal),
            ),
            ("http://[::1]/", guarded, blocked("::1", Loopback)),
            (
                "http://[fd00::1]/",
                guarded,
                blocked("fd00::1", UniqueLocal),
            ),
            (
                "http://[::ffff:127.0.0.1]/",
                guarded,
                blocked("::ffff:127.0.0.1", mapped(Loopback)),
            ),
            // The URL parser normalises the numeric spellings of IPv4 addresses, so they cannot
            // slip past as hostnames.
            (
                "http://2130706433/",
                guarded,
                blocked("127.0.0.1", Loopback),
            ),
            ("http://0x7f.1/", guarded, blocked("127.0.0.1", Loopback)),
            (
                "http://0177.0.0.1/",
                guarded,
                blocked("127.0.0.1", Loopback),
            ),
            ("http://0/", guarded, blocked("0.0.0.0", Unspecified)),
        ];
        for (input, policy, expected) in cases {
            check_url_case(input, policy, expected);
        }
    }

    #[test]
    fn only_address_based_rejections_count_as_ssrf() {
        assert!(UrlRejection::LocalHostname("localhost".to_owned()).is_ssrf());
        assert!(
            UrlRejection::BlockedAddress(BlockedAddress {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                reason: Loopback,
            })
            .is_ssrf()
        );
        assert!(!UrlRejection::Credentials.is_ssrf());
        assert!(!UrlRejection::HttpsRequired.is_ssrf());
    }

    #[test]
    fn ssrf_refusals_say_how_to_allow_local_targets() {
        let hint = "; to deliver to local or private addresses during development, \
                    start hookd with --allow-private-targets";
        let loopback = BlockedAddress {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            reason: Loopback,
        };
        let cases = [
            (
                UrlRejection::BlockedAddress(loopback),
                format!("127.0.0.1 is not an allowed delivery target: loopback address{hint}"),
            ),
            (
                UrlRejection::LocalHostname("localhost".to_owned()),
                format!("\"localhost\" is a local hostname{hint}"),
            ),
            (
                UrlRejection::Credentials,
                "the URL contains credentials; send secrets in headers instead".to_owned(),
            ),
            (
                UrlRejection::HttpsRequired,
                "only https URLs are allowed".to_owned(),
            ),
        ];
        for (rejection, expected) in cases {
            assert_eq!(rejection.to_string(), expected, "{rejection:?}");
        }
        let blocked_host = BlockedHost {
            host: "hooks.example.com".to_owned(),
            blocked: BlockedAddress {
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
                reason: Private,
            },
        };
        assert_eq!(
            blocked_host.to_string(),
            format!(
                "hooks.example.com resolves to 10.0.0.7, which is not an allowed delivery \
                 target: private-use address{hint}"
            )
        );
    }
}
