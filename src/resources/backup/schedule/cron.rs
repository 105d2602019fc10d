//! Plan-time checks of a schedule's timing: cron syntax as the CronJob controller
//! parses it, Go durations, time zones.

/// Checks a cron schedule as the CronJob controller parses it (five fields, or a
/// descriptor); says what is wrong.
pub fn check_cron(text: &str) -> Result<(), String> {
    let t = text.trim();
    if t.starts_with("TZ=") || t.starts_with("CRON_TZ=") {
        return Err(
            "a time zone in the schedule is not accepted by Kubernetes; set time_zone instead"
                .into(),
        );
    }
    if let Some(d) = t.strip_prefix('@') {
        return match d {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            _ if d.starts_with("every ") && is_go_duration(d["every ".len()..].trim()) => Ok(()),
            _ => Err(format!("unknown descriptor @{d} (use @hourly, @daily, @weekly, @monthly, @yearly or five fields)")),
        };
    }
    let fields: Vec<&str> = t.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "{} fields; a schedule has five: minute hour day-of-month month day-of-week",
            fields.len()
        ));
    }
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let specs: [(&str, u32, u32, &[&str], u32); 5] = [
        ("minute", 0, 59, &[], 0),
        ("hour", 0, 23, &[], 0),
        ("day of month", 1, 31, &[], 0),
        ("month", 1, 12, &MONTHS, 1),
        ("day of week", 0, 6, &DAYS, 0),
    ];
    for (field, (what, min, max, names, base)) in fields.iter().zip(specs) {
        check_field(field, min, max, names, base).map_err(|e| format!("{what} {field:?}: {e}"))?;
    }
    Ok(())
}

/// One field: a comma list of `*`/`?`, values or ranges, each with an optional `/step`.
fn check_field(field: &str, min: u32, max: u32, names: &[&str], base: u32) -> Result<(), String> {
    let value = |v: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(i as u32 + base);
        }
        let n: u32 = v.parse().map_err(|_| {
            format!(
                "{v:?} is not a number{}",
                if names.is_empty() { "" } else { " or a name" }
            )
        })?;
        if n < min || n > max {
            return Err(format!("{n} is outside {min}-{max}"));
        }
        Ok(n)
    };
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(s) = step {
            match s.parse::<u32>() {
                Ok(n) if n > 0 => {}
                _ => return Err(format!("step {s:?} must be a number above 0")),
            }
        }
        if range == "*" || range == "?" {
            continue;
        }
        match range.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (value(a)?, value(b)?);
                if a > b {
                    return Err(format!("range {range} begins after it ends"));
                }
            }
            None => {
                value(range)?;
            }
        }
    }
    Ok(())
}

/// A Go duration as `@every` takes it: `90s`, `1h30m`, `1.5h`.
fn is_go_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| rest.starts_with(u))
            .max_by_key(|u| u.len());
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

/// An IANA zone name's shape (`Area/Location`, `UTC`); whether the zone exists is the
/// API server's to say.
pub(super) fn check_time_zone(tz: &str) -> Result<(), String> {
    let ok = !tz.is_empty()
        && !tz.starts_with('/')
        && !tz.ends_with('/')
        && !tz.contains("..")
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{tz:?} is not an IANA time zone name like \"Europe/Berlin\" or \"UTC\""
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_schedules_are_checked_field_by_field_as_the_controller_parses_them() {
        for ok in [
            "0 3 * * *",
            "*/15 * * * *",
            "0 0-23/2 * * MON-FRI",
            "30 4 1,15 JAN,jul ?",
            "5 4 * * sun",
            "@daily",
            "@every 1h30m",
        ] {
            assert_eq!(check_cron(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("0 3 * *", "4 fields"),
            ("60 * * * *", "minute \"60\": 60 is outside 0-59"),
            ("0 24 * * *", "hour \"24\": 24 is outside 0-23"),
            ("0 0 0 * *", "day of month \"0\": 0 is outside 1-31"),
            ("0 0 * 13 *", "month \"13\": 13 is outside 1-12"),
            ("0 0 * * 7", "day of week \"7\": 7 is outside 0-6"),
            ("*/0 * * * *", "step \"0\" must be a number above 0"),
            ("0 5-2 * * *", "range 5-2 begins after it ends"),
            ("0 0 * FOO *", "\"FOO\" is not a number or a name"),
            ("TZ=UTC 0 3 * * *", "set time_zone instead"),
            ("@fortnightly", "unknown descriptor"),
        ] {
            let e = check_cron(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
