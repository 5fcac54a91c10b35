//! Fault injection: making chosen requests fail the ways Azure fails.
//!
//! A [`FaultRule`] names the requests it applies to (method and a regular expression on the
//! path), which of the matching requests it affects (`after` lets the first ones through,
//! `times` bounds how many are hit), and the [`Fault`]. Rules are checked in order and the
//! first one that fires wins. Rules come from a JSON file (`{"faults": [...]}`), from
//! `--fault KIND[:key=value,...]` flags, from [`super::Running::set_faults`], or from
//! `PUT /_emulator/faults`; all of them read into the same structure.

use std::sync::Mutex;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// How a request fails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// 429 `TooManyRequests` with `Retry-After` seconds, as ARM throttles.
    Throttle {
        #[serde(default = "one", rename = "retry-after", alias = "retry_after")]
        retry_after: u64,
    },
    /// A server error: 500 `InternalServerError`, 503 `ServiceUnavailable` (with
    /// `Retry-After: 1`), or any other status.
    Error {
        #[serde(default = "internal_error")]
        status: u16,
    },
    /// The request waits this long before it is answered normally.
    Latency { ms: u64 },
    /// The connection is closed without an answer.
    Drop,
    /// A long-running operation started by the request ends `Failed`; the request itself
    /// is answered normally.
    LroFailed,
    /// 409 `Conflict`, as when another operation holds the resource.
    Conflict,
}

fn one() -> u64 {
    1
}

fn internal_error() -> u16 {
    500
}

impl Fault {
    /// A short name for logs: `throttle`, `error-503`, `latency`, `drop`, `lro-failed`,
    /// `conflict`.
    pub fn label(&self) -> String {
        match self {
            Fault::Throttle { .. } => "throttle".into(),
            Fault::Error { status } => format!("error-{status}"),
            Fault::Latency { .. } => "latency".into(),
            Fault::Drop => "drop".into(),
            Fault::LroFailed => "lro-failed".into(),
            Fault::Conflict => "conflict".into(),
        }
    }
}

/// Which requests get a fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// The HTTP method (any when absent), compared without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A regular expression searched in the request path, without the query (any when
    /// absent). `/computes/` matches every compute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(flatten)]
    pub fault: Fault,
    /// How many matching requests pass before the fault starts (default 0).
    #[serde(default)]
    pub after: u32,
    /// How many matching requests get the fault (default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// The fault file: `{"faults": [rule, ...]}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    pub faults: Vec<FaultRule>,
}

/// The keys a rule may have, for catching misspelt ones (serde cannot refuse unknown keys
/// next to a flattened enum).
const RULE_KEYS: &[&str] = &[
    "fault",
    "method",
    "path",
    "after",
    "times",
    "retry-after",
    "retry_after",
    "status",
    "ms",
];

impl FaultFile {
    /// Reads a fault file's text, refusing keys no rule has.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("fault file: {e}"))?;
        let rules = value.get("faults").and_then(serde_json::Value::as_array);
        for (index, rule) in rules.into_iter().flatten().enumerate() {
            let unknown = rule
                .as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .find(|k| !RULE_KEYS.contains(&k.as_str()));
            if let Some(key) = unknown {
                return Err(format!("fault file: rule {index} has unknown key `{key}`"));
            }
        }
        let file: FaultFile =
            serde_json::from_value(value).map_err(|e| format!("fault file: {e}"))?;
        for rule in &file.faults {
            rule.compile()?;
        }
        Ok(file)
    }
}

impl FaultRule {
    /// A rule giving every request `fault`.
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            method: None,
            path: None,
            fault,
            after: 0,
            times: None,
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }

    pub fn path(mut self, pattern: &str) -> Self {
        self.path = Some(pattern.to_owned());
        self
    }

    pub fn after(mut self, after: u32) -> Self {
        self.after = after;
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    /// Checks the rule's regular expression.
    pub fn compile(&self) -> Result<Option<Regex>, String> {
        self.path
            .as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|e| format!("fault path pattern: {e}"))
    }

    /// Reads the flag form `KIND[:key=value,...]`: kinds `throttle`, `error`, `latency`,
    /// `drop`, `lro-failed`, `conflict`; keys `method`, `path`, `after`, `times`, and the
    /// fault's own `retry-after`, `status`, `ms`. Example:
    /// `throttle:method=PUT,path=/computes/,times=2,retry-after=1`.
    pub fn parse_flag(text: &str) -> Result<Self, String> {
        let (kind, options) = text.split_once(':').unwrap_or((text, ""));
        let mut object = serde_json::Map::new();
        object.insert(
            "fault".into(),
            serde_json::Value::String(kind.trim().into()),
        );
        for option in options.split(',').filter(|o| !o.trim().is_empty()) {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| format!("fault option `{option}` is not KEY=VALUE"))?;
            let key = key.trim();
            let value = value.trim();
            let number = || {
                value
                    .parse::<u64>()
                    .map(serde_json::Value::from)
                    .map_err(|_| format!("fault option `{key}` needs a number, not `{value}`"))
            };
            let json = match key {
                "method" | "path" => serde_json::Value::String(value.into()),
                "after" | "times" | "retry-after" | "status" | "ms" => number()?,
                other => return Err(format!("unknown fault option `{other}`")),
            };
            object.insert(key.into(), json);
        }
        let rule: FaultRule = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| format!("fault `{text}`: {e}"))?;
        rule.compile()?;
        Ok(rule)
    }
}

