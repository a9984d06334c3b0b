//! Egress policy: which destinations a guest may reach. Pure: no I/O, no DNS.
//!
//! The check runs on the *resolved* address, after DNS, and the connection then goes to
//! exactly that address (see [`super::client`]), so a name that resolves to a private
//! address is refused and a second resolution (DNS rebinding) never happens.
//!
//! ```
//! use ledgervm_runtime::http::policy::{AllowRule, EgressPolicy, Host, BlockedRange};
//! use std::net::IpAddr;
//!
//! let strict = EgressPolicy::default();
//! let lo: IpAddr = "127.0.0.1".parse().unwrap();
//! let err = strict.check(&Host::Name("localhost".into()), 8443, lo).unwrap_err();
//! assert_eq!(err, BlockedRange::Loopback);
//!
//! let tests = EgressPolicy::new(vec!["127.0.0.1:8443".parse::<AllowRule>().unwrap()]);
//! assert!(tests.check(&Host::Name("localhost".into()), 8443, lo).is_ok());
//! assert!(tests.check(&Host::Name("localhost".into()), 9000, lo).is_err());
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A kind of address that guests may not reach unless an [`AllowRule`] permits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockedRange {
    /// Cloud instance-metadata endpoints (169.254.169.254, 169.254.170.2,
    /// 100.100.100.200, 168.63.129.16, fd00:ec2::254). Checked first, so these are named
    /// as metadata even though most also fall in another range.
    Metadata,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) and IPv6 site-local fec0::/10.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// RFC 6598 carrier-grade NAT, 100.64/10.
    SharedAddressSpace,
    /// IPv4-mapped IPv6, ::ffff:0:0/96: the IPv4 address inside could be anything, and
    /// whether the OS honours the mapping varies, so it is refused outright.
    Ipv4Mapped,
    /// Deprecated IPv4-compatible IPv6, ::/96 (other than :: and ::1).
    Ipv4Compatible,
    /// IPv6 prefixes that embed or translate to IPv4 (NAT64 64:ff9b::/96 and
    /// 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32).
    Translated,
    /// fc00::/7.
    UniqueLocal,
    /// 224/4, ff00::/8.
    Multicast,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// Other special-purpose space: 0/8, 192.0.0/24, documentation ranges, 198.18/15,
    /// 240/4, 100::/64, 2001:db8::/32.
    Reserved,
}

impl BlockedRange {
    /// Stable name, used in error codes and messages.
    pub fn name(self) -> &'static str {
        match self {
            BlockedRange::Metadata => "metadata",
            BlockedRange::Loopback => "loopback",
            BlockedRange::Private => "private",
            BlockedRange::LinkLocal => "link_local",
            BlockedRange::SharedAddressSpace => "shared_address_space",
            BlockedRange::Ipv4Mapped => "ipv4_mapped",
            BlockedRange::Ipv4Compatible => "ipv4_compatible",
            BlockedRange::Translated => "translated",
            BlockedRange::UniqueLocal => "unique_local",
            BlockedRange::Multicast => "multicast",
            BlockedRange::Unspecified => "unspecified",
            BlockedRange::Broadcast => "broadcast",
            BlockedRange::Reserved => "reserved",
        }
    }
}

