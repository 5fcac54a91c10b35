//! Request bodies checked against the REST API's definitions.
//!
//! The definitions are Microsoft's (`spec/`, an extract of the 2026-07-01 swagger). The check
//! reads the swagger 2.0 subset they use: `$ref`, `allOf`, polymorphism by `discriminator`
//! and `x-ms-discriminator-value`, `type` (with `int32`), `enum` (compared without regard to
//! case, as the service reads enums), `required`, `minLength`, `pattern`, `items` and
//! `additionalProperties`. It is as lenient as the service where the service is lenient:
//! unknown properties pass (clients send fields of newer preview versions), `null` counts as
//! absent, read-only properties are ignored, and definitions outside the extract (the common
//! ARM types, identities) are not checked. The first problem found is reported, naming the
//! field by its JSON path (`properties.scaleSettings.maxNodeCount`).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use serde_json::{Map, Value};

const EXTRACT: &str = include_str!("spec/openapi.2026-07-01.definitions-extract.json");
const LOCAL_REF: &str = "#/definitions/";

/// A body that does not match its definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The JSON path of the offending field, such as `properties.command`.
    pub field: String,
    pub message: String,
}

struct Definitions {
    by_name: Map<String, Value>,
    /// (base definition, discriminator value in lowercase) → subtype definition.
    subtypes: HashMap<(String, String), String>,
    patterns: Mutex<HashMap<String, Option<Regex>>>,
}

static DEFINITIONS: LazyLock<Definitions> = LazyLock::new(Definitions::load);

impl Definitions {
    fn load() -> Self {
        let extract: Value = serde_json::from_str(EXTRACT).expect("the extract is valid JSON");
        let by_name = extract["definitions"]
            .as_object()
            .cloned()
            .expect("the extract has definitions");
        let mut definitions = Definitions {
            by_name,
            subtypes: HashMap::new(),
            patterns: Mutex::new(HashMap::new()),
        };
        definitions.index_subtypes();
        definitions
    }

    fn index_subtypes(&mut self) {
        let mut subtypes = HashMap::new();
        for (name, schema) in &self.by_name {
            let Some(value) = schema
                .get("x-ms-discriminator-value")
                .and_then(Value::as_str)
            else {
                continue;
            };
            for ancestor in self.ancestors(name) {
                if self.by_name[&ancestor].get("discriminator").is_some() {
                    subtypes.insert((ancestor, value.to_ascii_lowercase()), name.clone());
                }
            }
        }
        self.subtypes = subtypes;
    }

    /// The definitions `name` inherits from through `allOf`, nearest first.
    fn ancestors(&self, name: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut queue = vec![name.to_owned()];
        while let Some(current) = queue.pop() {
            let parents = self
                .by_name
                .get(&current)
                .and_then(|s| s.get("allOf"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(local_ref);
            for parent in parents {
                if !found.contains(&parent) && self.by_name.contains_key(&parent) {
                    found.push(parent.clone());
                    queue.push(parent);
                }
            }
        }
        found
    }

    fn pattern(&self, pattern: &str) -> Option<Regex> {
        let mut cache = self.patterns.lock().expect("pattern cache");
        cache
            .entry(pattern.to_owned())
            // Patterns the regex crate cannot read (look-arounds) are not checked.
            .or_insert_with(|| Regex::new(pattern).ok())
            .clone()
    }
}

fn local_ref(schema: &Value) -> Option<String> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(LOCAL_REF))
        .map(str::to_owned)
}

/// Checks `body` against definition `name`. Unknown definitions accept anything.
pub fn check(name: &str, body: &Value) -> Result<(), Invalid> {
    check_for_version(name, body, false)
}

/// Checks `body` as sent with a preview api-version (`preview` true) or a stable one. The
/// definitions are 2026-07-01's; a preview version may carry enum values added since (the
/// SDK sends `jobType: FineTuning` with 2024-10-01-preview), so under a preview version the
/// enums the swagger marks extensible (`modelAsString`) accept values they do not list.
pub fn check_for_version(name: &str, body: &Value, preview: bool) -> Result<(), Invalid> {
    Checker {
        definitions: &DEFINITIONS,
        preview,
    }
    .definition(name, body, "", true)
}

