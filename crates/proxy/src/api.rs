//! Toxiproxy 2.x's API as data: request bodies, the shapes it prints, and its errors with
//! their status codes and texts. Pure; `server` serves it.

use serde_json::Value;

/// An error as Toxiproxy reports it: `{"error": MESSAGE, "status": CODE}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub message: String,
    pub status: u16,
}

impl ApiError {
    pub fn new(message: impl Into<String>, status: u16) -> ApiError {
        ApiError {
            message: message.into(),
            status,
        }
    }
    pub fn bad_body(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(format!("bad request body: {detail}"), 400)
    }
    pub fn missing(field: &str) -> ApiError {
        ApiError::new(format!("missing required field: {field}"), 400)
    }
    pub fn proxy_not_found() -> ApiError {
        ApiError::new("proxy not found", 404)
    }
    pub fn proxy_exists() -> ApiError {
        ApiError::new("proxy already exists", 409)
    }
    pub fn toxic_not_found() -> ApiError {
        ApiError::new("toxic not found", 404)
    }
    pub fn toxic_exists() -> ApiError {
        ApiError::new("toxic already exists", 409)
    }
    /// The body Toxiproxy writes, newline included (Go's http.Error adds it).
    pub fn body(&self) -> String {
        format!(
            "{}\n",
            serde_json::json!({"error": self.message, "status": self.status})
        )
    }
}

impl From<crate::toxics::ToxicError> for ApiError {
    fn from(e: crate::toxics::ToxicError) -> ApiError {
        ApiError::new(e.to_string(), 400)
    }
}

/// A proxy as a request gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInput {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: Option<bool>,
}

fn field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    k: &str,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_body(format!(
            "json: cannot unmarshal into Go struct field Proxy.{k} of type string"
        ))),
    }
}

impl ProxyInput {
    /// Reads a proxy object; `name` and `upstream` may be empty here, checked by the caller
    /// (creation needs them, an update does not).
    pub fn from_json(v: &Value) -> Result<ProxyInput, ApiError> {
        let obj = v.as_object().ok_or_else(|| {
            ApiError::bad_body("json: cannot unmarshal into Go value of type Proxy")
        })?;
        let enabled = match obj.get("enabled") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(ApiError::bad_body(
                    "json: cannot unmarshal into Go struct field Proxy.enabled of type bool",
                ));
            }
        };
        Ok(ProxyInput {
            name: field(obj, "name")?.unwrap_or_default().to_string(),
            listen: field(obj, "listen")?.unwrap_or_default().to_string(),
            upstream: field(obj, "upstream")?.unwrap_or_default().to_string(),
            enabled,
        })
    }

    /// A body for POST /proxies: name and upstream are required.
    pub fn for_create(v: &Value) -> Result<ProxyInput, ApiError> {
        let p = ProxyInput::from_json(v)?;
        if p.name.is_empty() {
            return Err(ApiError::missing("name"));
        }
        if p.upstream.is_empty() {
            return Err(ApiError::missing("upstream"));
        }
        Ok(p)
    }

    /// The body of POST /populate (or a `--config` file): a list, every entry checked before
    /// anything changes.
    pub fn list(v: &Value) -> Result<Vec<ProxyInput>, ApiError> {
        let arr = v.as_array().ok_or_else(|| {
            ApiError::bad_body("json: cannot unmarshal object into Go value of type []Proxy")
        })?;
        let mut out = Vec::new();
        for (i, p) in arr.iter().enumerate() {
            let p = ProxyInput::from_json(p)?;
            if p.name.is_empty() {
                return Err(ApiError::missing(&format!("name at proxy {}", i + 1)));
            }
            if p.upstream.is_empty() {
                return Err(ApiError::missing(&format!("upstream at proxy {}", i + 1)));
            }
            out.push(p);
        }
        Ok(out)
    }
}

/// The version /version reports: the Toxiproxy API level served, with this program's own
/// version as build metadata.
pub fn version() -> String {
    format!("2.12.0+tcpmortem.{}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_read_as_toxiproxy_writes_them() {
        assert_eq!(
            ApiError::proxy_exists().body(),
            "{\"error\":\"proxy already exists\",\"status\":409}\n"
        );
        assert_eq!(
            ProxyInput::for_create(&json!({"name": "x"})).unwrap_err(),
            ApiError::new("missing required field: upstream", 400)
        );
        assert_eq!(
            ProxyInput::list(&json!([{"name": "a", "upstream": "b"}, {"upstream": "c"}]))
                .unwrap_err()
                .message,
            "missing required field: name at proxy 2"
        );
    }
}
