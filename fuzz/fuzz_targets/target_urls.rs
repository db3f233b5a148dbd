//! Endpoint URLs and the SSRF guard's pure part (no DNS, no sockets). The input is an IPv4
//! and an IPv6 address (20 bytes), a flag byte, then a URL and, after a newline, a host. On
//! arbitrary URLs, hosts and addresses nothing may panic, and
//! - a URL that `EndpointUrl::parse` accepts parses again, from the text it keeps, to the same
//!   URL with the same verdict under every policy;
//! - a policy that allows private targets never refuses what the guarded one accepts;
//! - an IP-literal host is judged exactly as `check_ip` judges its address;
//! - an IPv6 address that embeds an IPv4 one (mapped, NAT64, 6to4) is refused whenever the
//!   IPv4 address is.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hookd::domain::EndpointUrl;
use hookd::policy::ssrf::{TargetPolicy, UrlRejection, check_ip, check_url};
use libfuzzer_sys::fuzz_target;

const POLICIES: [TargetPolicy; 4] = [
    TargetPolicy {
        allow_private: false,
        https_only: false,
    },
    TargetPolicy {
        allow_private: false,
        https_only: true,
    },
    TargetPolicy {
        allow_private: true,
        https_only: false,
    },
    TargetPolicy {
        allow_private: true,
        https_only: true,
    },
];

fuzz_target!(|data: &[u8]| {
    let Some((addresses, text)) = data.split_first_chunk::<21>() else {
        return;
    };
    let ipv4: [u8; 4] = addresses[..4].try_into().expect("4 bytes");
    let ipv6: [u8; 16] = addresses[4..20].try_into().expect("16 bytes");
    check_addresses(Ipv4Addr::from(ipv4), Ipv6Addr::from(ipv6));
    let text = String::from_utf8_lossy(text);
    let (url, host) = text.split_once('\n').unwrap_or((&text, ""));
    check_endpoint_url(url);
    // Most arbitrary text is no URL at all; a host in a URL's place reaches host parsing.
    let scheme = if addresses[20] & 1 == 0 {
        "https"
    } else {
        "http"
    };
    check_endpoint_url(&format!("{scheme}://{host}/hook"));
});

fn check_addresses(ipv4: Ipv4Addr, ipv6: Ipv6Addr) {
    let _ = check_ip(IpAddr::V6(ipv6));
    let ipv4_blocked = check_ip(IpAddr::V4(ipv4)).is_err();
    let octets = ipv4.octets();
    let embeddings = [
        ipv4.to_ipv6_mapped(),
        Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(u32::from(ipv4))),
        Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(u32::from(ipv4)) << 80)),
    ];
    for embedded in embeddings {
        let verdict = check_ip(IpAddr::V6(embedded));
        if ipv4_blocked {
            assert!(
                verdict.is_err(),
                "{embedded} embeds {ipv4} ({octets:?}) and was allowed"
            );
        }
    }
}

fn check_endpoint_url(text: &str) {
    let Ok(url) = EndpointUrl::parse(text) else {
        return;
    };
    let again = EndpointUrl::parse(url.as_str()).expect("a kept URL parses again");
    assert_eq!(again, url, "{text:?} kept as {:?}", url.as_str());
    let verdicts = POLICIES.map(|policy| check_url(url.as_url(), &policy));
    for (policy, verdict) in POLICIES.iter().zip(&verdicts) {
        assert_eq!(&check_url(again.as_url(), policy), verdict);
    }
    for (guarded, open) in [(0, 2), (1, 3)] {
        if verdicts[guarded].is_ok() {
            assert!(verdicts[open].is_ok(), "{text:?}: {:?}", verdicts[open]);
        }
    }
    let ip = match url.as_url().host() {
        Some(url::Host::Ipv4(ipv4)) => IpAddr::V4(ipv4),
        Some(url::Host::Ipv6(ipv6)) => IpAddr::V6(ipv6),
        _ => return,
    };
    // Scheme and credentials are judged first; past them, the address decides.
    match (&verdicts[0], check_ip(ip)) {
        (Ok(()), Err(blocked)) => panic!("{text:?} allowed, but {blocked}"),
        (Err(UrlRejection::BlockedAddress(refused)), Ok(())) => {
            panic!("{text:?} refused for {refused}, but check_ip allows {ip}")
        }
        (Err(UrlRejection::LocalHostname(_)), _) => panic!("{text:?}: an IP is no hostname"),
        _ => {}
    }
}
