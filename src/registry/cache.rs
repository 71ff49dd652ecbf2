//! The on-disk registry cache (`--registry-cache DIR`): one small JSON file per registrable
//! domain, holding the evidence and when it was fetched.
//!
//! Only answers are cached (found, not found); failures are asked again next run. Entries
//! older than the time to live are ignored and overwritten by the next answer. Files are
//! written to a temporary name and renamed, so a killed run leaves no torn entry.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{RegistryEvidence, RegistrySource};
use crate::date::now_rfc3339;

/// Bumped when the layout changes; entries of another version are ignored.
const FORMAT: u32 = 1;
/// An entry dated this far in the future (a skewed clock) is not trusted.
const FUTURE_SLACK_SECS: u64 = 300;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    format: u32,
    /// Seconds since the Unix epoch, for the time to live.
    fetched_unix: u64,
    /// The same time in RFC 3339, for people and the evidence.
    fetched_at: String,
    evidence: RegistryEvidence,
}

/// The file of a registrable domain, or `None` for a name unsafe as a file name.
fn path_for(dir: &Path, name: &str) -> Option<PathBuf> {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
    let usable = !name.is_empty() && !name.starts_with('.') && name.bytes().all(safe);
    usable.then(|| dir.join(format!("{name}.json")))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh cached answer for `name`, with its source marked as the cache.
pub(super) async fn read(dir: &Path, name: &str, ttl: Duration) -> Option<RegistryEvidence> {
    let path = path_for(dir, name)?;
    let bytes = tokio::fs::read(&path).await.ok()?;
    let Ok(entry) = serde_json::from_slice::<Entry>(&bytes) else {
        tracing::debug!(path = %path.display(), "unreadable registry cache entry ignored");
        return None;
    };

    let now = now_unix();
    let age = now.checked_sub(entry.fetched_unix);
    let fresh = match age {
        Some(age) => age <= ttl.as_secs(),
        None => entry.fetched_unix - now <= FUTURE_SLACK_SECS,
    };
    let usable = fresh && entry.format == FORMAT && entry.evidence.registrable == name;
    if !usable {
        return None;
    }

    let mut evidence = entry.evidence;
    evidence.source = RegistrySource::Cache {
        fetched_at: entry.fetched_at,
        origin: Box::new(evidence.source),
    };
    Some(evidence)
}

/// Stores a fresh answer for its registrable domain.
pub(super) async fn write(dir: &Path, evidence: &RegistryEvidence) -> std::io::Result<()> {
    let Some(path) = path_for(dir, &evidence.registrable) else {
        return Ok(());
    };
    let entry = Entry {
        format: FORMAT,
        fetched_unix: now_unix(),
        fetched_at: now_rfc3339(),
        evidence: evidence.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&entry).map_err(std::io::Error::other)?;

    let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
    tokio::fs::write(&temporary, bytes).await?;
    tokio::fs::rename(&temporary, &path).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryOutcome;

    fn evidence(name: &str) -> RegistryEvidence {
        RegistryEvidence {
            registrable: name.to_string(),
            source: RegistrySource::Whois {
                server: "whois.cnnic.cn:43".into(),
            },
            registered: "2003-03-17".parse().ok(),
            expires: "2030-03-17".parse().ok(),
            outcome: RegistryOutcome::Found,
            detail: "WHOIS record".into(),
        }
    }

    #[tokio::test]
    async fn round_trips_and_marks_the_source() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &evidence("example.cn")).await.unwrap();

        let cached = read(dir.path(), "example.cn", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(cached.expires, evidence("example.cn").expires);
        let RegistrySource::Cache { origin, .. } = cached.source else {
            panic!("source {:?}", cached.source);
        };
        assert_eq!(*origin, evidence("example.cn").source);
    }

    #[tokio::test]
    async fn stale_foreign_and_torn_entries_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &evidence("example.cn")).await.unwrap();
        let path = dir.path().join("example.cn.json");

        let mut entry: Entry = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        entry.fetched_unix -= 120;
        std::fs::write(&path, serde_json::to_vec(&entry).unwrap()).unwrap();
        assert!(
            read(dir.path(), "example.cn", Duration::from_secs(60))
                .await
                .is_none()
        );
        assert!(
            read(dir.path(), "example.cn", Duration::from_secs(600))
                .await
                .is_some()
        );

        std::fs::copy(&path, dir.path().join("other.cn.json")).unwrap();
        assert!(
            read(dir.path(), "other.cn", Duration::from_secs(600))
                .await
                .is_none()
        );

        std::fs::write(&path, b"{\"format\":1,").unwrap();
        assert!(
            read(dir.path(), "example.cn", Duration::from_secs(600))
                .await
                .is_none()
        );
        assert!(path_for(dir.path(), "../etc/passwd").is_none());
    }
}
