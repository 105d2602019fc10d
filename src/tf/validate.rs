//! Validators: small composable checks of an attribute's known configuration value.

use std::fmt::Display;

use super::diag::Diagnostics;
use super::path::AttributePath;
use super::value::Value;

/// What a validator looks at.
pub struct ValidateRequest<'a> {
    /// Where the value is.
    pub path: &'a AttributePath,
    /// The value: known and not null (validators are not called otherwise).
    pub value: &'a Value,
    /// The whole configuration object, for checks across attributes.
    pub config: &'a Value,
}

/// A check of one attribute's configuration value.
pub trait Validator: Send + Sync {
    /// What it checks, in words (for docs).
    fn description(&self) -> String;
    /// Adds diagnostics when the value is not acceptable.
    fn validate(&self, req: &ValidateRequest<'_>, diags: &mut Diagnostics);
}

struct FnValidator<F> {
    description: String,
    check: F,
}

impl<F> Validator for FnValidator<F>
where
    F: Fn(&ValidateRequest<'_>, &mut Diagnostics) + Send + Sync,
{
    fn description(&self) -> String {
        self.description.clone()
    }

    fn validate(&self, req: &ValidateRequest<'_>, diags: &mut Diagnostics) {
        (self.check)(req, diags);
    }
}

/// A validator from a closure.
pub fn from_fn<F>(description: impl Into<String>, check: F) -> impl Validator
where
    F: Fn(&ValidateRequest<'_>, &mut Diagnostics) + Send + Sync + 'static,
{
    FnValidator {
        description: description.into(),
        check,
    }
}

fn invalid(req: &ValidateRequest<'_>, diags: &mut Diagnostics, detail: impl Display) {
    diags.error_at(
        req.path.clone(),
        "Invalid attribute value",
        format!("{}: {detail}", req.path),
    );
}

/// The string must be one of `allowed`.
pub fn one_of(allowed: &[&str]) -> impl Validator {
    let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
    let description = format!("one of {}", quoted_list(&allowed));
    from_fn(description.clone(), move |req, diags| {
        if let Some(s) = req.value.as_str() {
            if !allowed.iter().any(|a| a == s) {
                invalid(req, diags, format!("{s:?} is not {description}"));
            }
        }
    })
}

/// The string's length, in characters, must be within `min..=max`.
pub fn string_length_between(min: usize, max: usize) -> impl Validator {
    from_fn(
        format!("between {min} and {max} characters"),
        move |req, diags| {
            if let Some(s) = req.value.as_str() {
                let n = s.chars().count();
                if n < min || n > max {
                    invalid(
                        req,
                        diags,
                        format!("length {n} is not between {min} and {max}"),
                    );
                }
            }
        },
    )
}

/// The number must be a whole number within `min..=max`.
pub fn int_between(min: i64, max: i64) -> impl Validator {
    from_fn(
        format!("a whole number from {min} to {max}"),
        move |req, diags| {
            if let Some(n) = req.value.as_number() {
                match n.as_i64() {
                    Some(i) if (min..=max).contains(&i) => {}
                    Some(i) => invalid(req, diags, format!("{i} is not between {min} and {max}")),
                    None => invalid(req, diags, format!("{n} is not a whole number")),
                }
            }
        },
    )
}

/// The number must be a whole number of at least `min`.
pub fn int_at_least(min: i64) -> impl Validator {
    from_fn(
        format!("a whole number of at least {min}"),
        move |req, diags| {
            if let Some(n) = req.value.as_number() {
                match n.as_i64() {
                    Some(i) if i >= min => {}
                    Some(i) => invalid(req, diags, format!("{i} is less than {min}")),
                    None => invalid(req, diags, format!("{n} is not a whole number")),
                }
            }
        },
    )
}

/// This attribute must not be set together with any of the attributes at `others`
/// (paths from the root of the same configuration).
pub fn conflicts_with(others: Vec<AttributePath>) -> impl Validator {
    let names: Vec<String> = others.iter().map(ToString::to_string).collect();
    from_fn(
        format!("conflicts with {}", names.join(", ")),
        move |req, diags| {
            for other in &others {
                if req.config.at(other).is_some_and(|v| !v.is_null()) {
                    diags.error_at(
                        req.path.clone(),
                        "Conflicting attributes",
                        format!("{} cannot be set together with {other}", req.path),
                    );
                }
            }
        },
    )
}

/// Applies `inner` to every known, non-null element of a list, tuple, set or map (its
/// values), each at its own path (set elements at the set's path: they have no address).
pub fn each_element(inner: impl Validator + 'static) -> impl Validator {
    from_fn(
        format!("each element: {}", inner.description()),
        move |req, diags| {
            let mut check = |path: AttributePath, value: &Value| {
                if value.is_known() && !value.is_null() {
                    let config = req.config;
                    inner.validate(
                        &ValidateRequest {
                            path: &path,
                            value,
                            config,
                        },
                        diags,
                    );
                }
            };
            match req.value.unwrap_dynamic() {
                Value::List(elems) | Value::Tuple(elems) => {
                    for (i, v) in elems.iter().enumerate() {
                        check(req.path.clone().index(i as i64), v);
                    }
                }
                Value::Set(elems) => elems.iter().for_each(|v| check(req.path.clone(), v)),
                Value::Map(entries) => {
                    for (k, v) in entries {
                        check(req.path.clone().key(k), v);
                    }
                }
                _ => {}
            }
        },
    )
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: &dyn Validator, value: Value) -> Diagnostics {
        let path = AttributePath::new("x");
        let config = Value::object([("x", value.clone()), ("y", Value::string("set"))]);
        let mut diags = Diagnostics::new();
        v.validate(
            &ValidateRequest {
                path: &path,
                value: &value,
                config: &config,
            },
            &mut diags,
        );
        diags
    }

    #[test]
    fn one_of_accepts_listed_values_and_names_the_attribute_otherwise() {
        let v = one_of(&["port-forward", "direct"]);
        assert!(run(&v, "direct".into()).is_empty());
        let diags = run(&v, "tunnel".into());
        assert!(diags.has_errors());
        let d = diags.iter().next().expect("one diagnostic");
        assert_eq!(d.path, Some(AttributePath::new("x")));
        assert!(d.detail.contains("\"tunnel\""));
    }

    #[test]
    fn number_and_length_bounds_are_checked() {
        assert!(run(&int_between(1, 5), Value::int(3)).is_empty());
        assert!(run(&int_between(1, 5), Value::int(0)).has_errors());
        assert!(run(
            &int_at_least(1),
            Value::Number(super::super::value::Number::Float(1.5))
        )
        .has_errors());
        assert!(run(&string_length_between(1, 3), "abcd".into()).has_errors());
        assert!(run(&string_length_between(1, 3), "abc".into()).is_empty());
    }

    #[test]
    fn each_element_checks_every_element_at_its_own_path() {
        let v = each_element(string_length_between(1, 2));
        let diags = run(
            &v,
            Value::List(vec!["ok".into(), "too long".into(), Value::unknown()]),
        );
        let paths: Vec<String> = diags
            .iter()
            .filter_map(|d| d.path.as_ref().map(ToString::to_string))
            .collect();
        assert_eq!(paths, ["x[1]"]);
        let map = Value::Map([("k".to_owned(), Value::string("long"))].into());
        let paths: Vec<String> = run(&v, map)
            .iter()
            .filter_map(|d| d.path.as_ref().map(ToString::to_string))
            .collect();
        assert_eq!(paths, ["x[\"k\"]"]);
    }

    #[test]
    fn conflicting_attributes_are_reported() {
        let v = conflicts_with(vec![AttributePath::new("y")]);
        assert!(run(&v, "a".into()).has_errors());
        let v = conflicts_with(vec![AttributePath::new("z")]);
        assert!(run(&v, "a".into()).is_empty());
    }
}
