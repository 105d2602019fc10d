//! The last finished run of a schedule, read from its Jobs and their pods, and the
//! `last_scheduled_run` value and warning made of it.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use crate::k8s::objects::backup::{RunReport, CONTAINER};
use crate::tf::{AttributePath, Diagnostic, Diagnostics, Value};

use super::{ATTR, LAST_RUN};

/// The last finished run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastRun {
    /// Its Job.
    pub job: String,
    /// `succeeded` or `failed`.
    pub outcome: String,
    /// Start.
    pub started_at: String,
    /// End.
    pub finished_at: String,
    /// What the run reported, if it got to report.
    pub report: Option<RunReport>,
    /// Why it failed (the run's reason, or Kubernetes' when it never reported).
    pub message: String,
}

const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const LEGACY_JOB_NAME_LABEL: &str = "job-name";

/// The Job's finished condition: (`succeeded`/`failed`, time, reason and message).
fn finished(job: &Job) -> Option<(&'static str, String, String)> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find_map(|c| {
        let outcome = match c.type_.as_str() {
            "Complete" => "succeeded",
            "Failed" => "failed",
            _ => return None,
        };
        (c.status == "True").then(|| {
            let when = c
                .last_transition_time
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default();
            let why = [c.reason.clone(), c.message.clone()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            (outcome, when, why)
        })
    })
}

/// The last finished run among a schedule's Jobs and their pods: the finished Job that
/// started last, with the report of its last pod that wrote one.
pub fn last_run(jobs: &[Job], pods: &[Pod]) -> Option<LastRun> {
    let started = |j: &Job| {
        j.status
            .as_ref()
            .and_then(|s| s.start_time.clone())
            .or_else(|| j.metadata.creation_timestamp.clone())
            .map(|t| t.0)
    };
    let job = jobs
        .iter()
        .filter(|j| finished(j).is_some())
        .max_by_key(|j| started(j))?;
    let (outcome, finished_at, why) = finished(job)?;
    let name = job.metadata.name.clone().unwrap_or_default();
    let mut runs: Vec<&Pod> = pods
        .iter()
        .filter(|p| {
            p.metadata.labels.as_ref().is_some_and(|l| {
                l.get(JOB_NAME_LABEL)
                    .or_else(|| l.get(LEGACY_JOB_NAME_LABEL))
                    == Some(&name)
            })
        })
        .collect();
    runs.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    let report = runs.iter().rev().find_map(|p| {
        let status = p.status.as_ref()?.container_statuses.as_ref()?;
        let c = status.iter().find(|c| c.name == CONTAINER)?;
        let message = c.state.as_ref()?.terminated.as_ref()?.message.as_deref()?;
        RunReport::parse(message)
    });
    let message = match &report {
        Some(r) if r.outcome == "failed" && !r.reason.is_empty() => {
            if why.is_empty() {
                r.reason.clone()
            } else {
                format!("{} ({why})", r.reason)
            }
        }
        _ if outcome == "failed" => why,
        _ => String::new(),
    };
    Some(LastRun {
        job: name,
        outcome: outcome.to_string(),
        started_at: started(job).map(|t| t.to_string()).unwrap_or_default(),
        finished_at,
        report,
        message,
    })
}

/// The `last_scheduled_run` value of `run`.
pub fn last_run_value(run: Option<&LastRun>) -> Value {
    let Some(run) = run else {
        return Value::Null;
    };
    let r = run.report.clone().unwrap_or_default();
    let succeeded = run.outcome == "succeeded";
    let text = |s: &str| {
        if s.is_empty() {
            Value::Null
        } else {
            Value::string(s)
        }
    };
    let num = |n: Option<i64>| n.map(Value::int).unwrap_or(Value::Null);
    Value::object([
        ("job", Value::string(run.job.clone())),
        ("outcome", Value::string(run.outcome.clone())),
        ("started_at", text(&run.started_at)),
        ("finished_at", text(&run.finished_at)),
        ("source", text(&r.source)),
        (
            "file",
            if succeeded {
                text(&r.file)
            } else {
                Value::Null
            },
        ),
        (
            "size_bytes",
            if succeeded {
                num(r.size_bytes)
            } else {
                Value::Null
            },
        ),
        (
            "sha256",
            if succeeded {
                text(&r.sha256)
            } else {
                Value::Null
            },
        ),
        ("keys", if succeeded { num(r.keys) } else { Value::Null }),
        ("message", text(&run.message)),
    ])
}

