//! Sentinel HA under real faults on the test bed: a deployment of three pods with its
//! `redis_sentinel` (down_after_milliseconds = 5000), a client writing all along through
//! whatever primary the Sentinels name, and a fault: the primary's pod deleted, its
//! process killed, its node lost, every pod deleted at once, or a rolling restart. Each
//! shows writes resume on one primary, no acknowledged key is lost, and the plan after a
//! failover is empty while refresh reports the new primary.
//!
//! benches/failover.sh runs the ignored `failover_figures`, which prints
//! the TN-99 failure table (RTO, keys lost) measured with `appendfsync everysec`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use acceptance_tests::bed::{fault, TestNode, TEST_NODE_TAINT};
use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::Reply;
use acceptance_tests::{admin, eventually, pod_ready, PodRedis, TestNamespace};
use anyhow::{bail, Result};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::deployment::{redis_admin, secret_value};

const REDIS: &str = "redis:7.2-alpine";
const VALKEY: &str = "valkey/valkey:8";
const DATA_PODS: [&str; 3] = ["cache-0", "cache-1", "cache-2"];
/// How long after a fault the Sentinels have surely decided (down-after 5 s, a
/// failover's election and promotion).
const SETTLE: Duration = Duration::from_secs(25);
const SENTINELS: [&str; 3] = ["cache-sentinel-0", "cache-sentinel-1", "cache-sentinel-2"];

/// A deployment of three pods with AOF (`fsync`) and its Sentinels; `extra` goes into the
/// deployment's block.
fn stack(ns: &str, image: &str, fsync: &str, extra: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         image     = \"{image}\"\n  replicas  = 3\n  \
         config    = {{ appendonly = true, appendfsync = \"{fsync}\" }}\n{extra}\n}}\n\n\
         resource \"redis_sentinel\" \"ha\" {{\n  deployment_id           = redis_deployment.cache.id\n  \
         down_after_milliseconds = 5000\n}}\n"
    )
}

/// The data pod a Sentinel names as primary (asking each Sentinel in turn).
async fn sentinel_primary(client: &Client, ns: &str) -> Result<String> {
    let mut last = None;
    for s in SENTINELS {
        let asked = async {
            let mut conn = PodRedis::connect(client, ns, s, 26379).await?;
            match conn
                .call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])
                .await?
            {
                Reply::Array(items) if !items.is_empty() => {
                    Ok(items[0].text()?.split('.').next().unwrap_or("").to_string())
                }
                other => bail!("{s}: {other:?}"),
            }
        };
        match asked.await {
            Ok(pod) => return Ok(pod),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no Sentinel")))
}

/// Each data pod's ROLE (`master`/`slave`) as the provider's user; pods that do not
/// answer are left out.
async fn roles(client: &Client, ns: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for pod in DATA_PODS {
        let asked = async {
            let pw = secret_value(client, ns, "cache-internal", "admin-password").await;
            let mut conn = PodRedis::connect(client, ns, pod, 6379).await?;
            conn.call(&["AUTH", "terraform", &pw]).await?;
            match conn.call(&["ROLE"]).await? {
                Reply::Array(items) => Ok::<_, anyhow::Error>(items[0].text()?.to_string()),
                other => bail!("ROLE: {other:?}"),
            }
        };
        if let Ok(role) = asked.await {
            out.push((pod.to_string(), role));
        }
    }
    out
}

/// Waits until exactly one data pod is primary, every other one a replica, and the
/// Sentinels name that pod; returns it.
async fn settled_primary(client: &Client, ns: &str, timeout: Duration) -> String {
    settled_primary_of(client, ns, 3, timeout).await
}

/// [`settled_primary`] for a deployment of `pods` data pods.
async fn settled_primary_of(client: &Client, ns: &str, pods: usize, timeout: Duration) -> String {
    eventually("one primary that the Sentinels name", timeout, || async {
        let roles = roles(client, ns).await;
        let primaries: Vec<&String> = roles
            .iter()
            .filter(|(_, r)| r == "master")
            .map(|(p, _)| p)
            .collect();
        let named = sentinel_primary(client, ns).await?;
        if roles.len() == pods && primaries.len() == 1 && *primaries[0] == named {
            return Ok(Some(named));
        }
        bail!("roles {roles:?}; the Sentinels name {named}")
    })
    .await
    .unwrap()
}

