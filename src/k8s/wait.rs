//! Waiting on Kubernetes: a StatefulSet's rollout, claims grown, objects and pods gone.
//! Every wait is the shared [`crate::wait::until`] loop with an explicit deadline, and
//! ends early with the reason when Kubernetes says it cannot succeed: a crash loop, an
//! image that cannot be pulled, a pod no node can take, a claim that cannot be
//! provisioned, a quota or admission denial, a resize that failed.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::ListParams;
use kube::{Api, Client};

use super::apply::{get, ApiError, Managed};
use super::volumes;
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
    /// No node can take a pod: waiting will not help (unless the cluster grows).
    #[error("pod {pod} cannot be scheduled: {message}")]
    Unschedulable {
        /// The pod.
        pod: String,
        /// The scheduler's words.
        message: String,
    },
    /// A claim asks for a StorageClass the cluster does not have.
    #[error("claim {claim} cannot be provisioned: storageclass {class:?} does not exist{}", listed(.available))]
    MissingStorageClass {
        /// The claim.
        claim: String,
        /// The class it names.
        class: String,
        /// The classes the cluster has (empty when they cannot be listed).
        available: Vec<String>,
    },
    /// A claim's volume cannot be provisioned, again and again.
    #[error("claim {claim} cannot be bound: {reason}: {message}")]
    ClaimNotBound {
        /// The claim.
        claim: String,
        /// The event's reason (`ProvisioningFailed`).
        reason: String,
        /// The provisioner's words.
        message: String,
    },
    /// The StatefulSet controller may not create the pods or claims: a quota or an
    /// admission plugin or webhook says no.
    #[error("statefulset {statefulset} cannot create its pods or claims: {message}")]
    Refused {
        /// The StatefulSet.
        statefulset: String,
        /// The controller's event, with the API server's words.
        message: String,
    },
    /// A claim cannot grow: the resizer gave up.
    #[error("claim {claim} cannot grow: {reason}")]
    ResizeFailed {
        /// The claim.
        claim: String,
        /// The resize state and the resizer's words.
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

fn listed(classes: &[String]) -> String {
    if classes.is_empty() {
        String::new()
    } else {
        format!(" (the cluster has: {})", classes.join(", "))
    }
}

impl RolloutError {
    /// Whether the API server could not be reached or answered that it is busy or
    /// failing (429, 5xx): what a restart or an overloaded control plane looks like,
    /// which a wait outlasts rather than reports.
    pub fn is_transient(&self) -> bool {
        match self {
            RolloutError::Api(ApiError::Call { source, .. }) => match source {
                kube::Error::Api(status) => status.code == 429 || status.code >= 500,
                kube::Error::HyperError(_) | kube::Error::Service(_) => true,
                _ => false,
            },
            _ => false,
        }
    }
}

/// Why an attempt did not finish the wait: still in progress, or an error.
enum Finding {
    Progress(String),
    Error(RolloutError),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Progress(p) => f.write_str(p),
            Finding::Error(e) => write!(f, "{e}"),
        }
    }
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
    let outcome = wait::waiting_for(&what, timeout, PACE, || {
        let trying = attempt();
        async move {
            match trying.await {
                Ok(None) => Attempt::Done(()),
                Ok(Some(progress)) => Attempt::Retry(Finding::Progress(progress)),
                // The API server away for a moment (restarted, overloaded): keep
                // waiting; the deadline's message quotes the last failure.
                Err(e) if e.is_transient() => Attempt::Retry(Finding::Error(e)),
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

/// A scheduler message about the pod's claims: those are judged by the claims' own
/// state (a claim still being provisioned makes pods unschedulable for a moment).
fn about_claims(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("persistentvolumeclaim") || m.contains("is being deleted")
}

/// Why the first pod among `pods` that is not ready is not, in the words of whoever
/// holds it up: the scheduler, the kubelet (a container waiting or not ready), or only
/// its phase.
pub fn not_ready(pods: &[Pod]) -> Option<String> {
    pods.iter().find_map(|pod| {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let status = pod.status.as_ref();
        let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
        let condition = |kind: &str| conditions.iter().find(|c| c.type_ == kind);
        if condition("Ready").is_some_and(|c| c.status == "True") {
            return None;
        }
        let words = |c: &k8s_openapi::api::core::v1::PodCondition| {
            c.message
                .as_deref()
                .or(c.reason.as_deref())
                .map(|m| format!(": {}", m.trim()))
                .unwrap_or_default()
        };
        if !scheduled(pod) {
            let why = condition("PodScheduled").map(words).unwrap_or_default();
            return Some(format!("pod {name} not scheduled yet{why}"));
        }
        let waiting = status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .find_map(|c| {
                let w = c.state.as_ref()?.waiting.as_ref()?;
                Some(format!(
                    "container {} waiting ({}{})",
                    c.name,
                    w.reason.as_deref().unwrap_or("no reason given"),
                    w.message
                        .as_deref()
                        .map(|m| format!(": {}", m.trim()))
                        .unwrap_or_default()
                ))
            });
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
        Some(match waiting {
            Some(w) => format!("pod {name} {phase}, {w}"),
            None => format!(
                "pod {name} {phase}, not ready{}",
                condition("Ready").map(words).unwrap_or_default()
            ),
        })
    })
}

/// Whether the pod is on a node.
fn scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_some()
}

/// The first pod among `pods` no node can take, with the scheduler's words; a pod whose
/// only trouble is its claims, or for which a cluster autoscaler is adding a node (a
/// `TriggeredScaleUp` event in `events`), is left to wait.
pub fn unschedulable(pods: &[Pod], events: &[Event]) -> Option<(String, String)> {
    pods.iter().find_map(|pod| {
        let condition = pod
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled")?;
        if condition.status != "False" || condition.reason.as_deref() != Some("Unschedulable") {
            return None;
        }
        let message = condition.message.clone().unwrap_or_default();
        let scaling_up = events.iter().any(|e| {
            e.reason.as_deref() == Some("TriggeredScaleUp")
                && e.involved_object.uid.is_some()
                && e.involved_object.uid == pod.metadata.uid
        });
        (!about_claims(&message) && !scaling_up)
            .then(|| (pod.metadata.name.clone().unwrap_or_default(), message))
    })
}

/// When an event last happened, as its reporter said.
fn event_time(e: &Event) -> Option<Timestamp> {
    [
        e.series
            .as_ref()
            .and_then(|s| s.last_observed_time.as_ref())
            .map(|t| t.0),
        e.last_timestamp.as_ref().map(|t| t.0),
        e.event_time.as_ref().map(|t| t.0),
        e.metadata.creation_timestamp.as_ref().map(|t| t.0),
    ]
    .into_iter()
    .flatten()
    .max()
}

/// Events about the object of `uid` that happened at `since` or later, with `reason`.
fn recent<'e>(
    events: &'e [Event],
    uid: Option<&str>,
    reason: &'e str,
    since: Timestamp,
) -> impl Iterator<Item = &'e Event> + 'e {
    let uid = uid.map(str::to_owned);
    events.iter().filter(move |e| {
        uid.is_some()
            && e.involved_object.uid == uid
            && e.reason.as_deref() == Some(reason)
            && event_time(e).is_some_and(|t| t >= since)
    })
}

/// Words of the API server refusing to create an object for good: a quota, an
/// admission plugin (PodSecurity, ...) or a webhook.
const REFUSALS: &[&str] = &["exceeded quota", "forbidden", "denied the request"];

/// The StatefulSet controller's most recent failure to create a pod or claim for good
/// (since `since`), quoting it.
pub fn refused(sts: &StatefulSet, events: &[Event], since: Timestamp) -> Option<String> {
    recent(events, sts.metadata.uid.as_deref(), "FailedCreate", since)
        .filter(|e| {
            let m = e.message.as_deref().unwrap_or_default();
            REFUSALS.iter().any(|r| m.contains(r))
        })
        .max_by_key(|e| event_time(e))
        .and_then(|e| e.message.clone())
}

/// A claim whose volume cannot be provisioned: the class it names is missing (the
/// provisioner says `storageclass ... not found`), or provisioning failed three times.
pub enum ClaimTrouble {
    /// The class does not exist.
    MissingClass(String),
    /// The provisioner's reason and words.
    Failing(String, String),
}

/// What keeps the pending claim `claim` from binding, by its events since `since`.
pub fn claim_trouble(
    claim: &PersistentVolumeClaim,
    events: &[Event],
    since: Timestamp,
) -> Option<ClaimTrouble> {
    let class = claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .unwrap_or_default();
    let failures: Vec<&Event> = recent(
        events,
        claim.metadata.uid.as_deref(),
        "ProvisioningFailed",
        since,
    )
    .collect();
    for e in &failures {
        let m = e.message.as_deref().unwrap_or_default();
        if m.contains("storageclass") && m.contains("not found") {
            return Some(ClaimTrouble::MissingClass(class));
        }
    }
    let last = failures.iter().max_by_key(|e| event_time(e))?;
    (last.count.unwrap_or(1) >= 3).then(|| {
        ClaimTrouble::Failing(
            "ProvisioningFailed".into(),
            last.message.clone().unwrap_or_default(),
        )
    })
}

/// States of a claim's resize that will not end by waiting.
const RESIZE_FAILURES: &[&str] = &["ControllerResizeInfeasible", "NodeResizeInfeasible"];

/// Why the claim's resize will not finish, if the resizer said so.
pub fn resize_failure(claim: &PersistentVolumeClaim) -> Option<String> {
    let status = claim.status.as_ref()?;
    let state = status
        .allocated_resource_statuses
        .as_ref()?
        .get("storage")?;
    RESIZE_FAILURES.contains(&state.as_str()).then(|| {
        let words: Vec<String> = status
            .conditions
            .iter()
            .flatten()
            .filter_map(|c| c.message.clone())
            .collect();
        if words.is_empty() {
            state.clone()
        } else {
            format!("{state}: {}", words.join("; "))
        }
    })
}

/// The Warning events of `ns`; none when they cannot be read (the waits then judge by
/// the objects alone).
async fn warnings(client: &Client, ns: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    match api
        .list(&ListParams::default().fields("type=Warning"))
        .await
    {
        Ok(l) => l.items,
        Err(e) => {
            tracing::debug!(%ns, error = %e, "events not readable");
            Vec::new()
        }
    }
}

/// The first of the pods' claims that cannot bind: by its events, and for a claim that
/// names a StorageClass, by that class's existence.
async fn claims_stuck(
    client: &Client,
    ns: &str,
    labels: &str,
    events: &[Event],
    since: Timestamp,
) -> Result<(), RolloutError> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let claims = api
        .list(&ListParams::default().labels(labels))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    for claim in claims {
        let pending = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
        if !pending || claim.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = claim.metadata.name.clone().unwrap_or_default();
        let class = claim
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.clone());
        let mut missing = match claim_trouble(&claim, events, since) {
            Some(ClaimTrouble::MissingClass(c)) => Some(c),
            Some(ClaimTrouble::Failing(reason, message)) => {
                return Err(RolloutError::ClaimNotBound {
                    claim: name,
                    reason,
                    message,
                })
            }
            None => None,
        };
        if let (None, Some(class)) = (&missing, &class) {
            // Not every provisioner says so: ask for the class itself (when allowed).
            if matches!(volumes::storage_class(client, class).await, Ok(None)) {
                missing = Some(class.clone());
            }
        }
        if let Some(class) = missing {
            return Err(RolloutError::MissingStorageClass {
                claim: name,
                class,
                available: volumes::class_names(client).await.unwrap_or_default(),
            });
        }
    }
    Ok(())
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
    // Events a little older than the wait may be about it too (clocks differ a little);
    // older ones are about an earlier attempt.
    let since = Timestamp::now() - SignedDuration::from_secs(2);
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
        // Pods missing or not on a node: ask the events and claims why (a rolling
        // restart of scheduled pods needs none of these calls).
        if live.len() < progress.desired as usize || live.iter().any(|p| !scheduled(p)) {
            let events = warnings(client, ns).await;
            if let Some(message) = refused(&sts, &events, since) {
                return Err(RolloutError::Refused {
                    statefulset: format!("{ns}/{name}"),
                    message,
                });
            }
            claims_stuck(client, ns, &labels, &events, since).await?;
            if let Some((pod, message)) = unschedulable(&live, &events) {
                return Err(RolloutError::Unschedulable { pod, message });
            }
        }
        Ok(Some(match not_ready(&live) {
            Some(why) => format!("{progress}; {why}"),
            None => progress.to_string(),
        }))
    })
    .await
}

