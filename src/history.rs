//! Audit history in SQLite: every run, every finding, and what changed since last time.
//!
//! Each finding has a stable identity (domain + code + the fact at fault), so the same problem
//! is the same finding run after run. Recording a run marks each finding `new`, `persisting`
//! or `reopened` with the date it was first seen in its current streak; findings open after
//! the previous run that did not come back, on a site this run audited to a verdict, are
//! `resolved`. The schema is versioned and migrates forward on open.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::date::Date;

/// The schema this build writes; older files are migrated on open.
pub const SCHEMA_VERSION: i64 = 1;

/// A finding's place in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Persisting,
    Resolved,
    Reopened,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Persisting => "persisting",
            Status::Resolved => "resolved",
            Status::Reopened => "reopened",
        }
    }

    fn parse(text: &str) -> Status {
        match text {
            "persisting" => Status::Persisting,
            "resolved" => Status::Resolved,
            "reopened" => Status::Reopened,
            _ => Status::New,
        }
    }
}

/// What the history says about one finding in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tracking {
    pub status: Status,
    pub first_seen: Date,
    pub days_open: i64,
}

/// Errors from the history file.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("{path}: schema version {found} is newer than this build's {SCHEMA_VERSION}")]
    TooNew { path: String, found: i64 },
    #[error("{path}: no run {run} in the history")]
    NoRun { path: String, run: i64 },
}

/// The identity of a finding across runs.
pub fn identity(domain: &str, code: &str, fact: &str) -> String {
    format!("{domain}|{code}|{fact}")
}

/// One recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub started_at: String,
    pub as_of: String,
    pub inventory_digest: String,
    pub options: String,
    pub findings: i64,
}

/// A finding as stored for a run.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFinding {
    pub identity: String,
    pub domain: String,
    pub code: String,
    pub fact: String,
    pub severity: String,
    pub evidence: String,
    pub status: Status,
    pub first_seen: String,
}

/// An open history file.
pub struct History {
    conn: Connection,
    path: String,
}