/// What the writer saw: when each write was tried and whether it was acknowledged.
#[derive(Default)]
struct Log {
    writes: Vec<(Instant, bool)>,
    acked: Vec<String>,
}

/// A client that is not Sentinel-aware in its writes but asks the Sentinels where to
/// write after each failure: `SET fault:<n>` every ~20 ms until stopped.
struct Writer {
    log: Arc<Mutex<Log>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn start(client: &Client, ns: &str, password: &str) -> Writer {
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (client, ns, password) = (client.clone(), ns.to_string(), password.to_string());
        let (l, s) = (log.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut conn: Option<PodRedis> = None;
            let mut n = 0u64;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                if conn.is_none() {
                    let opened = async {
                        let pod = sentinel_primary(&client, &ns).await?;
                        let mut c = PodRedis::connect(&client, &ns, &pod, 6379).await?;
                        c.call(&["AUTH", &password]).await?;
                        Ok::<_, anyhow::Error>(c)
                    };
                    conn = tokio::time::timeout(Duration::from_secs(3), opened)
                        .await
                        .ok()
                        .and_then(Result::ok);
                }
                let key = format!("fault:{n}");
                let at = Instant::now();
                let ok = match conn.as_mut() {
                    Some(c) => {
                        tokio::time::timeout(Duration::from_secs(2), c.call(&["SET", &key, "v"]))
                            .await
                            .is_ok_and(|r| r.is_ok())
                    }
                    None => false,
                };
                {
                    let mut log = l.lock().unwrap();
                    log.writes.push((at, ok));
                    if ok {
                        log.acked.push(key);
                    }
                }
                n += 1;
                if ok {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                } else {
                    conn = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        Writer { log, stop, task }
    }

    async fn stop(self) -> Log {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap();
        Arc::try_unwrap(self.log)
            .ok()
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

impl Log {
    /// From `fault` to the first acknowledged write after the first failed one (zero
    /// when no write failed).
    fn rto(&self, fault: Instant) -> Duration {
        let after: Vec<&(Instant, bool)> =
            self.writes.iter().filter(|(t, _)| *t >= fault).collect();
        let Some(first_fail) = after.iter().position(|(_, ok)| !ok) else {
            return Duration::ZERO;
        };
        after[first_fail..]
            .iter()
            .find(|(_, ok)| *ok)
            .map(|(t, _)| t.duration_since(fault))
            .unwrap_or(Duration::MAX)
    }

    fn failed(&self) -> usize {
        self.writes.iter().filter(|(_, ok)| !ok).count()
    }
}

/// The acknowledged keys missing from the primary `pod`. A read cut short (a port-forward
/// to a pod that just came back can stall) is tried again on a new connection; only a
/// complete read judges the keys.
async fn lost(client: &Client, ns: &str, pod: &str, acked: &[String]) -> Vec<String> {
    let password = secret_value(client, ns, "cache-auth", "password").await;
    eventually(
        "a complete read of the acknowledged keys",
        Duration::from_secs(90),
        || async {
            let mut conn = PodRedis::connect(client, ns, pod, 6379).await?;
            conn.call(&["AUTH", &password]).await?;
            let mut missing = Vec::new();
            for chunk in acked.chunks(200) {
                let mut args = vec!["MGET"];
                args.extend(chunk.iter().map(String::as_str));
                let Reply::Array(values) = conn.call(&args).await? else {
                    bail!("MGET is not an array");
                };
                for (key, value) in chunk.iter().zip(values) {
                    if matches!(value, Reply::Nil) {
                        missing.push(key.clone());
                    }
                }
            }
            Ok(Some(missing))
        },
    )
    .await
    .unwrap()
}

/// A fault aimed at the current primary.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// `kubectl delete pod`.
    PodDeleted,
    /// `testbed fault kill-pod` (SIGKILL to the Redis process; the pod stays).
    ProcessKilled,
    /// `testbed fault lose-node`, then `restore-node` once writes resumed.
    NodeLost,
}

/// What one fault did.
struct Figures {
    rto: Duration,
    acked: usize,
    lost: usize,
    failed_writes: usize,
    failed_over: bool,
}

/// Applies the stack (on three test nodes of its own for a node loss), writes, injects
/// `fault` on the primary, and measures until writes resumed and the old primary's pod
/// is back as a replica.
async fn fault_case(
    tool: Tool,
    image: &str,
    fsync: &str,
    fault_kind: Fault,
    prefix: &str,
) -> (Figures, Workdir, TestNamespace, Vec<TestNode>) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, prefix).await.unwrap();
    let mut nodes = Vec::new();
    let mut extra = String::new();
    if matches!(fault_kind, Fault::NodeLost) {
        let api: Api<Node> = Api::all(client.clone());
        for _ in 0..3 {
            let node = TestNode::create(&client, "tb-ha").await.unwrap();
            api.patch(
                &node.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"redis-test-group": ns.name}}})),
            )
            .await
            .unwrap();
            nodes.push(node);
        }
        extra = format!(
            "  node_selector = {{ \"redis-test-group\" = \"{}\" }}\n  anti_affinity = \"required\"\n  \
             tolerations   = [{{ key = \"{TEST_NODE_TAINT}\", operator = \"Exists\", effect = \"NoSchedule\" }}]\n",
            ns.name
        );
    }
    let w = Workdir::new(tool, &stack(&ns.name, image, fsync, &extra));
    w.apply();
    let primary = settled_primary(&client, &ns.name, Duration::from_secs(60)).await;
    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    let writer = Writer::start(&client, &ns.name, &password);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let before = pods.get(&primary).await.unwrap();
    let at = Instant::now();
    let mut lost_node = None;
    match fault_kind {
        Fault::PodDeleted => {
            pods.delete(&primary, &DeleteParams::default())
                .await
                .unwrap();
        }
        Fault::ProcessKilled => {
            fault(&["kill-pod", &format!("{}/{primary}", ns.name), "redis"]).unwrap();
        }
        Fault::NodeLost => {
            let node = before.spec.as_ref().unwrap().node_name.clone().unwrap();
            fault(&["lose-node", &node]).unwrap();
            lost_node = Some(node);
        }
    }
    // Writes resume (the writer asks the Sentinels after each failure).
    eventually("writes resume", Duration::from_secs(120), || async {
        let log = writer.log.lock().unwrap();
        Ok(
            (log.rto(at) < Duration::MAX && log.writes.iter().any(|(t, ok)| *t > at && !ok)
                || log.writes.iter().filter(|(t, _)| *t > at).count() > 100
                    && log.writes.iter().rev().take(10).all(|(_, ok)| *ok))
            .then_some(()),
        )
    })
    .await
    .unwrap();
    if let Some(node) = &lost_node {
        fault(&["restore-node", node]).unwrap();
    }
    // A pod back within down-after-milliseconds may still see a failover (a Sentinel
    // that could not reach it meanwhile): keep writing past the Sentinels' decision.
    tokio::time::sleep_until((at + SETTLE).into()).await;
    // The old primary's pod comes back, as a replica unless it returned before the
    // Sentinels gave up on it.
    let now = settled_primary(&client, &ns.name, Duration::from_secs(180)).await;
    eventually(
        "the old primary's pod ready",
        Duration::from_secs(120),
        || async { Ok(pods.get_opt(&primary).await?.filter(pod_ready).map(|_| ())) },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = writer.stop().await;
    let missing = lost(&client, &ns.name, &now, &log.acked).await;
    let figures = Figures {
        rto: log.rto(at),
        acked: log.acked.len(),
        lost: missing.len(),
        failed_writes: log.failed(),
        failed_over: now != primary,
    };
    eprintln!(
        "FIGURE {fault_kind:?} image={image} appendfsync={fsync}: RTO {:.1} s, {} of {} \
         acknowledged keys lost, {} failed writes, {} (primary {primary} -> {now})",
        figures.rto.as_secs_f64(),
        figures.lost,
        figures.acked,
        figures.failed_writes,
        if figures.failed_over {
            "failed over"
        } else {
            "restarted in place before down-after-milliseconds"
        },
    );
    // The test nodes stay until the caller's checks are done.
    (figures, w, ns, nodes)
}

