//! AutoML nodes of pipelines, as the SDK sends them: the settings as written, with the
//! defaults the SDK fills in and its text form of image search spaces.
//!
//! amlops does not manage AutoML jobs; it carries AutoML nodes of pipelines so that pipelines
//! that use them plan and apply as `az ml` would submit them.

use serde_json::{Map, Value, json};

use super::Resolve;
use super::pipeline::node_outputs;
use crate::manifest::node::python_float_repr;
use crate::model::Node;

const TABULAR: &[&str] = &["classification", "regression", "forecasting"];
const TEXT: &[&str] = &[
    "text_classification",
    "text_classification_multilabel",
    "text_ner",
];

/// The node dictionary of an AutoML node.
pub fn node(node: &Node, settings: &Map<String, Value>, resolve: &mut dyn Resolve) -> Value {
    let mut body = settings.clone();
    body.insert("name".into(), json!(node.name.value));
    body.insert("type".into(), json!("automl"));
    let outputs = node_outputs(node);
    if outputs.as_object().is_some_and(|o| !o.is_empty()) {
        body.insert("outputs".into(), outputs);
    }
    if let Some(compute) = &node.compute
        && let Some(id) = resolve.compute(compute)
    {
        body.insert("computeId".into(), json!(id));
    }
    let task = settings
        .get("task")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if TABULAR.contains(&task.as_str()) {
        body.entry("log_verbosity").or_insert(json!("info"));
    }
    if TEXT.contains(&task.as_str()) {
        let limits = body.entry("limits").or_insert(json!({}));
        if let Some(limits) = limits.as_object_mut() {
            limits.entry("max_nodes").or_insert(json!(1));
        }
    }
    if let Some(space) = body.get("search_space").cloned() {
        body.insert("search_space".into(), search_space_text(&space));
    }
    if let Some(policy) = body
        .get_mut("sweep")
        .and_then(|s| s.get_mut("early_termination"))
        .and_then(Value::as_object_mut)
        && policy.get("type").and_then(Value::as_str) == Some("bandit")
    {
        policy.entry("slack_amount").or_insert(json!(0.0));
    }
    body.entry("properties").or_insert(json!({}));
    body.entry("tags").or_insert(json!({}));
    Value::Object(body)
}

/// Image search spaces as the SDK writes them: each distribution as its call,
/// `choice('a','b')`, `uniform(0.001,0.01)`.
fn search_space_text(space: &Value) -> Value {
    let Some(items) = space.as_array() else {
        return space.clone();
    };
    Value::Array(
        items
            .iter()
            .map(|item| {
                let Some(map) = item.as_object() else {
                    return item.clone();
                };
                Value::Object(
                    map.iter()
                        .map(|(name, distribution)| (name.clone(), json!(call(distribution))))
                        .collect(),
                )
            })
            .collect(),
    )
}

fn call(distribution: &Value) -> String {
    let Some(kind) = distribution.get("type").and_then(Value::as_str) else {
        return literal(distribution);
    };
    let argument = |key: &str| distribution.get(key).map(literal).unwrap_or_default();
    let arguments: Vec<String> = match kind {
        "choice" => distribution
            .get("values")
            .and_then(Value::as_array)
            .map(|values| values.iter().map(literal).collect())
            .unwrap_or_default(),
        "randint" => vec![argument("upper")],
        "uniform" | "loguniform" => vec![argument("min_value"), argument("max_value")],
        "quniform" | "qloguniform" => {
            vec![argument("min_value"), argument("max_value"), argument("q")]
        }
        "normal" | "lognormal" => vec![argument("mu"), argument("sigma")],
        "qnormal" | "qlognormal" => vec![argument("mu"), argument("sigma"), argument("q")],
        _ => Vec::new(),
    };
    format!("{kind}({})", arguments.join(","))
}

/// A value as Python's `repr` writes it inside such a call.
fn literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) if n.is_f64() => python_float_repr(n.as_f64().unwrap_or_default()),
        Value::Number(n) => n.to_string(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_spaces_become_calls() {
        let space = json!([{
            "model_name": {"type": "choice", "values": ["yolov5", "x"]},
            "learning_rate": {"type": "uniform", "min_value": 0.0001, "max_value": 0.001},
            "min_size": {"type": "choice", "values": [600, 800]},
        }]);
        assert_eq!(
            search_space_text(&space),
            json!([{
                "model_name": "choice('yolov5','x')",
                "learning_rate": "uniform(0.0001,0.001)",
                "min_size": "choice(600,800)",
            }])
        );
    }
}
