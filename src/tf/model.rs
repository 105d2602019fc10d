//! Typed access to values: [`FromValue`] and [`IntoValue`] turn attributes into Rust types
//! and back, with diagnostics that name the attribute path.

use std::collections::BTreeMap;

use super::diag::Diagnostic;
use super::path::AttributePath;
use super::value::{Number, Value};

/// Reads a Rust value from a Terraform value.
pub trait FromValue: Sized {
    /// Reads `value`, found at `path`. Null is an error unless the type is an `Option`;
    /// unknown is always an error (plan-time code that expects unknowns reads [`Value`]).
    fn from_value(value: &Value, path: &AttributePath) -> Result<Self, Diagnostic>;
}

/// Turns a Rust value into a Terraform value.
pub trait IntoValue {
    /// The Terraform value.
    fn into_value(self) -> Value;
}

fn wrong(path: &AttributePath, expected: &str, value: &Value) -> Diagnostic {
    let (summary, detail) = match value {
        Value::Null => (
            "Missing value",
            format!("{path} must be set to {expected}."),
        ),
        Value::Unknown(_) => (
            "Value not known yet",
            format!("{path} is known only after apply, and a known {expected} is needed here."),
        ),
        _ => ("Wrong type of value", format!("{path} must be {expected}.")),
    };
    Diagnostic::error(summary, detail).at(path.clone())
}

impl FromValue for Value {
    fn from_value(value: &Value, _: &AttributePath) -> Result<Self, Diagnostic> {
        Ok(value.clone())
    }
}

impl FromValue for String {
    fn from_value(value: &Value, path: &AttributePath) -> Result<Self, Diagnostic> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| wrong(path, "a string", value))
    }
}

impl FromValue for bool {
    fn from_value(value: &Value, path: &AttributePath) -> Result<Self, Diagnostic> {
        value.as_bool().ok_or_else(|| wrong(path, "a bool", value))
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value, path: &AttributePath) -> Result<Self, Diagnostic> {
        value
            .as_i64()
            .ok_or_else(|| wrong(path, "a whole number", value))
    }
}

impl FromValue for u32 {
    fn from_value(value: &Value, path: &AttributePath) -> Result<Self, Diagnostic> {
        value
            .as_i64()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| wrong(path, "a whole number from 0 to 4294967295", value))
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value, path: &AttributePath) -> Result<Self, Diagnostic> {
        value
            .as_number()
            .and_then(Number::as_f64)
            .ok_or_else(|| wrong(path, "a number", value))
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value, path: &AttributePath) -> Result<Self, Diagnostic> {
        if value.is_null() {
            Ok(None)
        } else {
            T::from_value(value, path).map(Some)
        }
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(value: &Value, path: &AttributePath) -> Result<Self, Diagnostic> {
        let elems = value
            .as_elements()
            .ok_or_else(|| wrong(path, "a list", value))?;
        elems
            .iter()
            .enumerate()
            .map(|(i, v)| T::from_value(v, &path.clone().index(i as i64)))
            .collect()
    }
}

impl<T: FromValue> FromValue for BTreeMap<String, T> {
    fn from_value(value: &Value, path: &AttributePath) -> Result<Self, Diagnostic> {
        let entries = value
            .as_entries()
            .ok_or_else(|| wrong(path, "a map", value))?;
        entries
            .iter()
            .map(|(k, v)| Ok((k.clone(), T::from_value(v, &path.clone().key(k))?)))
            .collect()
    }
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::String(self)
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::String(self.to_owned())
    }
}

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

impl IntoValue for i64 {
    fn into_value(self) -> Value {
        Value::int(self)
    }
}

impl IntoValue for u32 {
    fn into_value(self) -> Value {
        Value::int(i64::from(self))
    }
}

impl IntoValue for f64 {
    fn into_value(self) -> Value {
        Value::Number(Number::Float(self))
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, IntoValue::into_value)
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    /// A list (build a [`Value::Set`] by hand for set attributes).
    fn into_value(self) -> Value {
        Value::List(self.into_iter().map(IntoValue::into_value).collect())
    }
}

impl<T: IntoValue> IntoValue for BTreeMap<String, T> {
    fn into_value(self) -> Value {
        Value::Map(self.into_iter().map(|(k, v)| (k, v.into_value())).collect())
    }
}

impl Value {
    /// Reads the attribute `name` of this object (found at `path`) as a `T`.
    pub fn get<T: FromValue>(&self, path: &AttributePath, name: &str) -> Result<T, Diagnostic> {
        T::from_value(self.attribute(name), &path.clone().attribute(name))
    }

    /// Sets the attribute `name` of this object; does nothing to a non-object.
    pub fn set(&mut self, name: &str, value: impl IntoValue) {
        if let Value::Object(m) = self {
            m.insert(name.to_owned(), value.into_value());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_read_into_rust_types_and_back() {
        let mut obj = Value::object([
            ("name", Value::string("cache")),
            ("replicas", Value::int(3)),
            ("args", Value::List(vec!["a".into()])),
            (
                "labels",
                Value::Map([("app".to_owned(), Value::string("redis"))].into()),
            ),
            ("image", Value::Null),
        ]);
        let root = AttributePath::root();
        assert_eq!(obj.get::<String>(&root, "name"), Ok("cache".to_owned()));
        assert_eq!(obj.get::<u32>(&root, "replicas"), Ok(3));
        assert_eq!(
            obj.get::<Vec<String>>(&root, "args"),
            Ok(vec!["a".to_owned()])
        );
        let labels: BTreeMap<String, String> = obj.get(&root, "labels").expect("map");
        assert_eq!(labels["app"], "redis");
        assert_eq!(obj.get::<Option<String>>(&root, "image"), Ok(None));
        obj.set("image", "redis:7");
        assert_eq!(
            obj.get::<Option<String>>(&root, "image"),
            Ok(Some("redis:7".to_owned()))
        );
    }

    #[test]
    fn missing_unknown_and_mistyped_values_are_diagnostics_at_their_path() {
        let obj = Value::object([
            ("a", Value::Null),
            ("b", Value::unknown()),
            ("c", Value::List(vec![Value::Bool(true)])),
        ]);
        let root = AttributePath::new("spec");
        let e = obj.get::<String>(&root, "a").expect_err("null");
        assert_eq!(
            (e.summary.as_str(), e.path.map(|p| p.to_string())),
            ("Missing value", Some("spec.a".to_owned()))
        );
        let e = obj.get::<String>(&root, "b").expect_err("unknown");
        assert_eq!(e.summary, "Value not known yet");
        let e = obj.get::<Vec<String>>(&root, "c").expect_err("mistyped");
        assert_eq!(e.path.map(|p| p.to_string()), Some("spec.c[0]".to_owned()));
        assert!(obj.get::<u32>(&root, "a").is_err());
        assert!(Value::int(-1).attribute("x").is_null());
    }
}
