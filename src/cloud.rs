//! The cloud's address prefixes, and the question "does this address lie in them?".
//!
//! Prefix files are plain text, one CIDR a line, `#` comments allowed. The shipped default is
//! the Huawei Cloud IPv4 list in `data/huaweicloud-ipv4.txt` (provenance in its header).
//! Prefixes are merged into sorted, non-overlapping ranges so a lookup is one binary search.

use std::net::IpAddr;
use std::path::Path;

/// The default list, embedded at build time.
pub const DEFAULT_RANGES: &str = include_str!("../data/huaweicloud-ipv4.txt");

/// A problem in a prefix file, naming the line.
#[derive(Debug, thiserror::Error)]
pub enum CloudRangesError {
    #[error("{source_name}: cannot read: {error}")]
    Io {
        source_name: String,
        error: std::io::Error,
    },
    #[error("{source_name}: line {line}: {text:?} is not a CIDR prefix (e.g. 1.92.0.0/16)")]
    BadPrefix {
        source_name: String,
        line: usize,
        text: String,
    },
}

/// Merged address ranges of one cloud.
#[derive(Debug, Clone, Default)]
pub struct CloudRanges {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    prefixes: usize,
}

impl CloudRanges {
    /// The shipped Huawei Cloud list.
    pub fn huawei_default() -> CloudRanges {
        let mut ranges = CloudRanges::default();
        ranges
            .add_text("data/huaweicloud-ipv4.txt", DEFAULT_RANGES)
            .expect("the shipped list parses; tested");
        ranges
    }

    /// Adds the prefixes in a file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), CloudRangesError> {
        let source_name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| CloudRangesError::Io {
            source_name: source_name.clone(),
            error,
        })?;
        self.add_text(&source_name, &text)
    }

    /// Adds the prefixes in a text, one per line.
    pub fn add_text(&mut self, source_name: &str, text: &str) -> Result<(), CloudRangesError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }

            let net: ipnet::IpNet = line
                .parse()
                .or_else(|_| line.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| CloudRangesError::BadPrefix {
                    source_name: source_name.to_string(),
                    line: i + 1,
                    text: line.to_string(),
                })?;
            self.insert(net);
        }
        self.merge();
        Ok(())
    }

    fn insert(&mut self, net: ipnet::IpNet) {
        self.prefixes += 1;
        match net {
            ipnet::IpNet::V4(n) => self.v4.push((n.network().into(), n.broadcast().into())),
            ipnet::IpNet::V6(n) => self.v6.push((n.network().into(), n.broadcast().into())),
        }
    }

    fn merge(&mut self) {
        merge_ranges(&mut self.v4);
        merge_ranges(&mut self.v6);
    }

    /// Whether the address lies in one of the prefixes.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => in_ranges(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => in_ranges(&self.v4, u32::from(v4)),
                None => in_ranges(&self.v6, u128::from(v6)),
            },
        }
    }

    /// How many prefixes were loaded (before merging).
    pub fn prefix_count(&self) -> usize {
        self.prefixes
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

fn merge_ranges<T: Ord + Copy + num_like::Succ>(ranges: &mut Vec<(T, T)>) {
    ranges.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for &(start, end) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if start <= last.1.succ() => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    *ranges = merged;
}

fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], ip: T) -> bool {
    let i = ranges.partition_point(|&(start, _)| start <= ip);
    i > 0 && ranges[i - 1].1 >= ip
}

mod num_like {
    /// The next integer, saturating: adjacent ranges merge.
    pub trait Succ {
        fn succ(self) -> Self;
    }

    impl Succ for u32 {
        fn succ(self) -> Self {
            self.saturating_add(1)
        }
    }

    impl Succ for u128 {
        fn succ(self) -> Self {
            self.saturating_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_list_parses_and_answers_at_the_edges() {
        let r = CloudRanges::huawei_default();
        assert!(r.prefix_count() > 90);
        assert!(r.contains(ip("1.92.0.0")));
        assert!(r.contains(ip("1.92.255.255")));
        assert!(!r.contains(ip("1.93.0.0")));
        assert!(r.contains(ip("1.95.255.255")));
        assert!(!r.contains(ip("1.91.255.255")));
        assert!(r.contains(ip("::ffff:124.70.1.1")));
        assert!(!r.contains(ip("8.8.8.8")));
        assert!(!r.contains(ip("2001:db8::1")));
    }

    #[test]
    fn overlapping_and_adjacent_prefixes_merge() {
        let mut r = CloudRanges::default();
        r.add_text(
            "t",
            "10.0.0.0/24\n10.0.1.0/24\n10.0.0.128/25 # inside\n2001:db8::/32\n127.0.0.9\n",
        )
        .unwrap();
        assert_eq!(r.v4.len(), 2);
        assert!(r.contains(ip("10.0.1.255")));
        assert!(!r.contains(ip("10.0.2.0")));
        assert!(r.contains(ip("127.0.0.9")));
        assert!(!r.contains(ip("127.0.0.10")));
        assert!(r.contains(ip("2001:db8:ffff::1")));
    }

    #[test]
    fn bad_line_is_named() {
        let err = CloudRanges::default()
            .add_text("f.txt", "1.2.3.0/24\n\nnot-a-prefix\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.txt: line 3: \"not-a-prefix\" is not a CIDR prefix (e.g. 1.92.0.0/16)"
        );
    }
}
