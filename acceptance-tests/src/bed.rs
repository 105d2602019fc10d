//! The test bed's own behaviour from tests: faults on demand (`testbed fault ...`),
//! a node of a test's own to lose, and pods that report whether they reach a peer.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::{json, Value};

use crate::{eventually, from_json, random_suffix, testbed_script, TestBed};

/// Runs `testbed fault ARGS...`; its error output becomes the error.
pub fn fault(args: &[&str]) -> Result<()> {
    let out = Command::new(testbed_script())
        .arg("fault")
        .args(args)
        .output()
        .context("running testbed fault")?;
    if !out.status.success() {
        bail!(
            "testbed fault {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A kube client for the bed's API server authenticated with `token` that reports
/// every response as it comes: kube's default client retries 429, 503 and 504
/// responses itself (up to 15 times, honouring Retry-After), which hides them.
pub async fn token_client_without_retries(token: &str) -> Result<Client> {
    crate::install_crypto_provider();
    let bed = TestBed::get();
    let kubeconfig = Kubeconfig::read_from(&bed.kubeconfig)?;
    let mut config =
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.to_string().into()),
        ..Default::default()
    };
    config.default_retry = false;
    Ok(Client::try_from(config)?)
}

/// Creates ServiceAccount `account` in `ns`, binds it there to `role` (`("Role", name)`
/// or `("ClusterRole", name)`) when given, and returns a one-hour token of it: an
/// identity with exactly those rights, for the provider's `kubernetes.token`.
pub async fn service_account_token(
    client: &Client,
    ns: &str,
    account: &str,
    role: Option<(&str, &str)>,
) -> Result<String> {
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), ns);
    accounts
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": account}})),
        )
        .await
        .with_context(|| format!("creating ServiceAccount {ns}/{account}"))?;
    if let Some((kind, name)) = role {
        let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
            Api::namespaced(client.clone(), ns);
        bindings
            .create(
                &PostParams::default(),
                &from_json(json!({
                    "metadata": {"name": account},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
                    "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}],
                })),
            )
            .await
            .with_context(|| format!("binding {ns}/{account} to {kind} {name}"))?;
    }
    let request: k8s_openapi::api::authentication::v1::TokenRequest =
        from_json(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}));
    let status = accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .with_context(|| format!("a token of {ns}/{account}"))?
        .status
        .context("a token request without a status")?;
    Ok(status.token)
}

/// The taint that keeps every other test's pods off a [`TestNode`].
pub const TEST_NODE_TAINT: &str = "testbed.terraform-provider-redis/fault-test";

/// A simulated node for one test, tainted so that no other test's pods land on it,
/// in a zone of its own; deleted (with whatever is left bound to it) on drop.
pub struct TestNode {
    pub name: String,
}

impl TestNode {
    pub async fn create(client: &Client, prefix: &str) -> Result<TestNode> {
        let name = format!("{prefix}-{}", random_suffix());
        let nodes: Api<Node> = Api::all(client.clone());
        nodes
            .create(
                &PostParams::default(),
                &from_json(json!({
                    "metadata": {
                        "name": name,
                        "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                        "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                   "kubernetes.io/arch": "amd64", "type": "kwok",
                                   "topology.kubernetes.io/zone": format!("zone-{name}")}
                    },
                    "spec": {"taints": [{"key": TEST_NODE_TAINT, "value": "true", "effect": "NoSchedule"}]},
                    "status": {
                        "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                        "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"}
                    }
                })),
            )
            .await
            .with_context(|| format!("creating node {name}"))?;
        let node = TestNode { name };
        eventually(
            &format!("node {} ready", node.name),
            Duration::from_secs(60),
            || async { Ok((node_ready(&nodes.get(&node.name).await?) == "True").then_some(())) },
        )
        .await?;
        Ok(node)
    }

    /// A pod spec's fields that put it on this node despite the taint.
    pub fn placement(&self) -> Value {
        json!({
            "nodeName": self.name,
            "tolerations": [{"key": TEST_NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}]
        })
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        crate::delete_in_background("node", &self.name);
    }
}