/// After a failover: the plan is empty, and refresh reports the new primary in both
/// resources.
fn plan_is_empty_and_refresh_follows(w: &Workdir, primary: &str) {
    w.assert_plan_empty();
    w.refresh_only();
    let cache = w.attributes("redis_deployment.cache");
    assert_eq!(cache["primary_pod"], json!(primary), "{cache}");
    let ha = w.attributes("redis_sentinel.ha");
    assert_eq!(ha["current_primary_pod"], json!(primary), "{ha}");
    w.assert_plan_empty();
}

async fn deleting_the_primary_pod_fails_over_with(image: &str, prefix: &str) {
    let (f, w, ns, _nodes) =
        fault_case(Tool::Terraform, image, "always", Fault::PodDeleted, prefix).await;
    assert!(f.failed_over || f.rto < Duration::from_secs(5));
    assert_eq!(f.lost, 0, "acknowledged keys lost");
    assert!(f.acked > 100, "{} writes acknowledged", f.acked);
    let client = admin().await;
    let primary = settled_primary(&client, &ns.name, Duration::from_secs(30)).await;
    // Writes go through the new primary; the others (the old primary among them) replicate it.
    let mut conn = redis_admin(&client, &ns.name, &primary).await;
    let role = conn.call(&["ROLE"]).await.unwrap();
    assert!(format!("{role:?}").contains("master"), "{role:?}");
    plan_is_empty_and_refresh_follows(&w, &primary);
}