struct Armed {
    rule: FaultRule,
    path: Option<Regex>,
    seen: u32,
}

/// The rules in force, with their counters.
#[derive(Default)]
pub struct Faults {
    armed: Mutex<Vec<Armed>>,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Result<Self, String> {
        let faults = Faults::default();
        faults.replace(rules)?;
        Ok(faults)
    }

    /// Replaces every rule; counters start from zero.
    pub fn replace(&self, rules: Vec<FaultRule>) -> Result<(), String> {
        let armed = rules
            .into_iter()
            .map(|rule| {
                Ok(Armed {
                    path: rule.compile()?,
                    rule,
                    seen: 0,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        *self.armed.lock().expect("faults lock") = armed;
        Ok(())
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.armed
            .lock()
            .expect("faults lock")
            .iter()
            .map(|a| a.rule.clone())
            .collect()
    }

    /// The fault for this request, if a rule fires. A rule counts the requests that match it
    /// and reach it (an earlier rule that fires takes the request), so `after` and `times`
    /// mean "of those requests", and two rules on one path take turns in order.
    pub fn check(&self, method: &str, path: &str) -> Option<Fault> {
        let mut armed = self.armed.lock().expect("faults lock");
        for entry in armed.iter_mut() {
            let method_matches = entry
                .rule
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            let path_matches = entry.path.as_ref().is_none_or(|p| p.is_match(path));
            if !(method_matches && path_matches) {
                continue;
            }
            let index = entry.seen;
            entry.seen += 1;
            let started = index >= entry.rule.after;
            let within = entry
                .rule
                .times
                .is_none_or(|times| index - entry.rule.after.min(index) < times);
            if started && within {
                return Some(entry.rule.fault.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_files_read_the_same_rules() {
        let flag =
            FaultRule::parse_flag("throttle:method=PUT,path=/computes/,times=2,retry-after=3")
                .unwrap();
        let file = FaultFile::parse(
            r#"{"faults": [{"fault": "throttle", "method": "PUT", "path": "/computes/", "times": 2, "retry-after": 3}]}"#,
        )
        .unwrap();
        assert!(FaultFile::parse(r#"{"faults": [{"fault": "drop", "tims": 2}]}"#).is_err());
        assert_eq!(file.faults, vec![flag.clone()]);
        assert_eq!(
            flag,
            FaultRule::new(Fault::Throttle { retry_after: 3 })
                .method("PUT")
                .path("/computes/")
                .times(2)
        );
        assert_eq!(
            FaultRule::parse_flag("error:status=503").unwrap().fault,
            Fault::Error { status: 503 }
        );
        assert_eq!(FaultRule::parse_flag("drop").unwrap().fault, Fault::Drop);
        assert!(FaultRule::parse_flag("sneeze").is_err());
        assert!(FaultRule::parse_flag("latency:ms=soon").is_err());
        assert!(FaultRule::parse_flag("drop:path=(").is_err());
        assert!(FaultRule::parse_flag("drop:colour=red").is_err());
    }

    #[test]
    fn after_and_times_count_matching_requests() {
        let faults = Faults::new(vec![
            FaultRule::new(Fault::Conflict)
                .method("put")
                .path("/jobs/")
                .after(1)
                .times(2),
        ])
        .unwrap();
        let hits: Vec<bool> = (0..5)
            .map(|_| faults.check("PUT", "/ws/jobs/j").is_some())
            .collect();
        assert_eq!(hits, vec![false, true, true, false, false]);
        assert_eq!(faults.check("GET", "/ws/jobs/j"), None);
        assert_eq!(faults.check("PUT", "/ws/data/d"), None);
    }

    #[test]
    fn rules_on_one_path_take_turns() {
        let faults = Faults::new(vec![
            FaultRule::new(Fault::Error { status: 503 }).times(1),
            FaultRule::new(Fault::Error { status: 500 }).times(1),
        ])
        .unwrap();
        let seen: Vec<Option<Fault>> = (0..3).map(|_| faults.check("GET", "/x")).collect();
        assert_eq!(
            seen,
            vec![
                Some(Fault::Error { status: 503 }),
                Some(Fault::Error { status: 500 }),
                None
            ]
        );
    }

    #[test]
    fn first_rule_wins() {
        let faults = Faults::new(vec![
            FaultRule::new(Fault::Latency { ms: 5 }).times(1),
            FaultRule::new(Fault::Drop),
        ])
        .unwrap();
        assert_eq!(faults.check("GET", "/"), Some(Fault::Latency { ms: 5 }));
        assert_eq!(faults.check("GET", "/"), Some(Fault::Drop));
    }
}
