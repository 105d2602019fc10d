//! Waiting on Kubernetes: a StatefulSet's rollout, objects and pods gone. Every wait is
//! the shared [`crate::wait::until`] loop with an explicit deadline, and ends early with
//! the reason when Kubernetes says it cannot succeed.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};

use super::apply::{get, ApiError, Managed};
use crate::wait::{self, Attempt, Pace, Stopped};

/// How often the API server is asked again.
const PACE: Pace = Pace::every(Duration::from_millis(500));

/// Why a rollout did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The StatefulSet disappeared while we waited.
    #[error("statefulset {0} disappeared during the rollout")]
    Gone(String),
    /// A container keeps failing: no point waiting.
    #[error("pod {pod} is crash-looping: {reason}")]
    CrashLoop {
        /// The pod.
        pod: String,
        /// What its last termination said.
        reason: String,
    },
    /// A container's image cannot be pulled: waiting will not help.
    #[error("pod {pod} cannot pull its image: {reason}")]
    ImagePull {
        /// The pod.
        pod: String,
        /// The waiting reason and the kubelet's message.
        reason: String,
    },
    /// The deadline passed.
    #[error("{what} not done after {after:?}: {progress}")]
    TimedOut {
        /// What was awaited (`statefulset ns/name rolled out`).
        what: String,
        /// How long we waited.
        after: Duration,
        /// Where it stood.
        progress: String,
    },
}

/// Why an attempt did not finish the wait: still in progress, or an error.
enum Finding {
    Progress(String),
    Error(RolloutError),
}

/// Runs `attempt` under the deadline; a progress finding keeps waiting, an error stops.
async fn wait_for<F, Fut>(
    what: String,
    timeout: Duration,
    mut attempt: F,
) -> Result<(), RolloutError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, RolloutError>>,
{
    let outcome = wait::until(timeout, PACE, || {
        let trying = attempt();
        async move {
            match trying.await {
                Ok(None) => Attempt::Done(()),
                Ok(Some(progress)) => Attempt::Retry(Finding::Progress(progress)),
                Err(e) => Attempt::Fail(Finding::Error(e)),
            }
        }
    })
    .await;
    match outcome {
        Ok(()) => Ok(()),
        Err(Stopped::Failed(Finding::Error(e))) => Err(e),
        Err(Stopped::Failed(Finding::Progress(progress))) => Err(RolloutError::TimedOut {
            what,
            after: timeout,
            progress,
        }),
        Err(Stopped::TimedOut { after, last }) => Err(RolloutError::TimedOut {
            what,
            after,
            progress: match last {
                Some(Finding::Progress(p)) => p,
                Some(Finding::Error(e)) => e.to_string(),
                None => "no answer from the API server".into(),
            },
        }),
    }
}

/// A label selector in the API's text form: `k=v,k2=v2`.
pub fn selector_string(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Where a StatefulSet's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Pods wanted.
    pub desired: i32,
    /// Pods ready.
    pub ready: i32,
    /// Pods at the newest revision.
    pub updated: i32,
    /// Whether the controller has seen the newest spec.
    pub observed: bool,
    /// Whether the current revision is the update revision.
    pub same_revision: bool,
}

impl Progress {
    /// Reads a StatefulSet's status.
    pub fn of(sts: &StatefulSet) -> Progress {
        let desired = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = sts.status.clone().unwrap_or_default();
        Progress {
            desired,
            ready: status.ready_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            observed: status.observed_generation.unwrap_or(0)
                >= sts.metadata.generation.unwrap_or(0),
            same_revision: status.current_revision.is_some()
                && status.current_revision == status.update_revision,
        }
    }

    /// Every wanted pod is ready at the newest revision, and no others exist.
    pub fn done(&self, total: i32) -> bool {
        self.observed
            && self.ready == self.desired
            && self.updated == self.desired
            && self.same_revision
            && total == self.desired
    }
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} ready, {}/{} updated{}",
            self.ready,
            self.desired,
            self.updated,
            self.desired,
            if self.observed {
                ""
            } else {
                ", spec not observed yet"
            }
        )
    }
}

