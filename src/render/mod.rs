//! Drawing plans for people and programs.
//!
//! Every renderer reads the plan's serialised form (the JSON `--json` prints), never the
//! planner's internals, so the text a person reads and the JSON a pipeline parses cannot
//! disagree.

pub mod drift;
pub mod human;
pub mod markdown;

use serde_json::Value;

use crate::plan::Plan;

/// The plan as `--json` prints it.
pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Reads a serialised plan back, for renderers.
pub fn from_serialised(value: &Value) -> Result<Plan, serde_json::Error> {
    serde_json::from_value(value.clone())
}

/// Bytes as people read them: `4.6 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A scalar or collection shown on one line: strings quoted, the rest as JSON.
pub fn inline_value(value: &Value) -> String {
    let text = match value {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    };
    // A bidirectional override or an invisible character is spelt out, never printed.
    crate::diag::visible(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(4700), "4.6 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
