//! The resolver half of the SSRF guard: hostnames are resolved once, by the injected
//! [`Resolver`], every address is checked against `policy::ssrf`, and reqwest is handed exactly
//! the checked addresses to connect to, so a DNS answer that changes between check and connect
//! (DNS rebinding) cannot redirect a delivery. A refusal travels back through reqwest's error
//! chain as a [`BlockedHost`], where the client's classification finds it. This module must not
//! send anything.

use std::error::Error as StdError;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::policy::ssrf::{BlockedHost, check_ip};

/// Turns a hostname into IP addresses. Injectable so that tests can point names at loopback
/// without touching DNS.
pub trait Resolver: Send + Sync + 'static {
    fn resolve(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        async move {
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addresses.map(|address| address.ip()).collect())
        }
        .boxed()
    }
}

/// The resolver reqwest calls for every hostname: it asks the injected [`Resolver`] once, refuses
/// the whole host if any answer is blocked, and hands reqwest exactly the checked addresses.
pub(super) struct GuardedResolver {
    resolver: Arc<dyn Resolver>,
    allow_private: bool,
}

impl GuardedResolver {
    /// Guards `resolver`; with `allow_private`, every address it returns is used unchecked.
    pub(super) fn new(resolver: Arc<dyn Resolver>, allow_private: bool) -> Self {
        GuardedResolver {
            resolver,
            allow_private,
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.resolver.resolve(&host);
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addresses = lookup.await?;
            let checked = checked_socket_addresses(&host, addresses, allow_private)?;
            let checked: reqwest::dns::Addrs = Box::new(checked.into_iter());
            Ok(checked)
        })
    }
}

/// Checks every resolved address (unless private targets are allowed) and turns them into the
/// socket addresses reqwest connects to; port 0 tells reqwest to use the URL's port.
pub(super) fn checked_socket_addresses(
    host: &str,
    addresses: Vec<IpAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Box<dyn StdError + Send + Sync>> {
    if addresses.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "the host has no addresses").into());
    }
    if !allow_private {
        for address in &addresses {
            check_ip(*address).map_err(|blocked| BlockedHost {
                host: host.to_owned(),
                blocked,
            })?;
        }
    }
    Ok(addresses
        .into_iter()
        .map(|address| SocketAddr::new(address, 0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_addresses_are_refused_if_any_one_is_blocked() {
        let public = IpAddr::from([8, 8, 8, 8]);
        let private = IpAddr::from([10, 0, 0, 1]);
        let cases = [
            (vec![public], false, Some(vec![public])),
            (vec![public, private], false, None),
            (vec![private, public], false, None),
            (vec![public, private], true, Some(vec![public, private])),
            (vec![], true, None),
        ];
        for (addresses, allow_private, expected) in cases {
            let checked =
                checked_socket_addresses("example.test", addresses.clone(), allow_private);
            let checked = checked.ok().map(|socket_addresses| {
                socket_addresses
                    .iter()
                    .map(SocketAddr::ip)
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                checked, expected,
                "{addresses:?}, allow_private: {allow_private}"
            );
        }
    }
}