/// The first crash-looping container among `pods`, with the reason it gave.
pub fn crash_loop(pods: &[Pod]) -> Option<(String, String)> {
    for pod in pods {
        let statuses = pod
            .status
            .as_ref()?
            .container_statuses
            .clone()
            .unwrap_or_default();
        for c in statuses {
            let waiting = c.state.as_ref().and_then(|s| s.waiting.as_ref());
            if waiting.and_then(|w| w.reason.as_deref()) == Some("CrashLoopBackOff")
                && c.restart_count >= 2
            {
                let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
                let reason = last
                    .map(|t| {
                        format!(
                            "container {} exited with {}{}",
                            c.name,
                            t.exit_code,
                            t.message
                                .as_deref()
                                .map(|m| format!(": {}", m.trim()))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_else(|| format!("container {} keeps restarting", c.name));
                return Some((pod.metadata.name.clone().unwrap_or_default(), reason));
            }
        }
    }
    None
}

/// Waiting reasons of a container whose image will not come: an invalid name, a pull
/// policy of Never without the image, or pulls that failed and are being backed off.
const PULL_FAILURES: &[&str] = &["ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"];

/// The first container among `pods` whose image cannot be pulled, with the kubelet's words.
pub fn pull_failure(pods: &[Pod]) -> Option<(String, String)> {
    pods.iter().find_map(|pod| {
        let status = pod.status.as_ref()?;
        let containers = status.container_statuses.iter().flatten();
        let init = status.init_container_statuses.iter().flatten();
        containers.chain(init).find_map(|c| {
            let waiting = c.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref()?;
            PULL_FAILURES.contains(&reason).then(|| {
                let message = waiting
                    .message
                    .as_deref()
                    .map(|m| format!(": {}", m.trim()))
                    .unwrap_or_default();
                (
                    pod.metadata.name.clone().unwrap_or_default(),
                    format!("container {} ({}) is {reason}{message}", c.name, c.image),
                )
            })
        })
    })
}

/// Waits until the StatefulSet is rolled out: every pod ready at the newest revision.
pub async fn rollout(
    client: &Client,
    ns: &str,
    name: &str,
    selector: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(), RolloutError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let labels = selector_string(selector);
    let what = format!("statefulset {ns}/{name} rollout");
    wait_for(what, timeout, || async {
        let sts = get::<StatefulSet>(client, ns, name)
            .await?
            .ok_or_else(|| RolloutError::Gone(format!("{ns}/{name}")))?;
        let progress = Progress::of(&sts);
        let listed = pods
            .list(&ListParams::default().labels(&labels))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let live: Vec<Pod> = listed
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        if progress.done(live.len() as i32) {
            return Ok(None);
        }
        if let Some((pod, reason)) = crash_loop(&live) {
            return Err(RolloutError::CrashLoop { pod, reason });
        }
        if let Some((pod, reason)) = pull_failure(&live) {
            return Err(RolloutError::ImagePull { pod, reason });
        }
        Ok(Some(progress.to_string()))
    })
    .await
}

/// Waits until the object `ns/name` of kind `K` no longer exists.
pub async fn gone<K: Managed>(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), RolloutError> {
    let what = format!("deletion of {} {ns}/{name}", K::kind(&()));
    wait_for(what, timeout, || async {
        Ok(get::<K>(client, ns, name)
            .await?
            .map(|_| "still exists".to_string()))
    })
    .await
}

/// Waits until no pod matches `selector` in `ns`.
pub async fn no_pods(
    client: &Client,
    ns: &str,
    selector: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(), RolloutError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let labels = selector_string(selector);
    let what = format!("pods {labels} in {ns} gone");
    wait_for(what, timeout, || async {
        let left = pods
            .list(&ListParams::default().labels(&labels))
            .await
            .map_err(|e| ApiError::of_kind("list", "Pod", ns, "", e))?;
        Ok((!left.items.is_empty()).then(|| format!("{} pods left", left.items.len())))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sts(v: serde_json::Value) -> StatefulSet {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_rollout_is_done_when_every_pod_is_ready_at_the_new_revision() {
        let s = sts(json!({
            "metadata": {"name": "r", "generation": 2},
            "spec": {"replicas": 3, "selector": {}, "serviceName": "h", "template": {}},
            "status": {"replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "observedGeneration": 2,
                       "currentRevision": "r-1", "updateRevision": "r-1"}
        }));
        assert!(Progress::of(&s).done(3));
        assert!(
            !Progress::of(&s).done(4),
            "an extra pod is still terminating"
        );
    }

    #[test]
    fn an_unobserved_or_half_updated_statefulset_is_not_done() {
        let s = sts(json!({
            "metadata": {"name": "r", "generation": 3},
            "spec": {"replicas": 2, "selector": {}, "serviceName": "h", "template": {}},
            "status": {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 1, "observedGeneration": 3,
                       "currentRevision": "r-1", "updateRevision": "r-2"}
        }));
        let p = Progress::of(&s);
        assert!(!p.done(2));
        assert_eq!(p.to_string(), "2/2 ready, 1/2 updated");
    }

    #[test]
    fn a_crash_loop_is_reported_with_the_containers_last_words() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "r-0"},
            "status": {"containerStatuses": [{
                "name": "redis", "image": "redis", "imageID": "", "ready": false, "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "message": "Bad directive or wrong number of arguments"}}
            }]}
        }))
        .unwrap();
        let (name, reason) = crash_loop(&[pod]).unwrap();
        assert_eq!(name, "r-0");
        assert!(reason.contains("exited with 1: Bad directive"), "{reason}");
    }

    #[test]
    fn an_image_that_cannot_be_pulled_is_reported_with_the_kubelets_words() {
        let pod = |reason: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": "r-0"},
                "status": {"containerStatuses": [{
                    "name": "redis", "image": "redis:8.2", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": reason, "message": "no such tag; the bed has redis:7.4*"}}
                }]}
            }))
            .unwrap()
        };
        assert!(
            pull_failure(&[pod("ErrImagePull")]).is_none(),
            "one failed pull may be retried"
        );
        let (name, reason) = pull_failure(&[pod("ImagePullBackOff")]).unwrap();
        assert_eq!(name, "r-0");
        assert_eq!(
            reason,
            "container redis (redis:8.2) is ImagePullBackOff: no such tag; the bed has redis:7.4*"
        );
    }
}