/// Waits until every claim in `claims` of `ns` reports at least `size` bytes of
/// capacity (a resize is done when the kubelet has grown the file system); ends at once
/// when a resize failed for good.
pub async fn claims_grown(
    client: &Client,
    ns: &str,
    claims: &[String],
    size: f64,
    timeout: Duration,
) -> Result<(), RolloutError> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let what = format!("claims {} in {ns} grown", claims.join(", "));
    wait_for(what, timeout, || async {
        for name in claims {
            let Some(claim) = api
                .get_opt(name)
                .await
                .map_err(|e| ApiError::of_kind("get", "PersistentVolumeClaim", ns, name, e))?
            else {
                continue;
            };
            if let Some(reason) = resize_failure(&claim) {
                return Err(RolloutError::ResizeFailed {
                    claim: name.clone(),
                    reason,
                });
            }
            if !volumes::capacity_bytes(&claim).is_some_and(|have| have >= size) {
                let state = claim
                    .status
                    .as_ref()
                    .and_then(|s| s.allocated_resource_statuses.as_ref())
                    .and_then(|m| m.get("storage").cloned())
                    .unwrap_or_else(|| "resize not started".into());
                return Ok(Some(format!("claim {name}: {state}")));
            }
        }
        Ok(None)
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

    fn api_error(source: kube::Error) -> RolloutError {
        RolloutError::Api(ApiError::Call {
            verb: "get",
            kind: "StatefulSet".into(),
            namespace: "apps".into(),
            name: "cache".into(),
            source,
        })
    }

    fn unreachable_api() -> RolloutError {
        api_error(kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "tcp connect error: Connection refused",
        ))))
    }

    fn answered(code: u16) -> RolloutError {
        let mut status = kube::core::Status::failure("no", "Reason");
        status.code = code;
        api_error(kube::Error::Api(status.boxed()))
    }

    #[test]
    fn an_unreachable_or_busy_api_server_is_transient_and_refusals_are_not() {
        assert!(unreachable_api().is_transient());
        assert!(answered(503).is_transient());
        assert!(answered(429).is_transient());
        assert!(!answered(404).is_transient());
        assert!(!answered(422).is_transient());
        assert!(!RolloutError::Gone("apps/cache".into()).is_transient());
    }

    #[tokio::test]
    async fn a_wait_outlasts_an_api_server_that_is_away_for_a_while() {
        let mut calls = 0;
        let outcome = wait_for("rollout".into(), Duration::from_secs(30), || {
            calls += 1;
            let n = calls;
            async move {
                match n {
                    1 | 2 => Err(unreachable_api()),
                    3 => Ok(Some("0 of 1 ready".into())),
                    _ => Ok(None),
                }
            }
        })
        .await;
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(calls, 4);
    }

    #[tokio::test]
    async fn a_wait_whose_api_server_stays_away_times_out_quoting_the_failure() {
        let outcome = wait_for("rollout".into(), Duration::from_millis(1200), || async {
            Err::<Option<String>, _>(unreachable_api())
        })
        .await;
        match outcome {
            Err(RolloutError::TimedOut { progress, .. }) => {
                assert!(progress.contains("Connection refused"), "{progress}")
            }
            other => panic!("{other:?}"),
        }
        let outcome = wait_for("rollout".into(), Duration::from_secs(30), || async {
            Err::<Option<String>, _>(RolloutError::Gone("apps/cache".into()))
        })
        .await;
        assert!(
            matches!(outcome, Err(RolloutError::Gone(_))),
            "a final error ends it at once"
        );
    }

    #[test]
    fn a_pod_that_is_not_ready_is_explained_in_the_words_of_whoever_holds_it_up() {
        let pod = |v: serde_json::Value| -> Pod { serde_json::from_value(v).unwrap() };
        let pending = pod(json!({
            "metadata": {"name": "cache-0"},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."}]}
        }));
        assert_eq!(
            not_ready(&[pending]).as_deref(),
            Some("pod cache-0 not scheduled yet: 0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.")
        );
        let starting = pod(json!({
            "metadata": {"name": "cache-1"},
            "spec": {"nodeName": "n1", "containers": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False",
                "reason": "ContainersNotReady", "message": "containers with unready status: [redis]"}]}
        }));
        assert_eq!(
            not_ready(std::slice::from_ref(&starting)).as_deref(),
            Some("pod cache-1 Running, not ready: containers with unready status: [redis]")
        );
        let ready = pod(json!({
            "metadata": {"name": "cache-2"},
            "spec": {"nodeName": "n1", "containers": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }));
        assert_eq!(not_ready(std::slice::from_ref(&ready)), None);
        assert!(not_ready(&[ready, starting])
            .unwrap()
            .starts_with("pod cache-1"));
    }

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

    fn event(v: serde_json::Value) -> Event {
        serde_json::from_value(v).unwrap()
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn time(secs: i64) -> String {
        at(secs).to_string()
    }

    #[test]
    fn an_unschedulable_pod_is_reported_with_the_schedulers_words_unless_its_claims_are_the_cause()
    {
        let pod = |message: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": "r-0", "uid": "u0"},
                "status": {"conditions": [{"type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": message}]}
            }))
            .unwrap()
        };
        let selector =
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.";
        assert_eq!(
            unschedulable(&[pod(selector)], &[]),
            Some(("r-0".into(), selector.into()))
        );
        let claims = "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.";
        assert_eq!(unschedulable(&[pod(claims)], &[]), None);
        let scale_up = event(
            json!({"metadata": {"name": "e"}, "reason": "TriggeredScaleUp",
            "involvedObject": {"kind": "Pod", "uid": "u0"}}),
        );
        assert_eq!(
            unschedulable(&[pod(selector)], &[scale_up]),
            None,
            "a node is coming"
        );
    }

    #[test]
    fn a_quota_refusal_since_the_wait_began_ends_it_and_an_older_one_does_not() {
        let s = sts(json!({
            "metadata": {"name": "r", "uid": "s1"},
            "spec": {"selector": {}, "serviceName": "h", "template": {}}
        }));
        let quota = |uid: &str, secs: i64| {
            event(json!({"metadata": {"name": "e"}, "reason": "FailedCreate",
                "involvedObject": {"kind": "StatefulSet", "uid": uid},
                "lastTimestamp": time(secs),
                "message": "create Pod r-0 in StatefulSet r failed error: pods \"r-0\" is forbidden: exceeded quota: q"}))
        };
        assert!(refused(&s, &[quota("s1", 10)], at(5))
            .unwrap()
            .contains("exceeded quota: q"));
        assert_eq!(
            refused(&s, &[quota("s1", 1)], at(5)),
            None,
            "before the wait"
        );
        assert_eq!(
            refused(&s, &[quota("other", 10)], at(5)),
            None,
            "another statefulset"
        );
    }

    #[test]
    fn a_claim_naming_a_missing_class_is_stuck_at_once_and_other_failures_after_three() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data-r-0", "uid": "c1"},
            "spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}
        }))
        .unwrap();
        let failed = |message: &str, count: i32| {
            event(
                json!({"metadata": {"name": "e"}, "reason": "ProvisioningFailed",
                "involvedObject": {"kind": "PersistentVolumeClaim", "uid": "c1"},
                "lastTimestamp": time(10), "count": count, "message": message}),
            )
        };
        let missing = failed("storageclass.storage.k8s.io \"fast\" not found", 1);
        assert!(matches!(
            claim_trouble(&claim, &[missing], at(0)),
            Some(ClaimTrouble::MissingClass(c)) if c == "fast"
        ));
        assert!(claim_trouble(&claim, &[failed("no capacity", 1)], at(0)).is_none());
        assert!(matches!(
            claim_trouble(&claim, &[failed("no capacity", 3)], at(0)),
            Some(ClaimTrouble::Failing(_, m)) if m == "no capacity"
        ));
    }

    #[test]
    fn a_resize_the_resizer_gave_up_on_is_reported_with_its_words() {
        let claim = |state: &str| -> PersistentVolumeClaim {
            serde_json::from_value(json!({
                "metadata": {"name": "data-r-0"},
                "status": {"allocatedResourceStatuses": {"storage": state},
                    "conditions": [{"type": "ControllerResizeError", "status": "True",
                        "message": "volume exceeds the pool"}]}
            }))
            .unwrap()
        };
        assert_eq!(
            resize_failure(&claim("ControllerResizeInfeasible")).as_deref(),
            Some("ControllerResizeInfeasible: volume exceeds the pool")
        );
        assert_eq!(resize_failure(&claim("NodeResizePending")), None);
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
