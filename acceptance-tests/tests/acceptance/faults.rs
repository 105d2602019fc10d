//! Faults while an apply runs, under terraform and tofu against the test bed: the
//! provider killed (SIGKILL) mid-create and mid-way through a rolling update, a Redis
//! pod killed while the provider waits for readiness and while it changes a setting
//! live, the port-forward streams cut while it talks to Redis, a failover under a live
//! change, and (alone, `whole_bed`) the API server stopped for 20 s. Each apply either
//! rides the fault out or fails with a diagnostic that says what happened, never hangs;
//! the next apply converges (the plan after it is empty) and destroy leaves nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acceptance_tests::bed::fault;
use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::leftovers::nothing_left;
use acceptance_tests::resp::Reply;
use acceptance_tests::{
    admin, client_conn, eventually, flat, pod_ready, restart_count, PodRedis, TestNamespace,
};
use anyhow::{bail, Result};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::DeleteParams;
use kube::{Api, Client};
use tokio::task::JoinHandle;

use crate::deployment::secret_value;

pub(crate) const APPLY: &[&str] = &["apply", "-auto-approve", "-input=false", "-no-color"];

/// How long a fault may take to show up once its apply started (pods scheduled, a
/// rollout begun); the waits end as soon as it does.
const SHOWS_UP: Duration = Duration::from_secs(180);

/// A `redis_deployment` named `cache` in `ns` with `replicas` pods and `body` (HCL
/// lines) in its block.
fn deployment(ns: &str, replicas: u32, body: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         replicas  = {replicas}\n{body}\n}}\n"
    )
}

/// An apply running on a blocking thread while the test injects a fault.
pub(crate) struct Running {
    task: JoinHandle<Output>,
    started: Instant,
}

impl Running {
    /// Starts `apply -auto-approve` in `w`.
    pub(crate) fn start(w: &Arc<Workdir>) -> Running {
        let w = w.clone();
        Running {
            task: tokio::task::spawn_blocking(move || w.run(APPLY)),
            started: Instant::now(),
        }
    }

    /// Whether the apply is still running.
    pub(crate) fn running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Waits for the apply's end: its output and how long it ran.
    pub(crate) async fn finish(self) -> (Output, Duration) {
        let out = self.task.await.expect("the apply's thread");
        (out, self.started.elapsed())
    }
}

/// "succeeded" or "failed".
fn outcome(out: &Output) -> &'static str {
    if out.status.success() {
        "succeeded"
    } else {
        "failed"
    }
}

/// Whether the CLI says its provider went away mid-request (as the plugin's connection
/// broke: no response, or the request cancelled).
fn gone(text: &str) -> bool {
    text.contains("Plugin did not respond")
        || text.contains("ApplyResourceChange request was cancelled")
}

/// What a command printed, stdout then stderr, as one line.
pub(crate) fn printed(out: &Output) -> String {
    flat(&format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// The provider processes the CLI running in `dir` started: executables named
/// `terraform-provider-redis*` whose working directory is `dir` (plugins inherit the
/// CLI's).
fn provider_pids(dir: &Path) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            exe.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("terraform-provider-redis"))
                && cwd == dir
        })
        .collect()
}

/// SIGKILLs every provider process of the CLI running in `w`; the pids killed.
pub(crate) fn kill_provider(w: &Workdir) -> Vec<u32> {
    let pids = provider_pids(w.path());
    for pid in &pids {
        let out = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .output()
            .expect("running kill");
        assert!(out.status.success(), "kill -KILL {pid}: {out:?}");
    }
    pids
}

/// The StatefulSet `cache` in `ns`, if any.
async fn stateful_set(client: &Client, ns: &str) -> Result<Option<StatefulSet>> {
    Ok(Api::<StatefulSet>::namespaced(client.clone(), ns)
        .get_opt("cache")
        .await?)
}

/// `CONFIG GET name` on `pod` as the provider's own user.
async fn config_get(client: &Client, ns: &str, pod: &str, name: &str) -> Result<String> {
    let password = secret_value(client, ns, "cache-internal", "admin-password").await;
    let mut conn = PodRedis::connect(client, ns, pod, 6379).await?;
    conn.call(&["AUTH", "terraform", &password]).await?;
    match conn.call(&["CONFIG", "GET", name]).await? {
        Reply::Array(items) if items.len() == 2 => Ok(items[1].text()?.to_string()),
        other => bail!("CONFIG GET {name} on {pod}: {other:?}"),
    }
}