/// Whether definition `name` is in the extract.
pub fn known(name: &str) -> bool {
    DEFINITIONS.by_name.contains_key(name)
}

struct Checker<'d> {
    definitions: &'d Definitions,
    preview: bool,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn invalid(field: &str, message: String) -> Invalid {
    Invalid {
        field: field.to_owned(),
        message,
    }
}

impl Checker<'_> {
    /// Checks a value against a named definition; `dispatch` picks the subtype the
    /// discriminator names first.
    fn definition(
        &self,
        name: &str,
        value: &Value,
        path: &str,
        dispatch: bool,
    ) -> Result<(), Invalid> {
        let Some(schema) = self.definitions.by_name.get(name) else {
            return Ok(());
        };
        if dispatch && let Some(subtype) = self.subtype(name, schema, value) {
            return self.definition(&subtype, value, path, false);
        }
        self.inline(schema, value, path)?;
        for parent in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(parent) = local_ref(parent) {
                self.definition(&parent, value, path, false)?;
            }
        }
        Ok(())
    }

    fn subtype(&self, name: &str, schema: &Value, value: &Value) -> Option<String> {
        let field = schema.get("discriminator")?.as_str()?;
        let wanted = value.get(field)?.as_str()?.to_ascii_lowercase();
        self.definitions
            .subtypes
            .get(&(name.to_owned(), wanted))
            .filter(|s| s.as_str() != name)
            .cloned()
    }

    /// Checks a schema (a property's, an item's, or a definition's own part).
    fn inline(&self, schema: &Value, value: &Value, path: &str) -> Result<(), Invalid> {
        if value.is_null() {
            return Ok(());
        }
        if let Some(name) = local_ref(schema) {
            return self.definition(&name, value, path, true);
        }
        if schema.get("$ref").is_some() {
            return Ok(());
        }
        if let Some(kind) = schema.get("type").and_then(Value::as_str) {
            self.kind(kind, schema, value, path)?;
        }
        let extensible = schema
            .pointer("/x-ms-enum/modelAsString")
            .and_then(Value::as_bool)
            == Some(true);
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !(self.preview && extensible)
        {
            self.one_of(options, value, path)?;
        }
        if let Some(text) = value.as_str() {
            self.text(schema, text, path)?;
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                self.inline(items, item, &format!("{path}[{index}]"))?;
            }
        }
        if let Some(object) = value.as_object() {
            self.object(schema, object, path)?;
        }
        Ok(())
    }

    fn kind(&self, kind: &str, schema: &Value, value: &Value, path: &str) -> Result<(), Invalid> {
        // The service reads JSON as .NET does: primitives convert to strings, and strings
        // holding a number or a boolean convert back (the SDK sends `hash_version` as a
        // number where the definition says string).
        let text = value.as_str().map(str::trim);
        let fits = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => !(value.is_object() || value.is_array()),
            "boolean" => {
                value.is_boolean()
                    || text.is_some_and(|t| {
                        t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false")
                    })
            }
            "number" => value.is_number() || text.is_some_and(|t| t.parse::<f64>().is_ok()),
            "integer" => {
                let number = value.as_i64().or_else(|| text.and_then(|t| t.parse().ok()));
                match number {
                    Some(n) if schema.get("format").and_then(Value::as_str) == Some("int32") => {
                        i32::try_from(n).is_ok()
                    }
                    Some(_) => true,
                    None => false,
                }
            }
            _ => true,
        };
        let article = if kind == "object" || kind == "array" || kind == "integer" {
            "an"
        } else {
            "a"
        };
        if fits {
            Ok(())
        } else {
            Err(invalid(
                path,
                format!("`{path}` must be {article} {kind}, not {}", describe(value)),
            ))
        }
    }

    fn one_of(&self, options: &[Value], value: &Value, path: &str) -> Result<(), Invalid> {
        let Some(text) = value.as_str() else {
            return Ok(());
        };
        if options
            .iter()
            .filter_map(Value::as_str)
            .any(|o| o.eq_ignore_ascii_case(text))
        {
            return Ok(());
        }
        let listed: Vec<&str> = options.iter().filter_map(Value::as_str).collect();
        Err(invalid(
            path,
            format!(
                "`{path}` is `{text}`; expected one of {}",
                listed.join(", ")
            ),
        ))
    }

    fn text(&self, schema: &Value, text: &str, path: &str) -> Result<(), Invalid> {
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && (text.chars().count() as u64) < min
        {
            return Err(invalid(
                path,
                format!("`{path}` must have at least {min} character(s)"),
            ));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && let Some(regex) = self.definitions.pattern(pattern)
            && !regex.is_match(text)
        {
            return Err(invalid(
                path,
                format!("`{path}` does not match the pattern {pattern}"),
            ));
        }
        Ok(())
    }

    fn object(
        &self,
        schema: &Value,
        object: &Map<String, Value>,
        path: &str,
    ) -> Result<(), Invalid> {
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, property) in properties.into_iter().flatten() {
            let read_only = property.get("readOnly").and_then(Value::as_bool) == Some(true);
            if let Some(value) = object.get(key)
                && !read_only
            {
                self.inline(property, value, &join(path, key))?;
            }
        }
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if object.get(key).is_none_or(Value::is_null) {
                let field = join(path, key);
                return Err(invalid(&field, format!("`{field}` is required")));
            }
        }
        if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            let declared = |k: &str| properties.is_some_and(|p| p.contains_key(k));
            for (key, value) in object.iter().filter(|(k, _)| !declared(k)) {
                self.inline(extra, value, &join(path, key))?;
            }
        }
        Ok(())
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The definition a PUT, PATCH or POST body of a target must match, if the extract has it.
pub fn definition_for(target: &super::routes::Target, method: &str) -> Option<&'static str> {
    use super::routes::Target;
    let name = match (target, method) {
        (Target::Container(collection, _), "PUT") => match *collection {
            "data" => "DataContainer",
            "environments" => "EnvironmentContainer",
            "codes" => "CodeContainer",
            "components" => "ComponentContainer",
            _ => return None,
        },
        (Target::Version(collection, _, _), "PUT") => match *collection {
            "data" => "DataVersionBase",
            "environments" => "EnvironmentVersion",
            "codes" => "CodeVersion",
            "components" => "ComponentVersion",
            _ => return None,
        },
        (Target::PendingUpload(..), "POST") => "PendingUploadRequestDto",
        (Target::Compute(_), "PUT") => "ComputeResource",
        (Target::Compute(_), "PATCH") => "ClusterUpdateParameters",
        (Target::Job(_), "PUT") => "JobBase",
        _ => return None,
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(name: &str, body: Value) -> Option<String> {
        check(name, &body).err().map(|e| e.field)
    }

    #[test]
    fn every_named_definition_is_in_the_extract() {
        for name in [
            "DataContainer",
            "EnvironmentContainer",
            "CodeContainer",
            "ComponentContainer",
            "DataVersionBase",
            "EnvironmentVersion",
            "CodeVersion",
            "ComponentVersion",
            "PendingUploadRequestDto",
            "ComputeResource",
            "ClusterUpdateParameters",
            "JobBase",
        ] {
            assert!(known(name), "{name}");
        }
    }

    #[test]
    fn problems_name_the_field() {
        let job = |properties: Value| json!({ "properties": properties });
        let cases = [
            ("JobBase", json!({}), Some("properties")),
            (
                "JobBase",
                job(json!({"jobType": "Command", "environmentId": "e"})),
                Some("properties.command"),
            ),
            (
                "JobBase",
                job(json!({"jobType": "Command", "command": "", "environmentId": "e"})),
                Some("properties.command"),
            ),
            (
                "JobBase",
                job(json!({"jobType": "Teleport"})),
                Some("properties.jobType"),
            ),
            (
                "JobBase",
                job(json!({"jobType": "command", "command": "python a.py", "environmentId": "e"})),
                None,
            ),
            (
                "JobBase",
                job(
                    json!({"jobType": "Command", "command": "c", "environmentId": "e", "inputs": {"x": {"jobInputType": "literal"}}}),
                ),
                Some("properties.inputs.x.value"),
            ),
            (
                "JobBase",
                job(
                    json!({"jobType": "Command", "command": "c", "environmentId": "e", "tags": {"t": {}}}),
                ),
                Some("properties.tags.t"),
            ),
            (
                "CodeVersion",
                json!({"properties": {"properties": {"hash_version": 202208}, "isAnonymous": "true"}}),
                None,
            ),
            (
                "DataVersionBase",
                json!({"properties": {"dataType": "uri_file"}}),
                Some("properties.dataUri"),
            ),
            (
                "DataVersionBase",
                json!({"properties": {"dataType": "uri_file", "dataUri": "x", "isArchived": "yes"}}),
                Some("properties.isArchived"),
            ),
            (
                "DataVersionBase",
                json!({"properties": {"dataType": "mltable", "dataUri": "x", "referencedUris": "y"}}),
                Some("properties.referencedUris"),
            ),
            (
                "ComputeResource",
                json!({"properties": {"computeType": "AmlCompute", "properties": {"scaleSettings": {"minNodeCount": 0}}}}),
                Some("properties.properties.scaleSettings.maxNodeCount"),
            ),
            (
                "ComputeResource",
                json!({"properties": {"computeType": "AmlCompute", "properties": {"scaleSettings": {"maxNodeCount": 99999999999_i64}}}}),
                Some("properties.properties.scaleSettings.maxNodeCount"),
            ),
            (
                "ComputeResource",
                json!({"properties": {"computeType": "AmlCompute", "provisioningState": 5, "properties": {"scaleSettings": {"maxNodeCount": 2}}}}),
                None,
            ),
            (
                "ClusterUpdateParameters",
                json!({"properties": {"properties": {"scaleSettings": {"maxNodeCount": "two"}}}}),
                Some("properties.properties.scaleSettings.maxNodeCount"),
            ),
            (
                "EnvironmentVersion",
                json!({"properties": {"image": "python:3.11", "osType": "Linux", "unknownNewField": 1}}),
                None,
            ),
            ("Nothing", json!(1), None),
        ];
        for (name, body, expected) in cases {
            assert_eq!(
                field_of(name, body.clone()).as_deref(),
                expected,
                "{name} {body}"
            );
        }
    }

    #[test]
    fn preview_versions_may_extend_extensible_enums() {
        let fine_tuning = json!({"properties": {"jobType": "FineTuning"}});
        assert!(check("JobBase", &fine_tuning).is_err());
        assert!(check_for_version("JobBase", &fine_tuning, true).is_ok());
        let bad_mode = json!({"properties": {"jobType": "Command", "command": "c", "environmentId": "e",
            "inputs": {"t": {"jobInputType": "mltable", "uri": "u", "mode": "Teleport"}}}});
        assert!(check_for_version("JobBase", &bad_mode, false).is_err());
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let error = check("JobBase", &json!({"properties": {"jobType": "Teleport"}})).unwrap_err();
        assert!(
            error.message.contains("expected one of"),
            "{}",
            error.message
        );
        assert!(error.message.contains("Command"), "{}", error.message);
        let error =
            check("CodeVersion", &json!({"properties": {"isAnonymous": "no"}})).unwrap_err();
        assert_eq!(
            error.message,
            "`properties.isAnonymous` must be a boolean, not a string"
        );
        let error = check(
            "CodeVersion",
            &json!({"properties": {"description": ["a"]}}),
        )
        .unwrap_err();
        assert_eq!(
            error.message,
            "`properties.description` must be a string, not an array"
        );
    }
}
