//! Which targets `/probe` may reach: blackbox_exporter is an open proxy
//! (its issue #5, CVE-2020-16248); ours checks every resolved address, on
//! every hop, so DNS rebinding and redirects cannot reach what the module
//! does not allow.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, LazyLock};

/// A module's allowlist as configured: plain data, compiled into a
/// [`TargetPolicy`] where a probe checks its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowedTargets {
    /// CIDRs (`10.0.0.0/8`), single addresses, or host globs
    /// (`*.svc.cluster.local`); empty allows any host.
    pub(crate) entries: Vec<String>,
    /// Link-local and cloud metadata addresses may be reached.
    pub(crate) allow_link_local: bool,
}

/// An allowlist of host globs and CIDRs; link-local and cloud metadata
/// addresses are refused unless explicitly allowed.
#[derive(Debug)]
pub(crate) struct TargetPolicy {
    hosts: globset::GlobSet,
    nets: Vec<(IpAddr, u8)>,
    /// `allowed_targets` was empty: any host, any non-link-local address.
    any: bool,
    allow_link_local: bool,
}

/// Why an allowed-target entry is invalid.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PolicyError(String);

/// Checks `host` resolved to `addrs` against `allowed`, compiled once per
/// allowlist while it lives; every address must pass.
pub(crate) fn check(
    allowed: &Arc<AllowedTargets>,
    host: &str,
    addrs: &[SocketAddr],
) -> Result<(), String> {
    type Compiled = Result<Arc<TargetPolicy>, PolicyError>;
    static COMPILED: LazyLock<super::BuiltFrom<AllowedTargets, Compiled>> =
        LazyLock::new(super::BuiltFrom::new);
    let policy = COMPILED.get(allowed, |a| TargetPolicy::new(a).map(Arc::new));
    // Validation compiled the same entries, so this error is not expected;
    // refusing is the safe answer if it comes.
    policy.map_err(|e| e.to_string())?.check(host, addrs)
}

impl TargetPolicy {
    /// Compiles `allowed`; the error names the first invalid entry.
    pub(crate) fn new(allowed: &AllowedTargets) -> Result<Self, PolicyError> {
        let AllowedTargets {
            entries,
            allow_link_local,
        } = allowed;
        let mut hosts = globset::GlobSetBuilder::new();
        let mut nets = Vec::new();
        for e in entries {
            if let Some((ip, bits)) = e.split_once('/') {
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| PolicyError(format!("{e:?} is not a CIDR")))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits: u8 =
                    bits.parse().ok().filter(|b| *b <= max).ok_or_else(|| {
                        PolicyError(format!("{e:?}: prefix length must be 0-{max}"))
                    })?;
                nets.push((ip, bits));
            } else if let Ok(ip) = e.parse::<IpAddr>() {
                nets.push((ip, if ip.is_ipv4() { 32 } else { 128 }));
            } else {
                let g = globset::GlobBuilder::new(&e.to_ascii_lowercase())
                    .literal_separator(true)
                    .build()
                    .map_err(|err| PolicyError(format!("{e:?}: {}", err.kind())))?;
                hosts.add(g);
            }
        }
        Ok(TargetPolicy {
            hosts: hosts.build().map_err(|e| PolicyError(e.to_string()))?,
            nets,
            any: entries.is_empty(),
            allow_link_local: *allow_link_local,
        })
    }

    /// Checks `host` resolved to `addrs`; every address must pass.
    fn check(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), String> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let host_ok = self.any || self.hosts.is_match(&host);
        for a in addrs {
            let ip = canonical(a.ip());
            let embedded = match ip {
                IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
                IpAddr::V4(_) => None,
            };
            let forbidden =
                link_local_or_metadata(ip) || embedded.is_some_and(link_local_or_metadata);
            if !self.allow_link_local && forbidden {
                let carried = embedded.map_or(String::new(), |v4| format!(" (carrying {v4})"));
                return Err(format!(
                    "{host} resolves to {ip}{carried}, a link-local or metadata address"
                ));
            }
            if !host_ok
                && !self
                    .nets
                    .iter()
                    .any(|(net, bits)| contains(*net, *bits, ip))
            {
                return Err(format!(
                    "{host} ({ip}) is not in the module's allowed_targets"
                ));
            }
        }
        Ok(())
    }
}

