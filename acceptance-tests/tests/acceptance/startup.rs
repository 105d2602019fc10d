//! The start-up probe of a `redis_deployment`'s pods, against the test bed, under
//! terraform, with a dataset whose load is slowed down (Redis's hidden
//! `key-load-delay`, a slow disk's stand-in).
//!
//! What it can and cannot do: the liveness probe is a TCP connect, and Redis listens
//! while it loads (answering `LOADING`), so liveness alone never kills a loading pod;
//! the readiness probe (PING must answer PONG) keeps it out of the Service meanwhile.
//! What the start-up probe adds is the bound on a start: `startup_timeout` decides how
//! long a pod may take to load before Kubernetes restarts it. So the test shows both
//! sides of that bound on one deployment: a load within it ends with the pod ready, not
//! ready while Redis said LOADING and never restarted; a load longer than the budget is
//! restarted while Redis still loads, before it was ever ready. Without the start-up
//! probe nothing restarts that load, and the test fails.

use std::time::{Duration, Instant};

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::{info_field, Reply};
use acceptance_tests::{admin, client_conn, pod_ready, restart_count, TestNamespace};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

/// Keys of the dataset.
const KEYS: u32 = 20_000;
/// Per key loaded, in microseconds (`key-load-delay`), within the budget: 10 s or more.
const SLOW: u32 = 500;
/// Per key loaded beyond the budget: 100 s or more, ten times `startup_timeout` (a busy
/// bed runs the probes late, stretching the budget in wall time, never the load).
const SLOWER: u32 = 5_000;

fn deployment(ns: &str, startup_timeout: &str) -> String {
    format!(
        r#"resource "redis_deployment" "slow" {{
  name            = "slow"
  namespace       = "{ns}"
  startup_timeout = "{startup_timeout}"
  persistence     = {{ size = "1Gi" }}
  config          = {{ save = "3600 1" }}
}}
"#
    )
}

/// Slows the next load of `slow-0` down: the ConfigMap, edited out of band, makes Redis
/// sleep `micros` per key it loads and answer clients (LOADING) every KiB loaded rather
/// than every 2 MB; then the pod is deleted (saving its dataset on the way out). Returns
/// the old pod's uid.
async fn restart_with_a_slow_load(client: &Client, ns: &str, micros: u32) -> Option<String> {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut cm = maps.get("slow-config").await.unwrap();
    let conf = cm
        .data
        .as_mut()
        .and_then(|d| d.get_mut("redis.conf"))
        .unwrap();
    conf.push_str(&format!(
        "\nkey-load-delay {micros}\nloading-process-events-interval-bytes 1024\n"
    ));
    maps.replace("slow-config", &PostParams::default(), &cm)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let uid = pods.get("slow-0").await.unwrap().metadata.uid;
    pods.delete("slow-0", &DeleteParams::default())
        .await
        .unwrap();
    uid
}

/// Whether Redis on `slow-0` says it is loading its dataset.
async fn loading(client: &Client, ns: &str) -> bool {
    let Ok(mut c) = client_conn(client, ns, "slow", "slow-0").await else {
        return false;
    };
    matches!(c.call(&["INFO", "persistence"]).await,
        Ok(Reply::Text(info)) if info_field(&info, "loading") == Some("1"))
}

/// What the pod replacing `old_uid` went through, polled every second until `done`
/// says so or `limit` passes.
#[derive(Debug, Default)]
struct Start {
    /// When Redis was first seen answering LOADING, from the pod's creation.
    loading_at: Option<Duration>,
    /// Whether the pod was ever ready while Redis answered LOADING.
    ready_while_loading: bool,
    /// When the container was first seen restarted.
    restarted_at: Option<Duration>,
    /// When the pod was first seen ready.
    ready_at: Option<Duration>,
}