/// The status of a node's Ready condition ("True", "False", "Unknown"; "" if none).
pub fn node_ready(node: &Node) -> String {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

/// A pod that is Ready exactly while `redis-cli -h TARGET -p PORT PING` answers from
/// inside it: its readiness probe asks every second and gives up after 2 s, so a
/// refused or dropped connection turns it unready within about 3 s.
pub fn prober(name: &str, labels: BTreeMap<&str, &str>, target: &str, port: u16) -> Pod {
    probe_pod(
        name,
        labels,
        &format!("timeout 2 redis-cli -h {target} -p {port} ping | grep -q PONG"),
    )
}

/// A pod that is Ready exactly while the shell command `check` succeeds inside it, asked
/// every second (at most 3 s each): [`prober`] for any check (e.g. `wget ... | grep`).
pub fn probe_pod(name: &str, labels: BTreeMap<&str, &str>, check: &str) -> Pod {
    from_json(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "probe",
                "image": "busybox:1.36",
                "command": ["sh", "-c", "exec sleep 100000"],
                "readinessProbe": {
                    "exec": {"command": ["sh", "-c", check]},
                    "periodSeconds": 1, "timeoutSeconds": 3,
                    "failureThreshold": 1, "successThreshold": 1
                }
            }]
        }
    }))
}

/// A Redis server pod (Debian's 7.0, which every bed has) with the given labels and
/// extra spec fields merged in.
pub fn redis_server(name: &str, labels: BTreeMap<&str, &str>, extra_spec: Value) -> Pod {
    let mut spec = json!({
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "redis",
            "image": "redis:7.0",
            "ports": [{"containerPort": 6379, "name": "redis"}],
            "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 1}
        }]
    });
    if let (Some(base), Value::Object(extra)) = (spec.as_object_mut(), extra_spec) {
        base.extend(extra);
    }
    from_json(json!({"metadata": {"name": name, "labels": labels}, "spec": spec}))
}

/// Creates [`redis_server`] `name` (labelled `app: name`) in `ns` and waits until it is
/// ready.
pub async fn start_redis_server(client: &Client, ns: &str, name: &str) -> Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod = redis_server(name, BTreeMap::from([("app", name)]), json!({}));
    pods.create(&PostParams::default(), &pod)
        .await
        .with_context(|| format!("creating pod {ns}/{name}"))?;
    ready_pod(client, ns, name, std::time::Duration::from_secs(60)).await
}

/// Waits until the pod is ready (and not being deleted) and returns it.
pub async fn ready_pod(client: &Client, ns: &str, name: &str, timeout: Duration) -> Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{ns}/{name} ready"), timeout, || async {
        Ok(pods
            .get_opt(name)
            .await?
            .filter(|p| crate::pod_ready(p) && p.metadata.deletion_timestamp.is_none()))
    })
    .await
}

/// Waits until the pod's readiness is `ready` with its containers running (so that
/// "not ready" means its probe failed, not that it has not started), then checks it
/// stays so for `hold` (a probe that flaps would show here).
pub async fn readiness_settles(
    client: &Client,
    ns: &str,
    name: &str,
    ready: bool,
    hold: Duration,
) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let state = if ready { "ready" } else { "not ready" };
    // A probe result follows a relabel or a policy change only after the runtime's
    // next probe and the bed's rule update: generous under a loaded CI machine.
    eventually(
        &format!("{ns}/{name} {state}"),
        Duration::from_secs(60),
        || async {
            let pod = pods.get(name).await?;
            Ok((crate::pod_ready(&pod) == ready && containers_running(&pod)).then_some(()))
        },
    )
    .await?;
    let until = tokio::time::Instant::now() + hold;
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if crate::pod_ready(&pods.get(name).await?) != ready {
            bail!("{ns}/{name} did not stay {state} for {hold:?}");
        }
    }
    Ok(())
}

/// Whether every container of the pod has a running process.
pub fn containers_running(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| {
            !cs.is_empty()
                && cs
                    .iter()
                    .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        })
}

/// The pod's address.
pub fn pod_ip(pod: &Pod) -> Result<String> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .context("the pod has no address")
}