/// A plan warning when the state's last run failed.
pub fn warn_if_failed(state: &Value, diags: &mut Diagnostics) {
    let run = state.attribute(LAST_RUN);
    if run.attribute("outcome").as_str() != Some("failed") {
        return;
    }
    let field = |k: &str| run.attribute(k).as_str().unwrap_or("").to_string();
    let schedule = state.attribute(ATTR);
    let claim = schedule.attribute("name").as_str().map(str::to_owned);
    diags.push(
        Diagnostic::warning(
            "The last scheduled backup failed",
            format!(
                "Job {} (started {}, failed {}): {}. No snapshot was kept from that run; the \
                 earlier ones are unchanged{}. The next run follows the schedule; see the \
                 Job's pods for details.",
                field("job"),
                field("started_at"),
                field("finished_at"),
                if field("message").is_empty() {
                    "no reason given".to_string()
                } else {
                    field("message")
                },
                claim.map(|c| format!(" on claim {c}")).unwrap_or_default(),
            ),
        )
        .at(AttributePath::new(LAST_RUN)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(name: &str, started: &str, condition: Option<(&str, &str)>) -> Job {
        let mut status = json!({"startTime": started});
        if let Some((kind, reason)) = condition {
            status["conditions"] = json!([{"type": kind, "status": "True", "reason": reason,
                "lastTransitionTime": started}]);
        }
        serde_json::from_value(
            json!({"metadata": {"name": name, "creationTimestamp": started}, "status": status}),
        )
        .unwrap()
    }

    fn pod(job: &str, created: &str, message: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{job}-x"), "creationTimestamp": created,
                         "labels": {JOB_NAME_LABEL: job}},
            "status": {"containerStatuses": [{"name": CONTAINER, "image": "", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "message": message}}}]},
        }))
        .unwrap()
    }

    #[test]
    fn the_last_run_is_the_last_finished_job_with_its_pods_report() {
        let jobs = vec![
            job(
                "b-1",
                "2026-12-01T01:00:00Z",
                Some(("Complete", "CompletionsReached")),
            ),
            job(
                "b-2",
                "2026-12-01T02:00:00Z",
                Some(("Failed", "BackoffLimitExceeded")),
            ),
            job("b-3", "2026-12-01T03:00:00Z", None),
        ];
        let pods = vec![
            pod(
                "b-1",
                "2026-12-01T01:00:00Z",
                "outcome=succeeded\nfile=f1.rdb\nsize_bytes=10\nsha256=aa\nkeys=2\nsource=h:6379\n",
            ),
            pod(
                "b-2",
                "2026-12-01T02:00:00Z",
                "outcome=failed\nreason=first try\n",
            ),
            pod(
                "b-2",
                "2026-12-01T02:01:00Z",
                "outcome=failed\nreason=INFO replication answered: WRONGPASS\n",
            ),
        ];
        let run = last_run(&jobs, &pods).unwrap();
        assert_eq!(run.job, "b-2");
        assert_eq!(run.outcome, "failed");
        assert_eq!(
            run.message,
            "INFO replication answered: WRONGPASS (BackoffLimitExceeded)"
        );
        let v = last_run_value(Some(&run));
        assert!(v.attribute("file").is_null());
        let mut state = Value::object([(ATTR, Value::Null), (LAST_RUN, v)]);
        let mut diags = Diagnostics::new();
        warn_if_failed(&state, &mut diags);
        assert_eq!(diags.len(), 1);
        assert!(!diags.has_errors());

        let run = last_run(&jobs[..1], &pods).unwrap();
        let v = last_run_value(Some(&run));
        assert_eq!(v.attribute("file").as_str(), Some("f1.rdb"));
        assert_eq!(v.attribute("size_bytes").as_i64(), Some(10));
        assert_eq!(v.attribute("keys").as_i64(), Some(2));
        state.set(LAST_RUN, v);
        let mut diags = Diagnostics::new();
        warn_if_failed(&state, &mut diags);
        assert!(diags.is_empty());
        assert!(
            last_run(&jobs[2..], &pods).is_none(),
            "a running job is not a last run"
        );
    }
}