/// Asserts every pod of `cache` has `name` = `value` in effect.
async fn in_effect(client: &Client, ns: &str, pods: &[&str], name: &str, value: &str) {
    for pod in pods {
        let got = eventually(
            &format!("{pod} answers CONFIG GET {name}"),
            Duration::from_secs(60),
            || async { Ok(Some(config_get(client, ns, pod, name).await?)) },
        )
        .await
        .unwrap();
        assert_eq!(got, value, "{pod}: {name} is in effect");
    }
}

/// Whether the ConfigMap of `cache` already renders `line` (the apply has written its
/// objects and is now talking to the pods).
async fn config_map_has(client: &Client, ns: &str, line: &str) -> Result<bool> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt("cache-config")
        .await?;
    Ok(cm
        .and_then(|c| c.data)
        .and_then(|d| d.get("redis.conf").cloned())
        .is_some_and(|conf| conf.lines().any(|l| l.trim() == line)))
}

/// The port-forward streams open to `pod` now: the relay processes kwok runs in the
/// pod's network namespace (`tbp-<sha1(uid)[:10]>`, the test bed's runtime), by pid.
async fn streams_to(client: &Client, ns: &str, pod: &str) -> Result<BTreeSet<u32>> {
    let Some(uid) = Api::<Pod>::namespaced(client.clone(), ns)
        .get_opt(pod)
        .await?
        .and_then(|p| p.metadata.uid)
    else {
        return Ok(BTreeSet::new());
    };
    let mut sha = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    sha.stdin
        .take()
        .expect("sha1sum's stdin")
        .write_all(uid.as_bytes())?;
    let digest = String::from_utf8(sha.wait_with_output()?.stdout)?;
    let netns = format!("tbp-{}", &digest[..10]);
    let out = Command::new("ip")
        .args(["netns", "pids", &netns])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| is_stream_relay(&c))
        })
        .collect())
}

/// Whether a process's command line (`/proc/<pid>/cmdline`) is a port-forward stream's
/// relay: the bed's `testbed-forward`, or `socat` where the bed could not build it.
fn is_stream_relay(cmdline: &[u8]) -> bool {
    let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let name = program.rsplit(|b| *b == b'/').next().unwrap_or_default();
    name.starts_with(b"testbed-forward") || cmdline.starts_with(b"socat\0STDIO\0TCP:127.0.0.1:")
}

/// Connections to pods that hold every command sent to them on demand (CLIENT PAUSE
/// ALL, which the deployment allows its clients), and the port-forward streams open to
/// each pod when they were made (theirs among them).
struct Holder {
    conns: Vec<PodRedis>,
    before: BTreeMap<String, BTreeSet<u32>>,
}

impl Holder {
    async fn open(client: &Client, ns: &str, pods: &[&str]) -> Holder {
        let mut conns = Vec::new();
        for pod in pods {
            conns.push(client_conn(client, ns, "cache", pod).await.unwrap());
        }
        let mut before = BTreeMap::new();
        for pod in pods {
            before.insert(pod.to_string(), streams_to(client, ns, pod).await.unwrap());
        }
        Holder { conns, before }
    }

    /// From now on the pods hold every command for `ms`: whoever talks to them next
    /// waits with a command in flight.
    async fn hold(&mut self, ms: u32) {
        for conn in &mut self.conns {
            conn.call(&["CLIENT", "PAUSE", &ms.to_string(), "ALL"])
                .await
                .unwrap();
        }
    }
}

