//! cty types and their JSON encoding, as Terraform writes them in schemas and dynamic values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value as Json;

/// An error reading a cty type from its JSON form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeError {
    /// The bytes are not JSON.
    #[error("type is not valid json: {0}")]
    Json(String),
    /// The JSON is not a cty type.
    #[error("invalid type specification: {0}")]
    Invalid(String),
}

/// A cty type: every type Terraform's type system has.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// `bool`
    Bool,
    /// `number` (arbitrary precision in Terraform)
    Number,
    /// `string`
    String,
    /// `dynamic`: any type, chosen by the value itself.
    Dynamic,
    /// `list(T)`
    List(Box<Type>),
    /// `set(T)`
    Set(Box<Type>),
    /// `map(T)`, string keys
    Map(Box<Type>),
    /// `object({...})`, with the names of optional attributes (type constraints only)
    Object {
        /// Attribute types, in name order.
        attributes: BTreeMap<String, Type>,
        /// Attributes marked optional in a type constraint.
        optional: BTreeSet<String>,
    },
    /// `tuple([...])`
    Tuple(Vec<Type>),
}

impl Type {
    /// `list(elem)`.
    pub fn list(elem: Type) -> Self {
        Type::List(Box::new(elem))
    }

    /// `set(elem)`.
    pub fn set(elem: Type) -> Self {
        Type::Set(Box::new(elem))
    }

    /// `map(elem)`.
    pub fn map(elem: Type) -> Self {
        Type::Map(Box::new(elem))
    }

    /// `object({...})` without optional attributes.
    pub fn object<I, S>(attributes: I) -> Self
    where
        I: IntoIterator<Item = (S, Type)>,
        S: Into<String>,
    {
        Type::Object {
            attributes: attributes.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            optional: BTreeSet::new(),
        }
    }

    /// `tuple([...])`.
    pub fn tuple(elems: Vec<Type>) -> Self {
        Type::Tuple(elems)
    }

    /// Whether this is a list, set or map.
    pub fn is_collection(&self) -> bool {
        matches!(self, Type::List(_) | Type::Set(_) | Type::Map(_))
    }

    /// The element type of a list, set or map.
    pub fn element_type(&self) -> Option<&Type> {
        match self {
            Type::List(e) | Type::Set(e) | Type::Map(e) => Some(e),
            _ => None,
        }
    }

    /// The JSON form Terraform uses (`"string"`, `["list","number"]`, ...).
    pub fn to_json(&self) -> Json {
        match self {
            Type::Bool => Json::from("bool"),
            Type::Number => Json::from("number"),
            Type::String => Json::from("string"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(e) => Json::Array(vec![Json::from("list"), e.to_json()]),
            Type::Set(e) => Json::Array(vec![Json::from("set"), e.to_json()]),
            Type::Map(e) => Json::Array(vec![Json::from("map"), e.to_json()]),
            Type::Object {
                attributes,
                optional,
            } => {
                let attrs: serde_json::Map<String, Json> = attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                let mut parts = vec![Json::from("object"), Json::Object(attrs)];
                if !optional.is_empty() {
                    parts.push(Json::Array(
                        optional.iter().map(|s| Json::from(s.as_str())).collect(),
                    ));
                }
                Json::Array(parts)
            }
            Type::Tuple(elems) => Json::Array(vec![
                Json::from("tuple"),
                Json::Array(elems.iter().map(Type::to_json).collect()),
            ]),
        }
    }

    /// The JSON form as bytes, as schema attributes carry it.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// Reads a type from its JSON bytes.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, TypeError> {
        let json: Json =
            serde_json::from_slice(bytes).map_err(|e| TypeError::Json(e.to_string()))?;
        Self::from_json(&json)
    }

    /// Reads a type from its JSON form.
    pub fn from_json(json: &Json) -> Result<Self, TypeError> {
        let invalid = |what: &str| TypeError::Invalid(format!("{what} in {json}"));
        match json {
            Json::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(invalid("unknown primitive type")),
            },
            Json::Array(parts) => {
                let kind = parts
                    .first()
                    .and_then(Json::as_str)
                    .ok_or_else(|| invalid("missing type kind"))?;
                let arg = parts
                    .get(1)
                    .ok_or_else(|| invalid("missing type argument"))?;
                match (kind, parts.len()) {
                    ("list", 2) => Ok(Type::list(Self::from_json(arg)?)),
                    ("set", 2) => Ok(Type::set(Self::from_json(arg)?)),
                    ("map", 2) => Ok(Type::map(Self::from_json(arg)?)),
                    ("tuple", 2) => {
                        let elems = arg
                            .as_array()
                            .ok_or_else(|| invalid("tuple needs a list"))?;
                        Ok(Type::Tuple(
                            elems
                                .iter()
                                .map(Self::from_json)
                                .collect::<Result<_, _>>()?,
                        ))
                    }
                    ("object", 2 | 3) => {
                        let attrs = arg
                            .as_object()
                            .ok_or_else(|| invalid("object needs a map of attributes"))?;
                        let attributes = attrs
                            .iter()
                            .map(|(k, v)| Ok((k.clone(), Self::from_json(v)?)))
                            .collect::<Result<BTreeMap<_, _>, TypeError>>()?;
                        let mut optional = BTreeSet::new();
                        if let Some(opt) = parts.get(2) {
                            let names = opt
                                .as_array()
                                .ok_or_else(|| invalid("optional needs a list"))?;
                            for name in names {
                                let name = name.as_str().ok_or_else(|| invalid("optional name"))?;
                                if !attributes.contains_key(name) {
                                    return Err(invalid("optional attribute not in object"));
                                }
                                optional.insert(name.to_owned());
                            }
                        }
                        Ok(Type::Object {
                            attributes,
                            optional,
                        })
                    }
                    _ => Err(invalid("unknown type kind")),
                }
            }
            _ => Err(invalid("not a type")),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(e) => write!(f, "list({e})"),
            Type::Set(e) => write!(f, "set({e})"),
            Type::Map(e) => write!(f, "map({e})"),
            Type::Object { .. } => f.write_str("object"),
            Type::Tuple(_) => f.write_str("tuple"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_json() {
        let ty = Type::Object {
            attributes: [
                ("a".to_owned(), Type::list(Type::String)),
                ("b".to_owned(), Type::set(Type::Number)),
                ("c".to_owned(), Type::map(Type::Bool)),
                (
                    "d".to_owned(),
                    Type::Tuple(vec![Type::Dynamic, Type::String]),
                ),
                ("e".to_owned(), Type::object([("x", Type::Number)])),
            ]
            .into_iter()
            .collect(),
            optional: ["c".to_owned()].into_iter().collect(),
        };
        let back = Type::from_json_bytes(&ty.to_json_bytes()).expect("decodes");
        assert_eq!(back, ty);
    }

    #[test]
    fn malformed_type_json_is_an_error() {
        for bad in [
            &b"nope"[..],
            b"\"strin\"",
            b"[\"list\"]",
            b"[\"object\", []]",
            b"[\"object\", {}, [\"x\"]]",
            b"42",
        ] {
            assert!(
                Type::from_json_bytes(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
