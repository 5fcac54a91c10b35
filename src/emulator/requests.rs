//! The request log: what was asked and how it was answered, so a test can assert how many
//! requests a plan made.
//!
//! Entries live in memory ([`super::Running::log`], `GET /_emulator/requests`) and, when a
//! file is configured, are appended to it as JSON lines. Query values that could be secrets
//! (SAS signatures and tokens) are replaced before anything is kept.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One answered request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// Position in the log, from 1.
    pub seq: u64,
    pub method: String,
    /// The path without its query.
    pub path: String,
    /// Query parameters, secrets replaced.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// The status sent, or 0 when the connection was dropped on purpose.
    pub status: u16,
    /// Milliseconds from the end of the request body to the answer.
    pub duration_ms: u64,
    pub request_id: String,
    /// The injected fault, if any (`throttle`, `error-503`, `drop`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// Query keys whose values are credentials.
const SECRET_KEYS: &[&str] = &["sig", "signature", "sas", "token", "code", "key"];

/// Replaces the values of secret query keys.
pub fn redact_query(query: &[(String, String)]) -> BTreeMap<String, String> {
    query
        .iter()
        .map(|(k, v)| {
            let secret = SECRET_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s));
            let value = if secret {
                crate::plan::SENSITIVE.to_owned()
            } else {
                v.clone()
            };
            (k.clone(), value)
        })
        .collect()
}

/// The log, in memory and optionally in a file.
pub struct RequestLog {
    entries: Mutex<Vec<LoggedRequest>>,
    next: Mutex<u64>,
    file: Option<PathBuf>,
}

impl RequestLog {
    pub fn new(file: Option<PathBuf>) -> Self {
        RequestLog {
            entries: Mutex::new(Vec::new()),
            next: Mutex::new(1),
            file,
        }
    }

    /// Records a request; `seq` is filled in here.
    pub fn record(&self, mut entry: LoggedRequest) {
        {
            let mut next = self.next.lock().expect("log lock");
            entry.seq = *next;
            *next += 1;
        }
        if let Some(path) = &self.file {
            let appended = serde_json::to_string(&entry).map(|line| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .and_then(|mut f| writeln!(f, "{line}"))
            });
            if let Ok(Err(e)) = appended {
                tracing::warn!(file = %path.display(), error = %e, "cannot append to the request log");
            }
        }
        self.entries.lock().expect("log lock").push(entry);
    }

    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.entries.lock().expect("log lock").clone()
    }

    /// Empties the in-memory log (the file keeps everything).
    pub fn clear(&self) {
        self.entries.lock().expect("log lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> LoggedRequest {
        LoggedRequest {
            seq: 0,
            method: "GET".into(),
            path: path.into(),
            query: BTreeMap::new(),
            status: 200,
            duration_ms: 1,
            request_id: "r".into(),
            fault: None,
        }
    }

    #[test]
    fn entries_are_numbered_and_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("requests.jsonl");
        let log = RequestLog::new(Some(file.clone()));
        log.record(entry("/a"));
        log.clear();
        log.record(entry("/b"));
        let kept = log.entries();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].seq, kept[0].path.as_str()), (2, "/b"));
        let lines: Vec<LoggedRequest> = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].path, "/a");
    }

    #[test]
    fn secret_query_values_are_replaced() {
        let query = vec![
            ("api-version".to_owned(), "2024-01-01".to_owned()),
            ("sig".to_owned(), "c2VjcmV0".to_owned()),
        ];
        let redacted = redact_query(&query);
        assert_eq!(redacted["api-version"], "2024-01-01");
        assert_eq!(redacted["sig"], crate::plan::SENSITIVE);
    }
}