/// Waits (polling every 20 ms, to be there before the provider talks to the pods) until
/// the apply has written the ConfigMap rendering `line`, then holds the pods' commands
/// for `ms`.
async fn hold_once_written(
    client: &Client,
    ns: &str,
    line: &str,
    holder: &mut Holder,
    ms: u32,
    apply: &Running,
) {
    let deadline = Instant::now() + SHOWS_UP;
    while !config_map_has(client, ns, line).await.unwrap() {
        assert!(apply.running(), "the apply ended before the fault");
        assert!(
            Instant::now() < deadline,
            "{line:?} not written in {SHOWS_UP:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.hold(ms).await;
}

/// Waits until the provider has a command in flight to one of the paused pods (a
/// stream not open before [`pause`]); that pod.
async fn provider_waits_on(
    client: &Client,
    ns: &str,
    before: &BTreeMap<String, BTreeSet<u32>>,
    apply: &Running,
) -> String {
    eventually(
        "the provider sends a paused pod a command",
        Duration::from_secs(30),
        || async {
            assert!(apply.running(), "the apply ended before the fault");
            for (pod, open) in before {
                let now = streams_to(client, ns, pod).await?;
                if now.difference(open).next().is_some() {
                    return Ok(Some(pod.clone()));
                }
            }
            Ok(None)
        },
    )
    .await
    .unwrap()
}

/// The apply ended within `limit` (its timeout and a margin): it did not hang.
fn ended_within(took: Duration, limit: Duration, out: &str) {
    assert!(
        took < limit,
        "the apply ran {took:?}, longer than {limit:?}:\n{out}"
    );
}

/// The apply after a fault converges and the plan after it is empty.
fn next_apply_converges(w: &Workdir) -> String {
    let out = w.apply();
    w.assert_plan_empty();
    out
}

/// Destroy leaves nothing of the deployment in `ns`.
async fn destroy_leaves_nothing(w: &Workdir, client: &Client, ns: &str) {
    w.destroy();
    nothing_left(client, ns, Duration::from_secs(120))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_provider_killed_mid_create_and_mid_rolling_update_is_converged_by_the_next_apply() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "fault-sigkill")
        .await
        .unwrap();
    let w = Arc::new(Workdir::new(Tool::Terraform, &deployment(&ns.name, 1, "")));

    // Mid-create: the StatefulSet is written, its pods are not all ready yet.
    let apply = Running::start(&w);
    let (killed, sts_uid) = eventually(
        "the create has written the StatefulSet",
        SHOWS_UP,
        || async {
            assert!(apply.running(), "the create ended before the fault");
            let Some(sts) = stateful_set(&client, &ns.name).await? else {
                return Ok(None);
            };
            let pids = kill_provider(&w);
            Ok((!pids.is_empty()).then(|| (pids, sts.metadata.uid.clone())))
        },
    )
    .await
    .unwrap();
    let (out, took) = apply.finish().await;
    let text = printed(&out);
    assert!(!out.status.success(), "the apply fails: {text}");
    assert!(
        gone(&text),
        "terraform says the provider went away (killed {killed:?}): {text}"
    );
    ended_within(took, Duration::from_secs(300), &text);
    assert!(
        !w.state_file().contains("\"redis_deployment\""),
        "the killed create left nothing in state"
    );

    // The next apply creates it again over its own half-made objects.
    let out = next_apply_converges(&w);
    assert!(out.contains("1 added, 0 changed, 0 destroyed"), "{out}");
    let sts = stateful_set(&client, &ns.name).await.unwrap().unwrap();
    assert_eq!(
        sts.metadata.uid, sts_uid,
        "the StatefulSet the killed create wrote was taken over, not replaced"
    );

    // Mid-update: a restart directive rolls the pods; the provider dies during the roll.
    let rolled = deployment(
        &ns.name,
        1,
        "  config = {\n    extra = { databases = \"20\" }\n  }",
    );
    w.write(&rolled);
    let apply = Running::start(&w);
    let killed = eventually("the rolling update has begun", SHOWS_UP, || async {
        assert!(apply.running(), "the update ended before the fault");
        let Some(sts) = stateful_set(&client, &ns.name).await? else {
            bail!("the StatefulSet is gone");
        };
        let status = sts.status.unwrap_or_default();
        let rolling =
            status.update_revision.is_some() && status.update_revision != status.current_revision;
        if !rolling {
            return Ok(None);
        }
        let pids = kill_provider(&w);
        Ok((!pids.is_empty()).then_some(pids))
    })
    .await
    .unwrap();
    let (out, took) = apply.finish().await;
    let text = printed(&out);
    assert!(
        !out.status.success() && gone(&text),
        "the update fails, the provider ({killed:?}) gone: {text}"
    );
    ended_within(took, Duration::from_secs(300), &text);
    // The state still holds the prior settings: the next apply makes the change again.
    let out = next_apply_converges(&w);
    assert!(out.contains("0 added, 1 changed, 0 destroyed"), "{out}");
    in_effect(&client, &ns.name, &["cache-0"], "databases", "20").await;
    destroy_leaves_nothing(&w, &client, &ns.name).await;
}

#[tokio::test]
async fn a_redis_pod_killed_during_the_readiness_wait_and_during_a_live_change_and_cut_port_forwards_converge_with_tofu(
) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "fault-pod").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let timeouts = "  timeouts {\n    create = \"4m\"\n    update = \"3m\"\n  }";
    let hcl = |maxmemory: Option<&str>| {
        let config = maxmemory
            .map(|m| format!("  config = {{ maxmemory = \"{m}\" }}\n"))
            .unwrap_or_default();
        deployment(
            &ns.name,
            2,
            &format!("  allow_commands = [\"client|pause\"]\n{config}{timeouts}"),
        )
    };
    let w = Arc::new(Workdir::new(Tool::Tofu, &hcl(None)));

    // The readiness wait: pod 0's server is killed as soon as it runs.
    let apply = Running::start(&w);
    eventually("cache-0 runs while the create waits", SHOWS_UP, || async {
        assert!(apply.running(), "the create ended before the fault");
        let Some(pod) = pods.get_opt("cache-0").await? else {
            return Ok(None);
        };
        let running = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.name == "redis"))
            .and_then(|c| c.state.as_ref())
            .is_some_and(|s| s.running.is_some());
        if !running {
            return Ok(None);
        }
        fault(&["kill-pod", &format!("{}/cache-0", ns.name), "redis"])?;
        Ok(Some(()))
    })
    .await
    .unwrap();
    let (out, took) = apply.finish().await;
    let text = printed(&out);
    assert!(
        out.status.success(),
        "the create waits out a server that restarts: {text}"
    );
    ended_within(took, Duration::from_secs(240), &text);
    let pod0 = pods.get("cache-0").await.unwrap();
    assert!(
        restart_count(&pod0) >= 1 && pod_ready(&pod0),
        "cache-0 was killed and came back: {:?}",
        pod0.status
    );
    w.assert_plan_empty();

    // A live change (CONFIG SET on each pod): the pods hold commands once the new
    // ConfigMap is written; the first pod the provider waits on is killed mid-command.
    w.write(&hcl(Some("64mb")));
    let mut holder = Holder::open(&client, &ns.name, &["cache-0", "cache-1"]).await;
    let apply = Running::start(&w);
    hold_once_written(
        &client,
        &ns.name,
        "maxmemory 64mb",
        &mut holder,
        4000,
        &apply,
    )
    .await;
    let victim = provider_waits_on(&client, &ns.name, &holder.before, &apply).await;
    drop(holder);
    fault(&["kill-pod", &format!("{}/{victim}", ns.name), "redis"]).unwrap();
    let (out, took) = apply.finish().await;
    let text = printed(&out);
    eprintln!(
        "{victim} killed during the live change: the apply {} in {took:?}",
        outcome(&out)
    );
    ended_within(took, Duration::from_secs(240), &text);
    if !out.status.success() {
        assert!(
            text.contains("Error:") && text.contains(&victim),
            "a failed live change names the pod: {text}"
        );
    }
    next_apply_converges(&w);
    in_effect(
        &client,
        &ns.name,
        &["cache-0", "cache-1"],
        "maxmemory",
        "67108864",
    )
    .await;

    // Another live change: the port-forward stream of the command in flight is cut.
    w.write(&hcl(Some("96mb")));
    let mut holder = Holder::open(&client, &ns.name, &["cache-0", "cache-1"]).await;
    let apply = Running::start(&w);
    hold_once_written(
        &client,
        &ns.name,
        "maxmemory 96mb",
        &mut holder,
        4000,
        &apply,
    )
    .await;
    let cut = provider_waits_on(&client, &ns.name, &holder.before, &apply).await;
    drop(holder);
    fault(&["cut-portforwards", &format!("{}/{cut}", ns.name)]).unwrap();
    let (out, took) = apply.finish().await;
    let text = printed(&out);
    eprintln!(
        "the stream to {cut} cut mid-command: the apply {} in {took:?}",
        outcome(&out)
    );
    ended_within(took, Duration::from_secs(240), &text);
    if !out.status.success() {
        assert!(
            text.contains("Error:") && text.contains(&cut),
            "a failed live change names the pod: {text}"
        );
    }
    next_apply_converges(&w);
    in_effect(
        &client,
        &ns.name,
        &["cache-0", "cache-1"],
        "maxmemory",
        "100663296",
    )
    .await;
    destroy_leaves_nothing(&w, &client, &ns.name).await;
}

