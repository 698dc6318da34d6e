//! Which targets `/probe` may reach: blackbox_exporter is an open proxy
//! (its issue #5, CVE-2020-16248); ours checks every resolved address, on
//! every hop, so DNS rebinding and redirects cannot reach what the module
//! does not allow.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An allowlist of host globs and CIDRs; link-local and cloud metadata
/// addresses are refused unless explicitly allowed.
#[derive(Debug, Clone)]
pub struct TargetPolicy {
    hosts: globset::GlobSet,
    nets: Vec<(IpAddr, u8)>,
    /// `allowed_targets` was empty: any host, any non-link-local address.
    any: bool,
    allow_link_local: bool,
    /// Identifies the entries and `allow_link_local`, for reload fingerprints.
    fingerprint: u64,
}

/// Why an allowed-target entry is invalid.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl TargetPolicy {
    /// Builds a policy from `allowed_targets` entries: CIDRs (`10.0.0.0/8`),
    /// single addresses, or host globs (`*.svc.cluster.local`).
    pub fn new(entries: &[String], allow_link_local: bool) -> Result<Self, PolicyError> {
        let mut hosts = globset::GlobSetBuilder::new();
        let mut nets = Vec::new();
        let mut fp = crate::config::Fingerprint::default();
        fp.add([u8::from(allow_link_local)]);
        for e in entries {
            fp.add(e);
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
            allow_link_local,
            fingerprint: fp.finish(),
        })
    }

    /// Identifies the allowlist, for reload fingerprints.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Checks `host` resolved to `addrs`; every address must pass.
    pub fn check(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), String> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let host_ok = self.any || self.hosts.is_match(&host);
        for a in addrs {
            let ip = canonical(a.ip());
            if !self.allow_link_local && link_local_or_metadata(ip) {
                return Err(format!(
                    "{host} resolves to {ip}, a link-local or metadata address"
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

    fn addr(s: &str) -> Vec<SocketAddr> {
        vec![SocketAddr::new(s.parse().unwrap(), 80)]
    }

    #[test]
    fn cidrs_hosts_and_link_local() {
        let p = TargetPolicy::new(
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
        let open = TargetPolicy::new(&[], false).unwrap();
        assert!(open.check("anything", &addr("192.0.2.1")).is_ok());
        assert!(open.check("metadata", &addr("169.254.169.254")).is_err());
        let ll = TargetPolicy::new(&[], true).unwrap();
        assert!(ll.check("metadata", &addr("169.254.169.254")).is_ok());
        assert!(TargetPolicy::new(&["10.0.0.0/33".into()], false).is_err());
    }
}