#[tokio::test]
async fn deleting_the_primary_pod_elects_a_new_primary_loses_no_key_and_the_plan_stays_empty() {
    deleting_the_primary_pod_fails_over_with(REDIS, "ha-del").await;
}

#[tokio::test]
async fn deleting_the_primary_pod_fails_over_on_valkey_8_too() {
    deleting_the_primary_pod_fails_over_with(VALKEY, "ha-del-vk").await;
}

#[tokio::test]
async fn killing_the_primary_process_resumes_writes_and_loses_no_acknowledged_key() {
    let (f, w, ns, _nodes) = fault_case(
        Tool::Terraform,
        REDIS,
        "always",
        Fault::ProcessKilled,
        "ha-kill",
    )
    .await;
    assert_eq!(f.lost, 0, "acknowledged keys lost");
    assert!(f.rto < Duration::from_secs(30), "RTO {:?}", f.rto);
    let client = admin().await;
    let primary = settled_primary(&client, &ns.name, Duration::from_secs(30)).await;
    plan_is_empty_and_refresh_follows(&w, &primary);
}

#[tokio::test]
async fn losing_the_primarys_node_fails_over_and_the_old_pod_rejoins_as_a_replica() {
    let (f, w, ns, _nodes) =
        fault_case(Tool::Terraform, REDIS, "always", Fault::NodeLost, "ha-node").await;
    assert!(
        f.failed_over,
        "a lost node's pod does not come back by itself"
    );
    assert_eq!(f.lost, 0, "acknowledged keys lost");
    let client = admin().await;
    let primary = settled_primary(&client, &ns.name, Duration::from_secs(30)).await;
    plan_is_empty_and_refresh_follows(&w, &primary);
}

#[tokio::test]
async fn deleting_every_data_and_sentinel_pod_at_once_ends_with_one_primary_and_no_key_lost() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "ha-all").await.unwrap();
    let w = Workdir::new(Tool::Terraform, &stack(&ns.name, REDIS, "always", ""));
    w.apply();
    let first = settled_primary(&client, &ns.name, Duration::from_secs(60)).await;
    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    // A failover first, so that the primary is not pod 0 any more: what the pods and
    // the Sentinels were first given is then wrong.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    pods.delete(&first, &DeleteParams::default()).await.unwrap();
    eventually("a failover", Duration::from_secs(90), || async {
        let p = sentinel_primary(&client, &ns.name).await?;
        Ok((p != first).then_some(()))
    })
    .await
    .unwrap();
    let moved = settled_primary(&client, &ns.name, Duration::from_secs(120)).await;
    let mut conn = PodRedis::connect(&client, &ns.name, &moved, 6379)
        .await
        .unwrap();
    conn.call(&["AUTH", &password]).await.unwrap();
    let keys: Vec<String> = (0..500).map(|i| format!("durable:{i}")).collect();
    for k in &keys {
        conn.call(&["SET", k, "v"]).await.unwrap();
    }
    drop(conn);

    let all = pods
        .list(&ListParams::default().labels("app.kubernetes.io/instance=cache"))
        .await
        .unwrap();
    let names: Vec<String> = all
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    for name in &names {
        pods.delete(name, &DeleteParams::default()).await.unwrap();
    }
    let now = settled_primary(&client, &ns.name, Duration::from_secs(240)).await;
    // Refresh reads the live primary once pods are ready (with none ready it keeps the
    // last value): wait for all six.
    eventually(
        "every pod ready again",
        Duration::from_secs(120),
        || async {
            let listed = pods
                .list(&ListParams::default().labels("app.kubernetes.io/instance=cache"))
                .await?;
            let ready = listed.items.iter().filter(|p| pod_ready(p)).count();
            Ok((ready == 6).then_some(()))
        },
    )
    .await
    .unwrap();
    let missing = lost(&client, &ns.name, &now, &keys).await;
    assert!(
        missing.is_empty(),
        "{} keys lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // A refresh right after every pod came back may not reach the primary yet (it then
    // keeps the last value): refresh until it reports the primary, then the usual checks.
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    eventually(
        "a refresh reports the primary",
        Duration::from_secs(90),
        || async {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            w.refresh_only();
            let cache = w.attributes("redis_deployment.cache");
            Ok((cache["primary_pod"] == json!(now)).then_some(()))
        },
    )
    .await
    .unwrap();
    eprintln!(
        "FIGURE all pods deleted: primary {first} -> {moved} (failover) -> {now} after the \
         restart; refreshes until it was reported: {}",
        attempts.into_inner()
    );
    plan_is_empty_and_refresh_follows(&w, &now);
}

