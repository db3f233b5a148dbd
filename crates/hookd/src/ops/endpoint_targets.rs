//! The SSRF guard when an endpoint URL is configured: a host name is resolved once and refused
//! if any address it resolves to is blocked, so a bad target is refused at once instead of
//! failing quietly at every delivery.
//!
//! A name that does not resolve (yet), or resolves too slowly, is accepted: delivery checks
//! every address again before it connects, so this check is for early feedback, not the
//! guarantee. The checks that need no DNS run as the URL is parsed (`EndpointUrl`, `check_url`).

use std::time::Duration;

use super::{OpError, OpResult, Ops};
use crate::domain::EndpointUrl;
use crate::engine::client::Resolver;
use crate::policy::ssrf::{BlockedHost, TargetPolicy, check_ip};
use crate::telemetry::ErrorChain;

/// How long a request waits for DNS before leaving the check to delivery.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Refuses a host name that resolves to any blocked address. IP literals were already checked
/// by `check_url`; with `allow_private` nothing is blocked.
pub async fn refuse_blocked_host(ops: &Ops, url: &EndpointUrl) -> OpResult<()> {
    refuse_blocked_resolution(&ops.target_policy, ops.resolver.as_ref(), url).await
}

async fn refuse_blocked_resolution(
    policy: &TargetPolicy,
    resolver: &dyn Resolver,
    url: &EndpointUrl,
) -> OpResult<()> {
    if policy.allow_private {
        return Ok(());
    }
    let Some(url::Host::Domain(host)) = url.as_url().host() else {
        return Ok(());
    };
    match tokio::time::timeout(RESOLVE_TIMEOUT, resolver.resolve(host)).await {
        Ok(Ok(addresses)) => {
            for address in addresses {
                check_ip(address).map_err(|blocked| {
                    let host = host.to_owned();
                    let refusal = BlockedHost { host, blocked };
                    OpError::invalid_body(&["url"], refusal.to_string())
                })?;
            }
        }
        Ok(Err(error)) => {
            tracing::debug!(%host, error = %ErrorChain(&error), "endpoint host does not resolve; delivery checks it again");
        }
        Err(_) => {
            tracing::debug!(%host, "endpoint host resolution timed out; delivery checks it again");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::IpAddr;

    use futures::FutureExt;
    use futures::future::BoxFuture;

    use super::*;

    /// Answers every name with fixed addresses, or fails like a missing DNS record.
    struct FixedResolver(Option<Vec<IpAddr>>);

    impl Resolver for FixedResolver {
        fn resolve(&self, _host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
            let answer = self
                .0
                .clone()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"));
            async move { answer }.boxed()
        }
    }

    const GUARDED: TargetPolicy = TargetPolicy {
        allow_private: false,
        https_only: false,
    };
    const OPEN: TargetPolicy = TargetPolicy {
        allow_private: true,
        https_only: false,
    };

    async fn check(policy: TargetPolicy, addresses: Option<&[&str]>, url: &str, ok: bool) {
        let resolver = FixedResolver(
            addresses.map(|list| list.iter().map(|ip| ip.parse().unwrap()).collect()),
        );
        let url = EndpointUrl::parse(url).unwrap();
        let result = refuse_blocked_resolution(&policy, &resolver, &url).await;
        assert_eq!(result.is_ok(), ok, "{url:?} resolving to {addresses:?}");
    }

    #[tokio::test]
    async fn names_are_refused_when_any_address_is_blocked() {
        let public = "https://hooks.example.com/in";
        check(GUARDED, Some(&["93.184.216.34"]), public, true).await;
        check(GUARDED, Some(&["10.0.0.7"]), public, false).await;
        check(
            GUARDED,
            Some(&["93.184.216.34", "127.0.0.1"]),
            public,
            false,
        )
        .await;
        check(GUARDED, Some(&["::ffff:192.168.0.1"]), public, false).await;
        // Not resolving is not an error here: delivery checks again.
        check(GUARDED, None, public, true).await;
        // With private targets allowed nothing is refused.
        check(OPEN, Some(&["127.0.0.1"]), public, true).await;
        // IP literals are `check_url`'s job; they are not resolved.
        check(GUARDED, Some(&["127.0.0.1"]), "http://93.184.216.34/", true).await;
    }
}
