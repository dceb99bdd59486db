//! The SSRF guard (DESIGN §6): a webhook URL whose host is, or resolves to, a loopback, private,
//! link-local, unique-local, unspecified or shared (CGNAT) address is refused unless central runs
//! with `--allow-private-webhooks`. Checked when a URL is set, before each attempt, and again by
//! the client's resolver at connect time, so a name that re-resolves elsewhere meanwhile is caught.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::vocab::names::HttpUrl;

/// What kind of non-public address `ip` is, if it is one.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 0 {
        Some("unspecified")
    } else if a == 100 && (b & 0xc0) == 64 {
        Some("shared (CGNAT)")
    } else if ip.is_broadcast() || a >= 240 {
        Some("reserved")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if (a, b, c) == (192, 0, 0) || (a == 198 && (b & 0xfe) == 18) {
        Some("special-purpose")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let embedded_v4 = |high: u16, low: u16| {
        let [h1, h2] = high.to_be_bytes();
        let [l1, l2] = low.to_be_bytes();
        Ipv4Addr::new(h1, h2, l1, l2)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        v4_kind(v4)
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if segments[0] & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[..6] == [0; 6] {
        // NAT64 and the old IPv4-compatible form carry an IPv4 address in their low 32 bits.
        v4_kind(embedded_v4(segments[6], segments[7]))
    } else if segments[0] == 0x2002 {
        // 6to4 carries one in bits 16..48.
        v4_kind(embedded_v4(segments[1], segments[2]))
    } else {
        None
    }
}

fn refusal(host: &str, ip: IpAddr, kind: &str) -> String {
    format!("{host} resolves to {ip}, a {kind} address; webhooks go to public addresses only")
}

fn first_forbidden(host: &str, ips: impl IntoIterator<Item = IpAddr>) -> Result<(), String> {
    for ip in ips {
        if let Some(kind) = forbidden_kind(ip) {
            return Err(refusal(host, ip, kind));
        }
    }
    Ok(())
}

/// Whether central may send webhooks to `url`: with `allow_private` always; otherwise only when
/// its host is a public IP address or a name all of whose addresses are public. The error says why.
pub async fn check_webhook_target(url: &HttpUrl, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let parsed = reqwest::Url::parse(url.as_str()).map_err(|e| format!("is not a valid URL: {e}"))?;
    let host = parsed.host_str().ok_or_else(|| "has no host".to_owned())?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return first_forbidden(host, [ip]);
    }
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    first_forbidden(host, addrs)
}

/// The webhook client's resolver: the system's, refusing names with a non-public address.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            first_forbidden(&host, addrs.iter().map(SocketAddr::ip))?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> HttpUrl {
        HttpUrl::parse(text).expect("well-formed URL")
    }

    #[test]
    fn non_public_addresses_are_named() {
        // Proves each refused range is recognised, including IPv4 inside IPv6, and public ones pass.
        let kinds: Vec<Option<&str>> = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ]
        .iter()
        .map(|ip| forbidden_kind(ip.parse().expect("ip")))
        .collect();
        assert!(kinds.iter().all(Option::is_some), "{kinds:?}");
        assert_eq!(forbidden_kind("127.0.0.1".parse().expect("ip")), Some("loopback"));
        assert_eq!(forbidden_kind("100.64.0.1".parse().expect("ip")), Some("shared (CGNAT)"));
        assert_eq!(forbidden_kind("fd00::1".parse().expect("ip")), Some("unique-local"));
        for public in ["93.184.216.34", "100.128.0.1", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(forbidden_kind(public.parse().expect("ip")), None, "{public}");
        }
    }

    #[tokio::test]
    async fn webhook_targets_are_checked_by_address() {
        // Proves literal and resolved loopback/private targets are refused with the reason, public literals pass, and the flag allows all.
        for refused in [
            "http://127.0.0.1:9/hook",
            "http://10.0.0.5/hook",
            "https://[::1]:8443/hook",
            "http://[fd12::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.1.1/",
            "http://0.0.0.0/",
            "http://2130706433/",
            "http://localhost:8080/hook",
        ] {
            let answer = check_webhook_target(&url(refused), false).await;
            assert!(answer.as_ref().is_err_and(|e| e.contains("public addresses only")), "{refused}: {answer:?}");
            assert_eq!(check_webhook_target(&url(refused), true).await, Ok(()), "{refused}");
        }
        let loopback = check_webhook_target(&url("http://127.0.0.1:9/"), false).await;
        assert_eq!(
            loopback,
            Err("127.0.0.1 resolves to 127.0.0.1, a loopback address; webhooks go to public addresses only".to_owned())
        );
        assert_eq!(check_webhook_target(&url("https://93.184.216.34/hook"), false).await, Ok(()));
        assert_eq!(check_webhook_target(&url("http://[2606:4700::1111]/"), false).await, Ok(()));
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        // Proves the connect-time resolver refuses a name that resolves to loopback.
        let name: Name = "localhost".parse().map_err(|_| "name").expect("valid name");
        let error = PublicOnlyResolver.resolve(name).await.map(|_| ()).expect_err("refused");
        assert!(error.to_string().contains("loopback"), "{error}");
    }
}