#[tokio::test]
async fn a_rolling_restart_moves_the_primary_first_and_writes_keep_working() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "ha-roll").await.unwrap();
    let w = Workdir::new(Tool::Terraform, &stack(&ns.name, REDIS, "everysec", ""));
    w.apply();
    let first = settled_primary(&client, &ns.name, Duration::from_secs(60)).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let uids = |list: Vec<Pod>| -> Vec<(String, String)> {
        list.into_iter()
            .filter_map(|p| Some((p.metadata.name?, p.metadata.uid?)))
            .filter(|(n, _)| DATA_PODS.contains(&n.as_str()))
            .collect()
    };
    let before = uids(pods.list(&ListParams::default()).await.unwrap().items);
    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    let writer = Writer::start(&client, &ns.name, &password);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A change that restarts the pods.
    w.write(&stack(
        &ns.name,
        REDIS,
        "everysec",
        "  labels = { team = \"cache\" }\n",
    ));
    let started = Instant::now();
    let out = w.apply();
    let took = started.elapsed();
    let log = writer.stop().await;
    let after = uids(pods.list(&ListParams::default()).await.unwrap().items);
    for ((pod, a), (_, b)) in before.iter().zip(&after) {
        assert_ne!(a, b, "{pod} was not restarted:\n{out}");
    }
    let now = settled_primary(&client, &ns.name, Duration::from_secs(60)).await;
    let missing = lost(&client, &ns.name, &now, &log.acked).await;
    let longest = longest_outage(&log);
    eprintln!(
        "FIGURE rolling restart: {took:?}, {} writes, {} failed, longest outage {:.1} s, {} \
         acknowledged keys lost, primary {first} -> {now}",
        log.writes.len(),
        log.failed(),
        longest.as_secs_f64(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged keys lost",
        missing.len()
    );
    // Moving the primary costs a failover's switch, not a restart's down-after wait.
    assert!(
        longest < Duration::from_secs(5),
        "writes failed for {longest:?}"
    );
    plan_is_empty_and_refresh_follows(&w, &now);
}

/// Moves the primary to `target` with SENTINEL FAILOVER (the other replicas at
/// `replica-priority 0` meanwhile), and returns as soon as the Sentinels name it: the
/// Sentinels' views of the old primary are still settling then.
async fn fail_over_to(client: &Client, ns: &str, target: &str) {
    let primary = settled_primary(client, ns, Duration::from_secs(60)).await;
    let others: Vec<&str> = DATA_PODS
        .into_iter()
        .filter(|p| *p != target && *p != primary)
        .collect();
    let admin_pw = secret_value(client, ns, "cache-internal", "admin-password").await;
    // Setting the scene, not what is tested: a try that gets no answer (a replica the
    // Sentinels are just reconfiguring, a port-forward of a loaded bed) is tried again
    // on a new connection. CI once saw no reply within 10 s to the second CONFIG SET.
    let priority = |value: &'static str| {
        let (others, admin_pw) = (others.clone(), admin_pw.clone());
        async move {
            for pod in others {
                eventually(
                    &format!("{pod} takes replica-priority {value}"),
                    Duration::from_secs(60),
                    || async {
                        let mut conn = PodRedis::connect(client, ns, pod, 6379).await?;
                        conn.call(&["AUTH", "terraform", &admin_pw]).await?;
                        match conn
                            .call(&["CONFIG", "SET", "replica-priority", value])
                            .await?
                        {
                            Reply::Error(e) => bail!("CONFIG SET replica-priority: {e}"),
                            _ => Ok(Some(())),
                        }
                    },
                )
                .await
                .unwrap();
            }
        }
    };
    priority("0").await;
    let password = secret_value(client, ns, "cache-sentinel-internal", "admin-password").await;
    let mut conn = PodRedis::connect(client, ns, SENTINELS[0], 26379)
        .await
        .unwrap();
    conn.call(&["AUTH", "terraform", &password]).await.unwrap();
    conn.call(&["SENTINEL", "FAILOVER", "mymaster"])
        .await
        .unwrap();
    eventually(
        &format!("the Sentinels name {target}"),
        Duration::from_secs(60),
        || async { Ok((sentinel_primary(client, ns).await? == target).then_some(())) },
    )
    .await
    .unwrap();
    priority("100").await;
}