/// The data pod each Sentinel names as primary, asking them in turn.
async fn sentinel_primary(client: &Client, ns: &str) -> Result<String> {
    for s in ["cache-sentinel-0", "cache-sentinel-1", "cache-sentinel-2"] {
        let Ok(mut conn) = PodRedis::connect(client, ns, s, 26379).await else {
            continue;
        };
        if let Ok(Reply::Array(items)) = conn
            .call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])
            .await
        {
            if let Some(host) = items.first() {
                return Ok(host.text()?.split('.').next().unwrap_or("").to_string());
            }
        }
    }
    bail!("no Sentinel names a primary")
}

#[tokio::test]
async fn a_failover_during_a_live_change_lands_the_change_on_the_new_primary_and_the_plan_follows()
{
    let client = admin().await;
    let ns = TestNamespace::create(&client, "fault-failover")
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let stack = |maxmemory: &str| {
        format!(
            "{}\nresource \"redis_sentinel\" \"ha\" {{\n  deployment_id           = redis_deployment.cache.id\n  \
             down_after_milliseconds = 5000\n}}\n",
            deployment(
                &ns.name,
                3,
                &format!(
                    "  config = {{ maxmemory = \"{maxmemory}\" }}\n  timeouts {{\n    update = \"4m\"\n  }}"
                )
            )
        )
    };
    let w = Arc::new(Workdir::new(Tool::Terraform, &stack("64mb")));
    w.apply();
    let before = eventually("the Sentinels name a primary", SHOWS_UP, || async {
        Ok(Some(sentinel_primary(&client, &ns.name).await?))
    })
    .await
    .unwrap();

    // The primary's pod is deleted once the live change is written.
    w.write(&stack("96mb"));
    let apply = Running::start(&w);
    eventually("the live change is written", SHOWS_UP, || async {
        assert!(apply.running(), "the update ended before the fault");
        if !config_map_has(&client, &ns.name, "maxmemory 96mb").await? {
            return Ok(None);
        }
        pods.delete(&before, &DeleteParams::default().grace_period(0))
            .await?;
        Ok(Some(()))
    })
    .await
    .unwrap();
    let (out, took) = apply.finish().await;
    let text = printed(&out);
    ended_within(took, Duration::from_secs(300), &text);
    if !out.status.success() {
        assert!(text.contains("Error:"), "{text}");
    }
    next_apply_converges(&w);
    let data = ["cache-0", "cache-1", "cache-2"];
    in_effect(&client, &ns.name, &data, "maxmemory", "100663296").await;
    // The state follows the primary the Sentinels name, wherever the failover put it.
    let now = sentinel_primary(&client, &ns.name).await.unwrap();
    w.refresh_only();
    assert_eq!(
        w.attributes("redis_deployment.cache")["primary_pod"],
        serde_json::json!(now),
        "refresh reports the primary (was {before})"
    );
    w.assert_plan_empty();
    destroy_leaves_nothing(&w, &client, &ns.name).await;
}

