//! Which addresses the auditor may connect to.
//!
//! A filed domain is untrusted input: it may resolve to 127.0.0.1, 10.0.0.5 or the cloud
//! metadata service at 169.254.169.254. Unless the user passes `--allow-private`, only
//! globally routable unicast addresses are dialled. Every connection the fetch stage makes
//! goes through [`AddressPolicy::permits`] first, redirects included.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of space an address lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressClass {
    Global,
    Loopback,
    /// RFC 1918, IPv6 unique-local, and carrier-grade NAT (100.64/10).
    Private,
    /// 169.254/16 and fe80::/10, which includes the cloud metadata service.
    LinkLocal,
    Multicast,
    Unspecified,
    /// Documentation, benchmarking, reserved and other special-purpose space.
    Reserved,
}

impl AddressClass {
    pub fn label(self) -> &'static str {
        match self {
            AddressClass::Global => "global",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link_local",
            AddressClass::Multicast => "multicast",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Reserved => "reserved",
        }
    }

    pub fn of(ip: IpAddr) -> AddressClass {
        match ip {
            IpAddr::V4(v4) => classify_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => classify_v4(v4),
                None => classify_v6(v6),
            },
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip.is_unspecified() => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) | (192, 168, _) => AddressClass::Private,
        (172, 16..=31, _) | (100, 64..=127, _) => AddressClass::Private,
        (169, 254, _) => AddressClass::LinkLocal,
        (224..=239, _, _) => AddressClass::Multicast,
        (0, _, _) | (240..=255, _, _) => AddressClass::Reserved,
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Reserved,
        (198, 18..=19, _) | (192, 88, 99) => AddressClass::Reserved,
        _ => AddressClass::Global,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let first = ip.segments()[0];
    match first {
        _ if ip.is_unspecified() => AddressClass::Unspecified,
        _ if ip.is_loopback() => AddressClass::Loopback,
        0xfc00..=0xfdff => AddressClass::Private,
        0xfe80..=0xfebf => AddressClass::LinkLocal,
        0xff00..=0xffff => AddressClass::Multicast,
        0x2001 if ip.segments()[1] == 0x0db8 => AddressClass::Reserved,
        // Global unicast is 2000::/3; the rest (including NAT64 and discard space) is not dialled.
        0x2000..=0x3fff => AddressClass::Global,
        _ => AddressClass::Reserved,
    }
}

/// The rule deciding which addresses may be dialled.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow_private: bool,
    /// Non-global prefixes the user allowed one by one (`--allow-net 127.0.0.0/8`).
    allowed_nets: Vec<ipnet::IpNet>,
}

impl AddressPolicy {
    /// Only global unicast addresses.
    pub fn public_only() -> AddressPolicy {
        AddressPolicy::default()
    }

    /// Any address (`--allow-private`): for audits inside a private network, and for tests.
    pub fn allow_private() -> AddressPolicy {
        AddressPolicy {
            allow_private: true,
            allowed_nets: Vec::new(),
        }
    }

    /// Also permits addresses in `net`, whatever space it is in.
    pub fn allow_net(mut self, net: ipnet::IpNet) -> AddressPolicy {
        self.allowed_nets.push(net);
        self
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Whether a connection to this address may be opened; the class when it may not.
    pub fn permits(&self, ip: IpAddr) -> Result<(), AddressClass> {
        let class = AddressClass::of(ip);
        if self.allow_private || class == AddressClass::Global {
            return Ok(());
        }
        if self.allowed_nets.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        Err(class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddressClass {
        AddressClass::of(s.parse().unwrap())
    }

    #[test]
    fn classifies_special_space() {
        assert_eq!(class("127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("10.0.0.5"), AddressClass::Private);
        assert_eq!(class("172.16.0.1"), AddressClass::Private);
        assert_eq!(class("172.31.255.255"), AddressClass::Private);
        assert_eq!(class("172.32.0.1"), AddressClass::Global);
        assert_eq!(class("192.168.1.1"), AddressClass::Private);
        assert_eq!(class("100.64.0.1"), AddressClass::Private);
        assert_eq!(class("169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("224.0.0.1"), AddressClass::Multicast);
        assert_eq!(class("0.0.0.0"), AddressClass::Unspecified);
        assert_eq!(class("255.255.255.255"), AddressClass::Reserved);
        assert_eq!(class("198.51.100.7"), AddressClass::Reserved);
        assert_eq!(class("124.70.1.1"), AddressClass::Global);
        assert_eq!(class("::1"), AddressClass::Loopback);
        assert_eq!(class("::ffff:10.1.2.3"), AddressClass::Private);
        assert_eq!(class("::ffff:169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("fd00::1"), AddressClass::Private);
        assert_eq!(class("fe80::1"), AddressClass::LinkLocal);
        assert_eq!(class("2001:db8::1"), AddressClass::Reserved);
        assert_eq!(class("2400:da00::1"), AddressClass::Global);
    }

    #[test]
    fn policy_refuses_non_global_unless_allowed() {
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        assert_eq!(
            AddressPolicy::public_only().permits(metadata),
            Err(AddressClass::LinkLocal)
        );
        assert_eq!(AddressPolicy::allow_private().permits(metadata), Ok(()));
        assert_eq!(
            AddressPolicy::public_only().permits("121.36.0.1".parse().unwrap()),
            Ok(())
        );

        let loopback_only = AddressPolicy::public_only().allow_net("127.0.0.0/8".parse().unwrap());
        assert_eq!(loopback_only.permits("127.0.0.2".parse().unwrap()), Ok(()));
        assert_eq!(
            loopback_only.permits(metadata),
            Err(AddressClass::LinkLocal)
        );
    }
}