/// The primary lands on the pod a scale-down removes, and the scale-down is applied at
/// once: a Sentinel whose last look at the old primary still says `master` would turn
/// the replica the provider's failover promotes straight back. The apply moves the
/// primary anyway, the data stays, and the plan is empty.
#[tokio::test]
async fn a_scale_down_right_after_a_failover_moves_the_primary_off_the_removed_pod() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "ha-shrink").await.unwrap();
    let config = stack(&ns.name, REDIS, "everysec", "");
    let w = Workdir::new(Tool::Terraform, &config);
    w.apply();
    if settled_primary(&client, &ns.name, Duration::from_secs(60)).await == "cache-2" {
        fail_over_to(&client, &ns.name, "cache-1").await;
    }
    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    let primary = settled_primary(&client, &ns.name, Duration::from_secs(60)).await;
    let mut conn = PodRedis::connect(&client, &ns.name, &primary, 6379)
        .await
        .unwrap();
    conn.call(&["AUTH", &password]).await.unwrap();
    conn.call(&["SET", "kept", "yes"]).await.unwrap();
    fail_over_to(&client, &ns.name, "cache-2").await;

    w.write(&config.replacen("replicas  = 3", "replicas  = 2", 1));
    w.apply();
    let now = settled_primary_of(&client, &ns.name, 2, Duration::from_secs(60)).await;
    assert!(["cache-0", "cache-1"].contains(&now.as_str()), "{now}");
    let mut conn = PodRedis::connect(&client, &ns.name, &now, 6379)
        .await
        .unwrap();
    conn.call(&["AUTH", &password]).await.unwrap();
    assert_eq!(
        conn.call(&["GET", "kept"]).await.unwrap().text().unwrap(),
        "yes"
    );
    plan_is_empty_and_refresh_follows(&w, &now);
}

/// The longest run of failed writes, from its first to the next acknowledged one.
fn longest_outage(log: &Log) -> Duration {
    let mut longest = Duration::ZERO;
    let mut since = None;
    for (t, ok) in &log.writes {
        match (ok, since) {
            (false, None) => since = Some(*t),
            (true, Some(s)) => {
                longest = longest.max(t.duration_since(s));
                since = None;
            }
            _ => {}
        }
    }
    longest
}

/// The TN-99 failure table measured on the bed (`appendfsync everysec`): a benchmark,
/// run by benches/failover.sh, never by the suite.
#[tokio::test]
#[ignore = "a benchmark: benches/failover.sh runs it"]
async fn failover_figures() {
    let mut rows = Vec::new();
    for (kind, name) in [
        (Fault::ProcessKilled, "Redis pod crash (process killed)"),
        (Fault::PodDeleted, "Redis pod deleted"),
        (Fault::NodeLost, "Node failure (node lost)"),
    ] {
        let (f, w, _ns, _nodes) =
            fault_case(Tool::Terraform, REDIS, "everysec", kind, "ha-fig").await;
        w.destroy();
        rows.push(format!(
            "| {name} | {:.1} s | {} of {} | {} |",
            f.rto.as_secs_f64(),
            f.lost,
            f.acked,
            if f.failed_over {
                "Sentinel failover"
            } else {
                "restarted in place"
            }
        ));
    }
    println!("| Failure (down_after_milliseconds = 5000, appendfsync everysec) | RTO | acknowledged keys lost | recovery |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
