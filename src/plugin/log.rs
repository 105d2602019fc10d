//! Logging to stderr with Terraform's TF_LOG / TF_LOG_PROVIDER levels; stdout stays clean.
//!
//! Lines start with `[LEVEL]`, which go-plugin on the Terraform side reads as the level.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// `[DEBUG] target: message key=value`, the line shape go-plugin understands.
struct LevelPrefixed;

impl<S, N> FormatEvent<S, N> for LevelPrefixed
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::TRACE => "TRACE",
            Level::DEBUG => "DEBUG",
            Level::INFO => "INFO",
            Level::WARN => "WARN",
            Level::ERROR => "ERROR",
        };
        write!(writer, "[{level}] {}: ", event.metadata().target())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The filter for a TF_LOG-style level (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `JSON`,
/// `OFF`); unset or unknown gives `warn`.
pub fn filter_for(level: Option<&str>) -> EnvFilter {
    let directive = match level.map(|l| l.trim().to_ascii_uppercase()).as_deref() {
        Some("TRACE" | "JSON") => "trace",
        Some("DEBUG") => "debug",
        Some("INFO") => "info",
        Some("ERROR") => "error",
        Some("OFF") => "off",
        _ => "warn",
    };
    // Our own crate at the chosen level; the libraries under it (h2, rustls...) quieter.
    let deps = match directive {
        "trace" => "debug",
        "debug" | "info" => "warn",
        other => other,
    };
    EnvFilter::new(format!("{deps},terraform_provider_redis={directive}"))
}

/// Installs the stderr logger once, from TF_LOG_PROVIDER or else TF_LOG.
pub fn init() {
    let level = std::env::var("TF_LOG_PROVIDER")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var("TF_LOG").ok());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter_for(level.as_deref()))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(LevelPrefixed)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_log_levels_map_to_filters() {
        assert_eq!(
            filter_for(Some("TRACE")).to_string(),
            "terraform_provider_redis=trace,debug"
        );
        assert_eq!(
            filter_for(Some("debug")).to_string(),
            "terraform_provider_redis=debug,warn"
        );
        assert_eq!(
            filter_for(None).to_string(),
            "terraform_provider_redis=warn,warn"
        );
        assert_eq!(
            filter_for(Some("OFF")).to_string(),
            "terraform_provider_redis=off,off"
        );
    }
}