async fn watch_start(
    client: &Client,
    ns: &str,
    old_uid: &Option<String>,
    limit: Duration,
    done: impl Fn(&Start) -> bool,
) -> Start {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut seen = Start::default();
    let mut born: Option<Instant> = None;
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !done(&seen) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(pod) = pods.get_opt("slow-0").await.unwrap() else {
            continue;
        };
        if &pod.metadata.uid == old_uid {
            continue;
        }
        let since = born.get_or_insert_with(Instant::now).elapsed();
        let ready = pod_ready(&pod);
        if restart_count(&pod) > 0 && seen.restarted_at.is_none() {
            seen.restarted_at = Some(since);
        }
        if ready && seen.ready_at.is_none() {
            seen.ready_at = Some(since);
        }
        if seen.ready_at.is_none() && loading(client, ns).await {
            seen.loading_at.get_or_insert(since);
            // Ready before it answered LOADING: ready while loading (a load never
            // starts again in the same container).
            seen.ready_while_loading |= ready;
        }
    }
    seen
}

#[tokio::test]
async fn a_slow_load_within_startup_timeout_ends_ready_unrestarted_and_one_beyond_it_is_restarted_while_loading(
) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "startup").await.unwrap();
    let ns = ns.name.as_str();
    let w = Workdir::new(Tool::Terraform, &deployment(ns, "2m"));
    w.apply();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let probe = pods.get("slow-0").await.unwrap().spec.unwrap().containers[0]
        .startup_probe
        .clone()
        .expect("the redis container has a startup probe");
    assert_eq!(
        (probe.period_seconds, probe.failure_threshold),
        (Some(2), Some(60)),
        "2 minutes in 2 s steps"
    );
    let mut conn = client_conn(&client, ns, "slow", "slow-0").await.unwrap();
    let script = format!("for i = 1, {KEYS} do redis.call('SET', 'k' .. i, i) end return 1");
    conn.call(&["EVAL", &script, "0"]).await.unwrap();
    drop(conn);

    // Within the budget: not ready while loading, never restarted, ready once loaded.
    let old = restart_with_a_slow_load(&client, ns, SLOW).await;
    let within = watch_start(&client, ns, &old, Duration::from_secs(150), |s| {
        s.ready_at.is_some() || s.restarted_at.is_some()
    })
    .await;
    eprintln!("a {KEYS}-key slow load within a 2 m budget: {within:?}");
    assert!(
        within.loading_at.is_some(),
        "Redis was seen loading: {within:?}"
    );
    assert!(
        !within.ready_while_loading,
        "ready while loading: {within:?}"
    );
    assert_eq!(
        within.restarted_at, None,
        "restarted while loading: {within:?}"
    );
    assert!(
        within.ready_at.is_some(),
        "not ready after its load: {within:?}"
    );
    let mut conn = client_conn(&client, ns, "slow", "slow-0").await.unwrap();
    assert_eq!(
        conn.call(&["DBSIZE"]).await.unwrap(),
        Reply::Int(KEYS as i64)
    );
    drop(conn);

    // A budget shorter than the load (the apply rolls the pod, rewriting the ConfigMap:
    // that start is fast): the slow load is restarted while Redis still loads, which
    // liveness could not have done (its port answers, and it has not started yet).
    w.write(&deployment(ns, "10s"));
    w.apply();
    let old = restart_with_a_slow_load(&client, ns, SLOWER).await;
    let beyond = watch_start(&client, ns, &old, Duration::from_secs(180), |s| {
        s.restarted_at.is_some() || s.ready_at.is_some()
    })
    .await;
    eprintln!("a slower load with a 10 s budget: {beyond:?}");
    assert!(
        beyond.loading_at.is_some(),
        "Redis was seen loading: {beyond:?}"
    );
    let restarted = beyond
        .restarted_at
        .unwrap_or_else(|| panic!("the start outlasting startup_timeout went on: {beyond:?}"));
    assert_eq!(
        beyond.ready_at, None,
        "ready before the restart: {beyond:?}"
    );
    eprintln!("restarted {restarted:?} into its start, while loading");
    w.destroy();
}