impl fmt::Display for BlockedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn v4_in(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn v6_in(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(168, 63, 129, 16),
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

fn classify_v4(ip: Ipv4Addr) -> Option<BlockedRange> {
    use BlockedRange::*;
    if METADATA_V4.contains(&ip) {
        return Some(Metadata);
    }
    let table: [([u8; 4], u32, BlockedRange); 17] = [
        ([0, 0, 0, 0], 32, Unspecified),
        ([255, 255, 255, 255], 32, Broadcast),
        ([127, 0, 0, 0], 8, Loopback),
        ([10, 0, 0, 0], 8, Private),
        ([172, 16, 0, 0], 12, Private),
        ([192, 168, 0, 0], 16, Private),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([100, 64, 0, 0], 10, SharedAddressSpace),
        ([224, 0, 0, 0], 4, Multicast),
        ([0, 0, 0, 0], 8, Reserved),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Reserved),
        ([198, 51, 100, 0], 24, Reserved),
        ([203, 0, 113, 0], 24, Reserved),
        ([198, 18, 0, 0], 15, Reserved),
        ([240, 0, 0, 0], 4, Reserved),
        ([192, 88, 99, 0], 24, Reserved),
    ];
    table
        .iter()
        .find(|(net, prefix, _)| v4_in(ip, *net, *prefix))
        .map(|(_, _, r)| *r)
}

fn classify_v6(ip: Ipv6Addr) -> Option<BlockedRange> {
    use BlockedRange::*;
    if METADATA_V6.contains(&ip) {
        return Some(Metadata);
    }
    if ip == Ipv6Addr::UNSPECIFIED {
        return Some(Unspecified);
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Some(Loopback);
    }
    let n = |s: &str| s.parse::<Ipv6Addr>().expect("constant");
    let table: [(Ipv6Addr, u32, BlockedRange); 12] = [
        (n("::ffff:0:0"), 96, Ipv4Mapped),
        (n("::"), 96, Ipv4Compatible),
        (n("64:ff9b::"), 96, Translated),
        (n("64:ff9b:1::"), 48, Translated),
        (n("2002::"), 16, Translated),
        (n("2001::"), 32, Translated),
        (n("2001:db8::"), 32, Reserved),
        (n("100::"), 64, Reserved),
        (n("fc00::"), 7, UniqueLocal),
        (n("fe80::"), 10, LinkLocal),
        (n("fec0::"), 10, Private),
        (n("ff00::"), 8, Multicast),
    ];
    table
        .iter()
        .find(|(net, prefix, _)| v6_in(ip, *net, *prefix))
        .map(|(_, _, r)| *r)
}

/// The blocked range `ip` falls in, or `None` for an ordinary public address.
///
/// ```
/// use ledgervm_runtime::http::policy::{classify, BlockedRange};
/// assert_eq!(classify("169.254.169.254".parse().unwrap()), Some(BlockedRange::Metadata));
/// assert_eq!(classify("::ffff:127.0.0.1".parse().unwrap()), Some(BlockedRange::Ipv4Mapped));
/// assert_eq!(classify("93.184.215.14".parse().unwrap()), None);
/// ```
pub fn classify(ip: IpAddr) -> Option<BlockedRange> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// The host part of a URL's authority.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lowercased, without a trailing dot.
    Name(String),
    /// An IP literal (`[…]` brackets removed for IPv6).
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Parses `host[:port]` (`[v6]:port` for IPv6). Returns the host and the explicit port.
/// Rejects user-info (`user@host`), empty hosts and characters that are not valid in a
/// DNS name.
pub fn parse_authority(authority: &str) -> Result<(Host, Option<u16>), String> {
    if authority.contains('@') {
        return Err(format!("authority {authority:?} carries user-info"));
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in {authority:?}"))?;
        let ip: Ipv6Addr = ip
            .parse()
            .map_err(|_| format!("bad IPv6 literal in {authority:?}"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("junk after ']' in {authority:?}"))?,
            ),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (h, p) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if let Ok(ip) = h.parse::<Ipv4Addr>() {
            (Host::Ip(IpAddr::V4(ip)), p)
        } else {
            let name = h.trim_end_matches('.').to_ascii_lowercase();
            let ok = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if !ok {
                return Err(format!("bad host name in {authority:?}"));
            }
            (Host::Name(name), p)
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("bad port in {authority:?}"))?,
        ),
    };
    Ok((host, port))
}

/// What an [`AllowRule`] is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AllowTarget {
    /// One host: an IP address, or a name as the guest's URL spells it.
    Host(Host),
    /// Every resolved address in a CIDR block (`10.0.0.0/8`, `fd00::/8`).
    Net(ipnet::IpNet),
}

/// An operator exception: lets guests reach a non-public address.
///
/// Textual forms (also [`FromStr`]): `127.0.0.1`, `127.0.0.1:8443`, `[::1]:8443`,
/// `localhost`, `localhost:8443`, and CIDR blocks `127.0.0.1/32`, `10.0.0.0/8`,
/// `fd00::/8`. Without a port the rule covers every port; a CIDR rule always does.
///
/// * An **IP** rule permits connecting to that resolved address.
/// * A **CIDR** rule permits connecting to any resolved address inside the block,
///   whatever name the guest used.
/// * A **name** rule permits every address that name resolves to, when the guest's URL
///   uses that name (case-insensitive).
///
/// ```
/// use ledgervm_runtime::http::policy::AllowRule;
/// let r: AllowRule = "10.0.0.0/8".parse().unwrap();
/// assert_eq!(r.to_string(), "10.0.0.0/8");
/// assert!("10.0.0.0/33".parse::<AllowRule>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AllowRule {
    /// The host or block the rule is about.
    pub target: AllowTarget,
    /// The port, or `None` for any.
    pub port: Option<u16>,
}

impl FromStr for AllowRule {
    type Err = String;
    fn from_str(s: &str) -> Result<AllowRule, String> {
        if s.contains('/') {
            let net = s
                .parse::<ipnet::IpNet>()
                .map_err(|e| format!("bad CIDR block {s:?}: {e}"))?;
            return Ok(AllowRule {
                target: AllowTarget::Net(net),
                port: None,
            });
        }
        let (host, port) = parse_authority(s)?;
        Ok(AllowRule {
            target: AllowTarget::Host(host),
            port,
        })
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            AllowTarget::Net(net) => write!(f, "{net}"),
            AllowTarget::Host(host) => match self.port {
                Some(p) => write!(f, "{host}:{p}"),
                None => write!(f, "{host}"),
            },
        }
    }
}

