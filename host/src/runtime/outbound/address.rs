//! Which addresses a plugin's request may not reach unless its grant names
//! the address literally: everything that is not the public Internet.
//!
//! Pure: one function, [`internal_range`], tested range by range. IPv6 forms
//! that carry an IPv4 address (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`,
//! NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the address they
//! carry, so `::ffff:127.0.0.1` is loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The name of the non-public range `ip` is in, or `None` for a public address.
pub fn internal_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let n = u32::from(ip);
    let within = |net: u32, bits: u32| n >> (32 - bits) == net >> (32 - bits);
    Some(match () {
        _ if ip.is_unspecified() || a == 0 => "unspecified (0.0.0.0/8)",
        _ if ip.is_loopback() => "loopback (127.0.0.0/8)",
        _ if a == 10 || within(0xac10_0000, 12) || (a == 192 && b == 168) => "private (RFC 1918)",
        _ if within(0x6440_0000, 10) => "shared address space (100.64.0.0/10, CGNAT)",
        _ if a == 169 && b == 254 => "link-local (169.254.0.0/16, cloud metadata)",
        _ if a == 192 && b == 0 && c == 0 => "IETF protocol assignments (192.0.0.0/24)",
        _ if (a == 192 && b == 0 && c == 2)
            || (a == 198 && b == 51 && c == 100)
            || (a == 203 && b == 0 && c == 113) =>
        {
            "documentation (TEST-NET)"
        }
        _ if a == 192 && b == 88 && c == 99 => "6to4 relay anycast (192.88.99.0/24)",
        _ if within(0xc612_0000, 15) => "benchmarking (198.18.0.0/15)",
        _ if ip.is_multicast() => "multicast (224.0.0.0/4)",
        _ if ip.is_broadcast() => "broadcast",
        _ if a >= 240 => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_range(v4).map(|_| "an IPv4-mapped form of an internal IPv4 address");
    }
    Some(match () {
        _ if ip.is_unspecified() => "unspecified (::)",
        _ if ip.is_loopback() => "loopback (::1)",
        // Deprecated IPv4-compatible form `::a.b.c.d`.
        _ if s[..6] == [0; 6] => "an IPv4-compatible form (::/96)",
        _ if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => {
            let v4 = embedded_v4(s[6], s[7]);
            return v4_range(v4).map(|_| "a NAT64 form (64:ff9b::/96) of an internal IPv4 address");
        }
        _ if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 => "local-use NAT64 (64:ff9b:1::/48)",
        _ if s[0] == 0x2002 => {
            let v4 = embedded_v4(s[1], s[2]);
            return v4_range(v4).map(|_| "a 6to4 form (2002::/16) of an internal IPv4 address");
        }
        _ if s[0] == 0x2001 && s[1] == 0 => "Teredo (2001::/32)",
        _ if s[0] == 0x2001 && s[1] == 0xdb8 => "documentation (2001:db8::/32)",
        _ if s[0] == 0x100 && s[1..4] == [0, 0, 0] => "discard-only (100::/64)",
        _ if s[0] & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
        _ if s[0] & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        _ if s[0] & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        _ if ip.is_multicast() => "multicast (ff00::/8)",
        _ => return None,
    })
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is (what deny-list
/// ranges are compared with).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal(s: &str) -> bool {
        internal_range(s.parse().unwrap_or_else(|_| panic!("{s}"))).is_some()
    }

    #[test]
    fn every_internal_ipv4_range_is_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(internal(ip), "{ip} was taken for public");
        }
    }

    #[test]
    fn public_ipv4_addresses_pass() {
        for ip in ["1.1.1.1", "8.8.8.8", "172.15.255.255", "172.32.0.0", "100.63.255.255", "100.128.0.0", "198.20.0.1"]
        {
            assert!(!internal(ip), "{ip} was taken for internal");
        }
    }

    #[test]
    fn every_internal_ipv6_range_and_ipv4_carrying_form_is_refused() {
        for ip in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2001::1",
            "2001:db8::1",
            "100::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(internal(ip), "{ip} was taken for public");
        }
    }

    #[test]
    fn public_ipv6_addresses_and_forms_of_public_ipv4_pass() {
        for ip in ["2606:4700:4700::1111", "::ffff:1.1.1.1", "64:ff9b::101:101", "2002:101:101::1"] {
            assert!(!internal(ip), "{ip} was taken for internal");
        }
    }

    #[test]
    fn mapped_addresses_compare_as_ipv4() {
        let mapped: IpAddr = "::ffff:169.254.169.254".parse().expect("ip");
        assert_eq!(canonical(mapped), "169.254.169.254".parse::<IpAddr>().expect("ip"));
    }
}
