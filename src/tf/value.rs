//! Terraform values: known, null, unknown (with refinements) and the accessors the resources use.

use std::collections::BTreeMap;
use std::fmt;

use super::path::{AttributePath, PathStep};
use super::types::Type;

/// A cty number. Terraform numbers have arbitrary precision; most fit an `i64` or `f64`,
/// the rest are kept as their decimal text.
#[derive(Clone, Debug, PartialEq)]
pub enum Number {
    /// A whole number that fits in 64 bits.
    Int(i64),
    /// A binary floating point number.
    Float(f64),
    /// Any other number, as decimal text (e.g. larger than 64 bits).
    Big(String),
}

impl Number {
    /// The number as an `i64`, when it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Number::Float(_) => None,
            Number::Big(s) => s.parse().ok(),
        }
    }

    /// The number as an `f64` (possibly rounded).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Number::Int(i) => Some(*i as f64),
            Number::Float(f) => Some(*f),
            Number::Big(s) => s.parse().ok(),
        }
    }

    /// Parses decimal number text as Terraform writes it.
    pub fn parse(text: &str) -> Option<Number> {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Number::Int(i));
        }
        let looks_numeric = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
        if !looks_numeric {
            return None;
        }
        let f: f64 = text.parse().ok()?;
        if !f.is_finite() {
            return None;
        }
        if text.contains(['.', 'e', 'E']) && f.to_string().parse::<f64>().ok() == Some(f) {
            Some(Number::Float(f))
        } else {
            Some(Number::Big(text.to_owned()))
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
            Number::Big(s) => f.write_str(s),
        }
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number::Int(i)
    }
}

/// What Terraform knows about a value that is not known yet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Refinements {
    /// The value will not be null.
    pub not_null: bool,
    /// A string value will start with this prefix.
    pub string_prefix: Option<String>,
    /// A number will be at least (or above, when not inclusive) this bound.
    pub number_lower: Option<(Number, bool)>,
    /// A number will be at most (or below, when not inclusive) this bound.
    pub number_upper: Option<(Number, bool)>,
    /// A collection will have at least this many elements.
    pub length_lower: Option<u64>,
    /// A collection will have at most this many elements.
    pub length_upper: Option<u64>,
}

impl Refinements {
    /// No refinement at all: a wholly unknown value.
    pub fn is_empty(&self) -> bool {
        *self == Refinements::default()
    }
}

/// A Terraform value. Its type comes from the schema it is read with; only values in
/// `dynamic` positions carry their own type ([`Value::Dynamic`]).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// The null value of whatever type the position has.
    #[default]
    Null,
    /// A value known only after apply, with what Terraform knows about it.
    Unknown(Refinements),
    /// A known bool.
    Bool(bool),
    /// A known number.
    Number(Number),
    /// A known string.
    String(String),
    /// A list, in order.
    List(Vec<Value>),
    /// A set; the order carries no meaning.
    Set(Vec<Value>),
    /// A map with string keys.
    Map(BTreeMap<String, Value>),
    /// An object: every attribute of its type, by name.
    Object(BTreeMap<String, Value>),
    /// A tuple, in order.
    Tuple(Vec<Value>),
    /// A known or null value in a `dynamic` position, with its concrete type.
    Dynamic(Type, Box<Value>),
}

impl Value {
    /// A wholly unknown value.
    pub fn unknown() -> Self {
        Value::Unknown(Refinements::default())
    }

    /// A known string.
    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    /// A known whole number.
    pub fn int(i: i64) -> Self {
        Value::Number(Number::Int(i))
    }

    /// An object from name/value pairs.
    pub fn object<I, S>(attributes: I) -> Self
    where
        I: IntoIterator<Item = (S, Value)>,
        S: Into<String>,
    {
        Value::Object(attributes.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Whether this is null (also a typed null in a dynamic position).
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Dynamic(_, inner) => inner.is_null(),
            _ => false,
        }
    }

    /// Whether this value itself is known (its elements may still be unknown).
    pub fn is_known(&self) -> bool {
        !matches!(self, Value::Unknown(_))
    }

