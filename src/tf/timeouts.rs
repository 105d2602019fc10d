//! Timeouts: the `timeouts { create = "10m" ... }` block and Go-style duration parsing.

use std::time::Duration;

use super::diag::Diagnostics;
use super::schema::{Attribute, Block, BlockNesting, NestedBlock};
use super::validate;
use super::value::Value;

/// A duration string that is not like `"30s"`, `"5m"` or `"1h30m"`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a duration like \"30s\", \"5m\" or \"1h30m\"")]
pub struct DurationError(String);

/// The name of the block.
pub const BLOCK: &str = "timeouts";

/// The `timeouts` block with one optional duration attribute per operation.
pub fn block(operations: &[&str]) -> NestedBlock {
    let mut b = Block::new(
        "How long each operation may take, as durations like `\"30s\"`, `\"10m\"` or `\"1h\"`.",
    );
    for op in operations {
        b = b.attribute(
            Attribute::string(*op)
                .optional()
                .description(format!("How long `{op}` may take, e.g. `\"10m\"`."))
                .validator(validate::from_fn(
                    "a duration such as \"10m\"",
                    |req, diags: &mut Diagnostics| {
                        if let Some(s) = req.value.as_str() {
                            if let Err(e) = parse_duration(s) {
                                diags.error_at(req.path.clone(), "Invalid duration", e.to_string());
                            }
                        }
                    },
                )),
        );
    }
    NestedBlock::new(BLOCK, BlockNesting::Single, b)
}

/// The timeout of `operation` from a resource object holding a `timeouts` block,
/// or `default` when unset or unparsable (validation reports the latter earlier).
pub fn get(resource: &Value, operation: &str, default: Duration) -> Duration {
    resource
        .attribute(BLOCK)
        .attribute(operation)
        .as_str()
        .and_then(|s| parse_duration(s).ok())
        .unwrap_or(default)
}

/// Parses a Go-style duration: a sequence of numbers with units `ns`, `us`, `ms`, `s`, `m`, `h`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError(text.to_owned());
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "m", "5 m", "3d", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeouts_fall_back_to_the_default() {
        let resource = Value::object([(
            "timeouts",
            Value::object([("create", Value::string("2m")), ("delete", Value::Null)]),
        )]);
        assert_eq!(
            get(&resource, "create", Duration::from_secs(1)),
            Duration::from_secs(120)
        );
        assert_eq!(
            get(&resource, "delete", Duration::from_secs(7)),
            Duration::from_secs(7)
        );
        assert_eq!(
            get(&Value::Null, "update", Duration::from_secs(9)),
            Duration::from_secs(9)
        );
    }
}