impl AllowRule {
    fn permits(&self, host: &Host, port: u16, ip: IpAddr) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.target {
            AllowTarget::Net(net) => net.contains(&ip),
            AllowTarget::Host(Host::Ip(allowed)) => *allowed == ip,
            AllowTarget::Host(name @ Host::Name(_)) => name == host,
        }
    }
}

/// The operator's egress policy: public addresses are allowed, every [`BlockedRange`] is
/// refused unless an allow rule matches. `https://` only is enforced by the handler
/// regardless of policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Exceptions for non-public destinations.
    pub allow: Vec<AllowRule>,
}

impl EgressPolicy {
    /// A policy with these allow rules.
    pub fn new(allow: Vec<AllowRule>) -> EgressPolicy {
        EgressPolicy { allow }
    }

    /// Whether a guest that asked for `host:port` may connect to the resolved `ip`.
    /// `Err` names the range that blocked it.
    pub fn check(&self, host: &Host, port: u16, ip: IpAddr) -> Result<(), BlockedRange> {
        match classify(ip) {
            None => Ok(()),
            Some(_) if self.allow.iter().any(|r| r.permits(host, port, ip)) => Ok(()),
            Some(range) => Err(range),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_blocked_range_is_named() {
        let cases = [
            ("169.254.169.254", BlockedRange::Metadata),
            ("169.254.170.2", BlockedRange::Metadata),
            ("100.100.100.200", BlockedRange::Metadata),
            ("168.63.129.16", BlockedRange::Metadata),
            ("fd00:ec2::254", BlockedRange::Metadata),
            ("127.0.0.1", BlockedRange::Loopback),
            ("127.255.255.254", BlockedRange::Loopback),
            ("::1", BlockedRange::Loopback),
            ("10.0.0.1", BlockedRange::Private),
            ("10.255.255.255", BlockedRange::Private),
            ("172.16.0.1", BlockedRange::Private),
            ("172.31.255.255", BlockedRange::Private),
            ("192.168.1.1", BlockedRange::Private),
            ("fec0::1", BlockedRange::Private),
            ("169.254.1.1", BlockedRange::LinkLocal),
            ("fe80::1", BlockedRange::LinkLocal),
            ("100.64.0.1", BlockedRange::SharedAddressSpace),
            ("100.127.255.255", BlockedRange::SharedAddressSpace),
            ("::ffff:127.0.0.1", BlockedRange::Ipv4Mapped),
            ("::ffff:8.8.8.8", BlockedRange::Ipv4Mapped),
            ("::127.0.0.1", BlockedRange::Ipv4Compatible),
            ("64:ff9b::a00:1", BlockedRange::Translated),
            ("2002:a00:1::", BlockedRange::Translated),
            ("2001:0::1", BlockedRange::Translated),
            ("fc00::1", BlockedRange::UniqueLocal),
            ("fd12:3456::1", BlockedRange::UniqueLocal),
            ("224.0.0.1", BlockedRange::Multicast),
            ("239.255.255.250", BlockedRange::Multicast),
            ("ff02::1", BlockedRange::Multicast),
            ("0.0.0.0", BlockedRange::Unspecified),
            ("::", BlockedRange::Unspecified),
            ("255.255.255.255", BlockedRange::Broadcast),
            ("0.1.2.3", BlockedRange::Reserved),
            ("192.0.2.1", BlockedRange::Reserved),
            ("198.18.0.1", BlockedRange::Reserved),
            ("240.0.0.1", BlockedRange::Reserved),
            ("2001:db8::1", BlockedRange::Reserved),
        ];
        for (s, want) in cases {
            assert_eq!(classify(ip(s)), Some(want), "{s}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "11.0.0.0",
            "2606:4700::1111",
            "2a00:1450:4007::200e",
        ] {
            assert_eq!(classify(ip(s)), None, "{s}");
        }
    }

    #[test]
    fn authority_parsing() {
        assert_eq!(
            parse_authority("Example.COM.:8443").unwrap(),
            (Host::Name("example.com".into()), Some(8443))
        );
        assert_eq!(
            parse_authority("1.2.3.4").unwrap(),
            (Host::Ip(ip("1.2.3.4")), None)
        );
        assert_eq!(
            parse_authority("[::1]:443").unwrap(),
            (Host::Ip(ip("::1")), Some(443))
        );
        assert_eq!(
            parse_authority("[::ffff:127.0.0.1]").unwrap(),
            (Host::Ip(ip("::ffff:127.0.0.1")), None)
        );
        for bad in [
            "",
            "user@host",
            "host:",
            "host:0",
            "host:99999",
            "[::1",
            "[zz]:1",
            "a..b",
            "h st",
            "[::1]x",
        ] {
            assert!(parse_authority(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn allow_rules() {
        let p = EgressPolicy::new(vec![
            "127.0.0.1:8443".parse().unwrap(),
            "internal.example".parse().unwrap(),
        ]);
        let name = |s: &str| Host::Name(s.into());
        assert!(p.check(&name("localhost"), 8443, ip("127.0.0.1")).is_ok());
        assert_eq!(
            p.check(&name("localhost"), 8444, ip("127.0.0.1")),
            Err(BlockedRange::Loopback)
        );
        assert_eq!(
            p.check(&name("localhost"), 8443, ip("127.0.0.2")),
            Err(BlockedRange::Loopback)
        );
        assert!(
            p.check(&name("internal.example"), 1, ip("10.1.2.3"))
                .is_ok()
        );
        assert_eq!(
            p.check(&name("other.example"), 1, ip("10.1.2.3")),
            Err(BlockedRange::Private)
        );
        // A name rule does not open the address to other names.
        assert_eq!(
            p.check(&Host::Ip(ip("10.1.2.3")), 1, ip("10.1.2.3")),
            Err(BlockedRange::Private)
        );
        assert_eq!(
            "[::1]:80".parse::<AllowRule>().unwrap().to_string(),
            "[::1]:80"
        );
        assert_eq!(
            "localhost".parse::<AllowRule>().unwrap().to_string(),
            "localhost"
        );
    }

    #[test]
    fn cidr_rules() {
        let p = EgressPolicy::new(vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
            "fd00::/16".parse().unwrap(),
        ]);
        let name = |s: &str| Host::Name(s.into());
        // Any name, any port, as long as the resolved address is inside the block.
        assert!(p.check(&name("localhost"), 8443, ip("127.0.0.1")).is_ok());
        assert!(
            p.check(&Host::Ip(ip("127.0.0.1")), 1, ip("127.0.0.1"))
                .is_ok()
        );
        assert!(
            p.check(&name("db.internal"), 5432, ip("10.200.0.9"))
                .is_ok()
        );
        assert!(p.check(&name("x"), 443, ip("fd00:1::1")).is_ok());
        assert_eq!(
            p.check(&name("localhost"), 8443, ip("127.0.0.2")),
            Err(BlockedRange::Loopback)
        );
        assert_eq!(
            p.check(&name("x"), 443, ip("172.16.0.1")),
            Err(BlockedRange::Private)
        );
        assert_eq!(
            p.check(&name("x"), 443, ip("fd01::1")),
            Err(BlockedRange::UniqueLocal)
        );
        assert_eq!(
            "fd00::/16".parse::<AllowRule>().unwrap().to_string(),
            "fd00::/16"
        );
        for bad in ["10.0.0.0/33", "10.0.0/8", "/8", "example.com/8", "::/129"] {
            assert!(bad.parse::<AllowRule>().is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// The table lookups agree with std's own predicates where std has them.
        #[test]
        fn agrees_with_std(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            let c = classify(IpAddr::V4(v4));
            if v4.is_loopback() { prop_assert!(c == Some(BlockedRange::Loopback)); }
            if v4.is_private() { prop_assert!(c == Some(BlockedRange::Private)); }
            if v4.is_link_local() {
                prop_assert!(matches!(c, Some(BlockedRange::LinkLocal | BlockedRange::Metadata)));
            }
            if v4.is_multicast() { prop_assert!(c == Some(BlockedRange::Multicast)); }
            // Every IPv4 address mapped into IPv6 is refused.
            prop_assert_eq!(classify(IpAddr::V6(v4.to_ipv6_mapped())), Some(BlockedRange::Ipv4Mapped));
        }

        #[test]
        fn v6_std_agreement(bits in any::<u128>()) {
            let v6 = Ipv6Addr::from(bits);
            let c = classify(IpAddr::V6(v6));
            if v6.is_multicast() { prop_assert!(c == Some(BlockedRange::Multicast)); }
            if v6.is_unicast_link_local() { prop_assert!(c == Some(BlockedRange::LinkLocal)); }
            if v6.is_unique_local() {
                prop_assert!(matches!(c, Some(BlockedRange::UniqueLocal | BlockedRange::Metadata)));
            }
        }

        #[test]
        fn authority_parser_never_panics(s in "\\PC{0,40}") {
            let _ = parse_authority(&s);
        }
    }
}