/// IPv4-mapped IPv6 addresses are checked as the IPv4 they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The IPv4 address an IPv6 address carries when a translator or tunnel
/// would deliver it to that IPv4 host: NAT64 (`64:ff9b::/96`, RFC 6052),
/// 6to4 (`2002::/16`, RFC 3056), Teredo's client (`2001:0::/32`, RFC 4380,
/// stored inverted) and the deprecated IPv4-compatible form (`::a.b.c.d`,
/// RFC 4291; not `::` and `::1`). IPv4-mapped addresses are handled by
/// [`canonical`], as they are that IPv4 host itself.
pub(crate) fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(v6);
    let low32 = |b: u128| Ipv4Addr::from((b & 0xffff_ffff) as u32);
    let s = v6.segments();
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        Some(low32(bits))
    } else if s[0] == 0x2002 {
        Some(low32(bits >> 80))
    } else if s[0] == 0x2001 && s[1] == 0 {
        Some(low32(!bits))
    } else if bits >> 32 == 0 && bits > 1 {
        Some(low32(bits))
    } else {
        None
    }
}

fn link_local_or_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4 == Ipv4Addr::new(100, 100, 100, 200),
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

fn contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (canonical(net), ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[String], allow_link_local: bool) -> Result<TargetPolicy, PolicyError> {
        TargetPolicy::new(&AllowedTargets {
            entries: entries.to_vec(),
            allow_link_local,
        })
    }

    fn addr(s: &str) -> Vec<SocketAddr> {
        vec![SocketAddr::new(s.parse().unwrap(), 80)]
    }

    #[test]
    fn cidrs_hosts_and_link_local() {
        let p = policy(
            &["10.0.0.0/8".into(), "*.internal".into(), "::1".into()],
            false,
        )
        .unwrap();
        assert!(p.check("x", &addr("10.1.2.3")).is_ok());
        assert!(p.check("x", &addr("11.0.0.1")).is_err());
        assert!(p.check("api.internal", &addr("192.0.2.1")).is_ok());
        assert!(p.check("API.INTERNAL", &addr("192.0.2.1")).is_ok());
        assert!(p.check("[::1]", &addr("::1")).is_ok());
        assert!(p.check("::ffff:10.0.0.1", &addr("::ffff:10.0.0.1")).is_ok());
        // A permitted name resolving to the metadata service is refused.
        assert!(p.check("evil.internal", &addr("169.254.169.254")).is_err());
        assert!(p.check("x", &addr("fe80::1")).is_err());
        let open = policy(&[], false).unwrap();
        assert!(open.check("anything", &addr("192.0.2.1")).is_ok());
        assert!(open.check("metadata", &addr("169.254.169.254")).is_err());
        let ll = policy(&[], true).unwrap();
        assert!(ll.check("metadata", &addr("169.254.169.254")).is_ok());
        assert!(policy(&["10.0.0.0/33".into()], false).is_err());
    }

    #[test]
    fn embedded_ipv4_is_decoded() {
        let v4 = |s: &str| embedded_ipv4(s.parse().unwrap());
        let meta = Some(Ipv4Addr::new(169, 254, 169, 254));
        assert_eq!(v4("64:ff9b::a9fe:a9fe"), meta);
        assert_eq!(v4("64:ff9b::169.254.169.254"), meta);
        assert_eq!(v4("2002:a9fe:a9fe::"), meta);
        assert_eq!(v4("2002:a9fe:a9fe:1:2:3:4:5"), meta);
        assert_eq!(v4("::169.254.169.254"), meta);
        // Teredo: the client address is stored inverted.
        assert_eq!(v4("2001:0:4136:e378:8000:63bf:5601:5601"), meta);
        assert_eq!(v4("::1"), None);
        assert_eq!(v4("::"), None);
        assert_eq!(v4("::ffff:169.254.169.254"), None, "mapped: see canonical");
        assert_eq!(v4("64:ff9b:1::a9fe:a9fe"), None);
        assert_eq!(v4("2001:db8::a9fe:a9fe"), None);
        assert_eq!(v4("fe80::1"), None);
    }

    #[test]
    fn embedded_metadata_addresses_are_refused() {
        let open = policy(&["::/0".into()], false).unwrap();
        for ip in [
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::",
            "::169.254.169.254",
            "::ffff:169.254.169.254",
            "64:ff9b::6464:64c8",
            "2001:0:4136:e378:8000:63bf:5601:5601",
        ] {
            let shown = match canonical(ip.parse().unwrap()) {
                IpAddr::V6(v6) => format!("{v6} (carrying {})", embedded_ipv4(v6).unwrap()),
                v4 => v4.to_string(),
            };
            assert_eq!(
                open.check(ip, &addr(ip)),
                Err(format!(
                    "{ip} resolves to {shown}, a link-local or metadata address"
                )),
                "{ip}"
            );
        }
        assert!(open.check("x", &addr("64:ff9b::a00:1")).is_ok());
        let ll = policy(&["::/0".into()], true).unwrap();
        assert!(ll.check("x", &addr("64:ff9b::a9fe:a9fe")).is_ok());
    }
}