/// Whole bed: stops the API server every test uses. Ignored by a plain `cargo test`;
/// run-all runs it alone, after the suite (`-- --ignored whole_bed`).
#[tokio::test]
#[ignore = "whole_bed: stops the bed's API server"]
async fn whole_bed_an_api_server_stopped_for_20_s_during_an_apply_ends_it_within_its_timeout() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "fault-apiserver")
        .await
        .unwrap();
    let hcl = deployment(&ns.name, 1, "  timeouts {\n    create = \"2m\"\n  }");
    let w = Arc::new(Workdir::new(Tool::Tofu, &hcl));
    let apply = Running::start(&w);
    eventually(
        "the create has written the StatefulSet",
        SHOWS_UP,
        || async {
            assert!(apply.running(), "the create ended before the fault");
            Ok(stateful_set(&client, &ns.name).await?.map(|_| ()))
        },
    )
    .await
    .unwrap();
    fault(&["apiserver-stop"]).unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    fault(&["apiserver-start"]).unwrap();
    let (out, took) = apply.finish().await;
    let text = printed(&out);
    eprintln!(
        "the API server stopped 20 s: the create {} in {took:?}",
        outcome(&out)
    );
    // The create's timeout is 2 minutes: it rides the outage out or fails within it.
    ended_within(took, Duration::from_secs(180), &text);
    if !out.status.success() {
        // The timeout quotes what the create was still waiting for, and why.
        assert!(
            text.contains("Error:") && text.contains("timed out after 120s waiting for"),
            "a failed create says what it waited for: {text}"
        );
    }
    next_apply_converges(&w);
    let client = admin().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    assert!(pod_ready(&pods.get("cache-0").await.unwrap()));
    destroy_leaves_nothing(&w, &client, &ns.name).await;
}
