//! Responses, and the ARM error body every failure uses.
//!
//! ARM errors have one shape (`ErrorResponse` of the common types):
//! `{"error": {"code", "message", "target"?, "details": [...]}}`. Clients match on the HTTP
//! status first and the code second, so both follow what Azure returns for the same case.

use serde_json::{Value, json};

use crate::backend::BackendError;

/// An answer to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// An ARM error.
    pub fn error(status: u16, error: ArmError) -> Self {
        Reply::json(status, json!({ "error": error.to_value() }))
    }

    /// The most common error: a status, a code and a message.
    pub fn fail(status: u16, code: &str, message: impl Into<String>) -> Self {
        Reply::error(status, ArmError::new(code, message))
    }

    /// 404 for an object of the workspace that does not exist, as Azure ML words it.
    pub fn not_found(what: &str) -> Self {
        Reply::error(
            404,
            ArmError::new("UserError", format!("{what} could not be found"))
                .detail(ArmError::new("NotFound", format!("{what} not found"))),
        )
    }

    /// 400 for a request body that does not match the REST API's definitions.
    pub fn invalid_body(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Reply::error(
            400,
            ArmError::new("UserError", message.clone())
                .target(field)
                .detail(ArmError::new("ValidationError", message).target(field)),
        )
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl From<BackendError> for Reply {
    fn from(error: BackendError) -> Self {
        match error {
            BackendError::Api {
                status,
                code,
                message,
                ..
            } => Reply::fail(status, &code, message),
            other => {
                tracing::warn!(error = %other, "emulator request failed");
                Reply::fail(500, "InternalServerError", other.to_string())
            }
        }
    }
}

/// One ARM error (or one of its details).
#[derive(Clone, Debug, PartialEq)]
pub struct ArmError {
    pub code: String,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<ArmError>,
}

impl ArmError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ArmError {
            code: code.to_owned(),
            message: message.into(),
            target: None,
            details: Vec::new(),
        }
    }

    pub fn target(mut self, target: &str) -> Self {
        self.target = Some(target.to_owned());
        self
    }

    pub fn detail(mut self, detail: ArmError) -> Self {
        self.details.push(detail);
        self
    }

    pub fn to_value(&self) -> Value {
        let mut value = json!({"code": self.code, "message": self.message});
        if let Some(target) = &self.target {
            value["target"] = json!(target);
        }
        if !self.details.is_empty() {
            value["details"] = Value::Array(self.details.iter().map(Self::to_value).collect());
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_the_arm_shape() {
        let reply = Reply::invalid_body("properties.command", "`properties.command` is required");
        assert_eq!(reply.status, 400);
        let body = reply.body.unwrap();
        assert_eq!(body["error"]["code"], "UserError");
        assert_eq!(body["error"]["target"], "properties.command");
        assert_eq!(body["error"]["details"][0]["code"], "ValidationError");

        let from_store: Reply = BackendError::api("PUT", "data/x", 409, "UserError", "no").into();
        assert_eq!(from_store.status, 409);
        assert_eq!(
            from_store.body.unwrap(),
            json!({"error": {"code": "UserError", "message": "no"}})
        );
    }
}