impl History {
    /// Opens (or creates) a history file and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| HistoryError::Sqlite {
            path: name.clone(),
            source,
        })?;
        let mut history = History { conn, path: name };
        history.migrate()?;
        Ok(history)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> HistoryError + '_ {
        move |source| HistoryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn migrate(&mut self) -> Result<(), HistoryError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err())?;
        if version > SCHEMA_VERSION {
            return Err(HistoryError::TooNew {
                path: self.path.clone(),
                found: version,
            });
        }
        if version < 1 {
            self.conn.execute_batch(SCHEMA_V1).map_err(self.err())?;
        }
        self.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(self.err())?;
        Ok(())
    }

    /// Starts a run; returns its id.
    pub fn begin_run(
        &self,
        started_at: &str,
        as_of: Date,
        digest: &str,
        options: &str,
    ) -> Result<i64, HistoryError> {
        self.conn
            .execute(
                "INSERT INTO runs (started_at, as_of, inventory_digest, options) VALUES (?1, ?2, ?3, ?4)",
                params![started_at, as_of.to_string(), digest, options],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The finished run before `run`, if any.
    pub fn previous_run(&self, run: i64) -> Result<Option<i64>, HistoryError> {
        self.conn
            .query_row(
                "SELECT max(id) FROM runs WHERE id < ?1 AND finished_at IS NOT NULL",
                [run],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// Records one site's findings in `run` and says where each stands.
    pub fn record_site(
        &self,
        run: i64,
        as_of: Date,
        domain: &str,
        audited: bool,
        findings: &[(String, String, String, String)],
    ) -> Result<Vec<Tracking>, HistoryError> {
        let previous = self.previous_run(run)?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO audited (run_id, domain, decided) VALUES (?1, ?2, ?3)",
                params![run, domain, audited],
            )
            .map_err(self.err())?;
        findings
            .iter()
            .map(|(code, fact, severity, evidence)| {
                self.record_finding(run, previous, as_of, domain, code, fact, severity, evidence)
            })
            .collect()
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one row's columns, kept flat for the SQL"
    )]
    fn record_finding(
        &self,
        run: i64,
        previous: Option<i64>,
        as_of: Date,
        domain: &str,
        code: &str,
        fact: &str,
        severity: &str,
        evidence: &str,
    ) -> Result<Tracking, HistoryError> {
        let id = identity(domain, code, fact);
        let streak: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT last_run, first_seen FROM streaks WHERE identity = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;

        let (status, first_seen) = match streak {
            Some((last, first)) if Some(last) == previous || last == run => {
                (Status::Persisting, first)
            }
            Some(_) => (Status::Reopened, as_of.to_string()),
            None => (Status::New, as_of.to_string()),
        };
        self.conn
            .execute(
                "INSERT INTO streaks (identity, first_seen, last_run) VALUES (?1, ?2, ?3)
                 ON CONFLICT(identity) DO UPDATE SET first_seen = ?2, last_run = ?3",
                params![id, first_seen, run],
            )
            .map_err(self.err())?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO observations (run_id, identity, domain, code, fact, severity, evidence, status, first_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![run, id, domain, code, fact, severity, evidence, status.label(), first_seen],
            )
            .map_err(self.err())?;

        let first: Date = first_seen.parse().unwrap_or(as_of);
        Ok(Tracking {
            status,
            first_seen: first,
            days_open: first.days_until(as_of),
        })
    }

    /// Findings open after the previous run that did not come back in `run`, on sites this
    /// run audited to a verdict. They are returned once: the next run will not see them.
    pub fn resolved(&self, run: i64) -> Result<Vec<StoredFinding>, HistoryError> {
        let Some(previous) = self.previous_run(run)? else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT o.identity, o.domain, o.code, o.fact, o.severity, o.evidence, 'resolved', o.first_seen
                 FROM observations o
                 JOIN audited a ON a.run_id = ?2 AND a.domain = o.domain AND a.decided
                 WHERE o.run_id = ?1
                   AND NOT EXISTS (SELECT 1 FROM observations n WHERE n.run_id = ?2 AND n.identity = o.identity)",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![previous, run], stored_finding)
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Marks a run finished, so the next run compares against it.
    pub fn finish_run(&self, run: i64, finished_at: &str) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?2 WHERE id = ?1",
                params![run, finished_at],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Every finished run, oldest first, with its finding count.
    pub fn runs(&self) -> Result<Vec<RunRecord>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.started_at, r.as_of, r.inventory_digest, r.options,
                        (SELECT count(*) FROM observations o WHERE o.run_id = r.id)
                 FROM runs r WHERE r.finished_at IS NOT NULL ORDER BY r.id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    as_of: r.get(2)?,
                    inventory_digest: r.get(3)?,
                    options: r.get(4)?,
                    findings: r.get(5)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The findings recorded in one run.
    pub fn findings(&self, run: i64) -> Result<Vec<StoredFinding>, HistoryError> {
        let exists: bool = self
            .conn
            .query_row("SELECT count(*) FROM runs WHERE id = ?1", [run], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(self.err())?
            > 0;
        if !exists {
            return Err(HistoryError::NoRun {
                path: self.path.clone(),
                run,
            });
        }
        let mut stmt = self
            .conn
            .prepare("SELECT identity, domain, code, fact, severity, evidence, status, first_seen FROM observations WHERE run_id = ?1 ORDER BY domain, code")
            .map_err(self.err())?;
        let rows = stmt.query_map([run], stored_finding).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }
}

/// A [`StoredFinding`] from a row of `identity, domain, code, fact, severity, evidence,
/// status, first_seen`.
fn stored_finding(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFinding> {
    Ok(StoredFinding {
        identity: r.get(0)?,
        domain: r.get(1)?,
        code: r.get(2)?,
        fact: r.get(3)?,
        severity: r.get(4)?,
        evidence: r.get(5)?,
        status: Status::parse(&r.get::<_, String>(6)?),
        first_seen: r.get(7)?,
    })
}

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    as_of TEXT NOT NULL,
    inventory_digest TEXT NOT NULL,
    options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audited (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    domain TEXT NOT NULL,
    decided INTEGER NOT NULL,
    PRIMARY KEY (run_id, domain)
);
CREATE TABLE IF NOT EXISTS observations (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    identity TEXT NOT NULL,
    domain TEXT NOT NULL,
    code TEXT NOT NULL,
    fact TEXT NOT NULL,
    severity TEXT NOT NULL,
    evidence TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (run_id, identity)
);
CREATE TABLE IF NOT EXISTS streaks (
    identity TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    last_run INTEGER NOT NULL
);
";

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn finding(code: &str, fact: &str) -> (String, String, String, String) {
        (code.into(), fact.into(), "high".into(), "e".into())
    }

    type Site<'a> = (&'a str, bool, Vec<(String, String, String, String)>);

    fn run(h: &History, as_of: &str, sites: &[Site<'_>]) -> (i64, Vec<Vec<Tracking>>) {
        let id = h.begin_run("t", date(as_of), "d", "o").unwrap();
        let tracked = sites
            .iter()
            .map(|(d, ok, f)| h.record_site(id, date(as_of), d, *ok, f).unwrap())
            .collect();
        (id, tracked)
    }

    #[test]
    fn statuses_follow_a_finding_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(&dir.path().join("h.sqlite")).unwrap();

        let (r1, t) = run(
            &h,
            "2026-11-01",
            &[
                ("a.cn", true, vec![finding("WEB-04", "missing")]),
                ("b.cn", true, vec![finding("WEB-03", "x")]),
            ],
        );
        assert_eq!(t[0][0].status, Status::New);
        h.finish_run(r1, "t").unwrap();

        let (r2, t) = run(
            &h,
            "2026-11-08",
            &[
                ("a.cn", true, vec![finding("WEB-04", "missing")]),
                ("b.cn", true, vec![]),
            ],
        );
        assert_eq!(t[0][0].status, Status::Persisting);
        assert_eq!(t[0][0].days_open, 7);
        let resolved = h.resolved(r2).unwrap();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].domain, "b.cn");
        h.finish_run(r2, "t").unwrap();

        let (r3, t) = run(
            &h,
            "2026-11-15",
            &[
                ("a.cn", true, vec![finding("WEB-04", "missing")]),
                ("b.cn", true, vec![finding("WEB-03", "x")]),
            ],
        );
        assert_eq!(t[0][0].status, Status::Persisting);
        assert_eq!(t[0][0].first_seen, date("2026-11-01"));
        assert_eq!(t[1][0].status, Status::Reopened);
        assert!(h.resolved(r3).unwrap().is_empty());
    }

    #[test]
    fn an_undecided_site_does_not_resolve_its_findings() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(&dir.path().join("h.sqlite")).unwrap();
        let (r1, _) = run(
            &h,
            "2026-11-01",
            &[("a.cn", true, vec![finding("NET-07a", "1.2.3.4")])],
        );
        h.finish_run(r1, "t").unwrap();
        let (r2, _) = run(&h, "2026-11-08", &[("a.cn", false, vec![])]);
        assert!(h.resolved(r2).unwrap().is_empty());
    }

    #[test]
    fn reopening_migrates_nothing_and_refuses_newer_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        drop(History::open(&path).unwrap());
        drop(History::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert!(matches!(
            History::open(&path),
            Err(HistoryError::TooNew { found: 99, .. })
        ));
    }
}