    /// Whether this value and everything inside it is known.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown(_) => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, inner) => inner.is_wholly_known(),
            _ => true,
        }
    }

    /// The value without a dynamic wrapper.
    pub fn unwrap_dynamic(&self) -> &Value {
        match self {
            Value::Dynamic(_, inner) => inner.unwrap_dynamic(),
            other => other,
        }
    }

    /// A known string's text.
    pub fn as_str(&self) -> Option<&str> {
        match self.unwrap_dynamic() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A known bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self.unwrap_dynamic() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A known number.
    pub fn as_number(&self) -> Option<&Number> {
        match self.unwrap_dynamic() {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// A known whole number.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// Elements of a known list, set or tuple.
    pub fn as_elements(&self) -> Option<&[Value]> {
        match self.unwrap_dynamic() {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Entries of a known map or the attributes of a known object.
    pub fn as_entries(&self) -> Option<&BTreeMap<String, Value>> {
        match self.unwrap_dynamic() {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// An attribute of a known object; `Null` when the object is null or lacks it.
    pub fn attribute(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self.unwrap_dynamic() {
            Value::Object(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// The value at `path`, when every step exists.
    pub fn at(&self, path: &AttributePath) -> Option<&Value> {
        let mut current = self;
        for step in path.steps() {
            current = match (current.unwrap_dynamic(), step) {
                (Value::Object(m), PathStep::Attribute(name)) => m.get(name)?,
                (Value::Map(m), PathStep::Key(key)) => m.get(key)?,
                (Value::List(v) | Value::Tuple(v) | Value::Set(v), PathStep::Index(i)) => {
                    v.get(usize::try_from(*i).ok()?)?
                }
                _ => return None,
            };
        }
        Some(current)
    }

    /// A mutable reference to the value at `path`, when every step exists.
    pub fn at_mut(&mut self, path: &AttributePath) -> Option<&mut Value> {
        let mut current = self;
        for step in path.steps() {
            if let Value::Dynamic(_, inner) = current {
                current = inner.as_mut();
            }
            current = match (current, step) {
                (Value::Object(m), PathStep::Attribute(name)) => m.get_mut(name)?,
                (Value::Map(m), PathStep::Key(key)) => m.get_mut(key)?,
                (Value::List(v) | Value::Tuple(v) | Value::Set(v), PathStep::Index(i)) => {
                    v.get_mut(usize::try_from(*i).ok()?)?
                }
                _ => return None,
            };
        }
        Some(current)
    }

    /// Semantic equality: sets compare without regard to order.
    pub fn semantically_equal(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Set(a), Value::Set(b)) => {
                a.len() == b.len()
                    && a.iter().all(|x| b.iter().any(|y| x.semantically_equal(y)))
                    && b.iter().all(|y| a.iter().any(|x| x.semantically_equal(y)))
            }
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.semantically_equal(y))
            }
            (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, x)| b.get(k).is_some_and(|y| x.semantically_equal(y)))
            }
            (Value::Dynamic(ta, a), Value::Dynamic(tb, b)) => ta == tb && a.semantically_equal(b),
            (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => a == b || (a.as_f64().is_some() && a.as_f64() == b.as_f64()),
            },
            (a, b) => a == b,
        }
    }

    /// The null value shaped as an object with every attribute of `ty` null.
    pub fn null_object_of(ty: &Type) -> Value {
        match ty {
            Type::Object { attributes, .. } => Value::Object(
                attributes
                    .keys()
                    .map(|k| (k.clone(), Value::Null))
                    .collect(),
            ),
            _ => Value::Null,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::int(i)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_into_the_narrowest_exact_form() {
        assert_eq!(Number::parse("42"), Some(Number::Int(42)));
        assert_eq!(Number::parse("1.5"), Some(Number::Float(1.5)));
        assert_eq!(
            Number::parse("123456789012345678901234567890"),
            Some(Number::Big("123456789012345678901234567890".to_owned()))
        );
        assert_eq!(Number::parse("12abc"), None);
        assert_eq!(Number::parse("NaN"), None);
    }

    #[test]
    fn sets_are_equal_whatever_their_order() {
        let a = Value::Set(vec!["x".into(), "y".into()]);
        let b = Value::Set(vec!["y".into(), "x".into()]);
        assert!(a.semantically_equal(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn paths_reach_nested_values() {
        let v = Value::object([(
            "kubernetes",
            Value::object([("args", Value::List(vec!["a".into(), "b".into()]))]),
        )]);
        let path = AttributePath::new("kubernetes").attribute("args").index(1);
        assert_eq!(v.at(&path).and_then(Value::as_str), Some("b"));
        assert_eq!(v.at(&AttributePath::new("nope")), None);
    }
}
