//! `redis_deployment.streams` against the test bed: the groups exist after apply; a group
//! deleted out of band is drift the plan names and the next apply restores, the entries
//! and the other groups' positions untouched; removing a group or stream from the
//! configuration leaves it in Redis unless `delete_on_remove` asks otherwise. And the
//! start-up probe: a dataset that takes longer to load than the liveness probe's window
//! loads to the end, the container never restarted, and the pod becomes ready.

use std::time::{Duration, Instant};

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::{info_field, Reply};
use acceptance_tests::{
    admin, client_conn, flat, pod_ready, restart_count, PodRedis, TestNamespace,
};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DeleteParams, PostParams};
use kube::Api;

fn deployment(ns: &str, streams: &str) -> String {
    format!(
        r#"resource "redis_deployment" "queue" {{
  name        = "queue"
  namespace   = "{ns}"
  persistence = {{ enabled = false }}
  streams     = [{streams}]
}}
"#
    )
}

/// The stream `raibid:jobs` (db 0) with `jobs_body`, and `events` (db 1) with its group.
fn two_streams(ns: &str, jobs_body: &str) -> String {
    deployment(
        ns,
        &format!(
            r#"
    {{ name = "raibid:jobs", {jobs_body} }},
    {{ name = "events", db = 1, groups = ["audit"], maxlen = 1000 }},
  "#
        ),
    )
}

/// The group names of `stream` in database `db`, sorted (none when the key is gone).
async fn groups(conn: &mut PodRedis, db: u32, stream: &str) -> Vec<String> {
    conn.call(&["SELECT", &db.to_string()]).await.unwrap();
    let reply = match conn.call(&["XINFO", "GROUPS", stream]).await {
        Ok(r) => r,
        Err(e) if e.to_string().contains("no such key") => return Vec::new(),
        Err(e) => panic!("XINFO GROUPS {stream}: {e}"),
    };
    let Reply::Array(items) = reply else {
        panic!("XINFO GROUPS {stream}: {reply:?}")
    };
    let mut names: Vec<String> = items
        .iter()
        .filter_map(|g| match g {
            Reply::Array(fields) => fields
                .chunks(2)
                .find(|p| p[0] == Reply::Text("name".into()))
                .and_then(|p| p[1].text().ok().map(str::to_owned)),
            _ => None,
        })
        .collect();
    names.sort();
    names
}

/// A field of group `group` of `stream` (database 0) as XINFO GROUPS reports it.
async fn group_field(conn: &mut PodRedis, stream: &str, group: &str, field: &str) -> Reply {
    conn.call(&["SELECT", "0"]).await.unwrap();
    let Reply::Array(items) = conn.call(&["XINFO", "GROUPS", stream]).await.unwrap() else {
        panic!("XINFO GROUPS {stream}")
    };
    for g in items {
        let Reply::Array(fields) = g else { continue };
        let get = |name: &str| {
            fields
                .chunks(2)
                .find(|p| p[0] == Reply::Text(name.into()))
                .map(|p| p[1].clone())
        };
        if get("name") == Some(Reply::Text(group.into())) {
            return get(field).unwrap_or_else(|| panic!("no {field} in {fields:?}"));
        }
    }
    panic!("no group {group} on {stream}")
}

async fn xlen(conn: &mut PodRedis, db: u32, stream: &str) -> Reply {
    conn.call(&["SELECT", &db.to_string()]).await.unwrap();
    conn.call(&["XLEN", stream]).await.unwrap()
}

#[tokio::test]
async fn stream_groups_are_created_restored_after_an_out_of_band_delete_and_never_dropped_unasked()
{
    let client = admin().await;
    let ns = TestNamespace::create(&client, "streams").await.unwrap();
    let w = Workdir::new(
        Tool::Terraform,
        &two_streams(&ns.name, r#"groups = ["raibid-workers", "audit"]"#),
    );
    w.apply();
    w.assert_plan_empty();
    let mut conn = client_conn(&client, &ns.name, "queue", "queue-0")
        .await
        .unwrap();
    assert_eq!(
        groups(&mut conn, 0, "raibid:jobs").await,
        ["audit", "raibid-workers"]
    );
    assert_eq!(groups(&mut conn, 1, "events").await, ["audit"]);

    // Jobs queued, one of them read by a worker: the group's position moves.
    conn.call(&["SELECT", "0"]).await.unwrap();
    for i in 0..3 {
        conn.call(&["XADD", "raibid:jobs", "*", "job_id", &i.to_string()])
            .await
            .unwrap();
    }
    conn.call(&[
        "XREADGROUP",
        "GROUP",
        "raibid-workers",
        "w1",
        "COUNT",
        "1",
        "STREAMS",
        "raibid:jobs",
        ">",
    ])
    .await
    .unwrap();
    let position = group_field(
        &mut conn,
        "raibid:jobs",
        "raibid-workers",
        "last-delivered-id",
    )
    .await;

    // A group deleted behind Terraform's back: the plan names it, the apply restores it.
    conn.call(&["XGROUP", "DESTROY", "raibid:jobs", "audit"])
        .await
        .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "the plan restores the group: {plan}");
    assert!(
        plan.contains("+ \"audit\""),
        "the plan names the group: {plan}"
    );
    assert!(plan.contains("1 to change"), "{plan}");
    w.apply();
    w.assert_plan_empty();
    assert_eq!(
        groups(&mut conn, 0, "raibid:jobs").await,
        ["audit", "raibid-workers"]
    );
    // The entries and the workers' position and pending entry are untouched.
    assert_eq!(xlen(&mut conn, 0, "raibid:jobs").await, Reply::Int(3));
    assert_eq!(
        group_field(
            &mut conn,
            "raibid:jobs",
            "raibid-workers",
            "last-delivered-id"
        )
        .await,
        position
    );
    assert_eq!(
        group_field(&mut conn, "raibid:jobs", "raibid-workers", "pending").await,
        Reply::Int(1)
    );

    // Removed from the configuration: a group and a whole stream stay in Redis, and the
    // plan says so.
    w.write(&deployment(
        &ns.name,
        r#"{ name = "raibid:jobs", groups = ["raibid-workers"] }"#,
    ));
    let plan = flat(&w.ok(&["plan", "-input=false", "-no-color"]));
    assert!(plan.contains("Removed streams stay in Redis"), "{plan}");
    assert!(
        plan.contains(r#"group "audit" of stream "raibid:jobs""#)
            && plan.contains(r#"stream "events" (db 1)"#),
        "{plan}"
    );
    w.apply();
    w.assert_plan_empty();
    assert_eq!(
        groups(&mut conn, 0, "raibid:jobs").await,
        ["audit", "raibid-workers"]
    );
    assert_eq!(groups(&mut conn, 1, "events").await, ["audit"]);

    // Asked for: with delete_on_remove, a group removed is destroyed; the entries stay.
    w.write(&deployment(
        &ns.name,
        r#"{ name = "raibid:jobs", groups = ["audit"], delete_on_remove = true }"#,
    ));
    let plan = flat(&w.ok(&["plan", "-input=false", "-no-color"]));
    assert!(plan.contains("Streams data will be deleted"), "{plan}");
    w.apply();
    w.assert_plan_empty();
    assert_eq!(groups(&mut conn, 0, "raibid:jobs").await, ["audit"]);
    assert_eq!(xlen(&mut conn, 0, "raibid:jobs").await, Reply::Int(3));
}

/// Keys the slow-load test writes; at 1 ms each (`key-load-delay 1000`) the load takes
/// about 80 s, longer than the liveness probe's window (10 s delay + 6 misses x 10 s).
const SLOW_KEYS: u32 = 80_000;

/// The liveness probe's window: initial delay + failureThreshold x period.
const LIVENESS_WINDOW: Duration = Duration::from_secs(70);

#[tokio::test]
async fn a_dataset_loading_longer_than_the_liveness_window_survives_under_the_startup_probe_with_tofu(
) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "startup").await.unwrap();
    let w = Workdir::new(
        Tool::Tofu,
        &format!(
            r#"resource "redis_deployment" "slow" {{
  name            = "slow"
  namespace       = "{ns}"
  startup_timeout = "4m"
  persistence     = {{ size = "1Gi" }}
  config          = {{ save = "3600 1" }}
}}
"#,
            ns = ns.name
        ),
    );
    w.apply();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let before = pods.get("slow-0").await.unwrap();
    let probe = before.spec.as_ref().unwrap().containers[0]
        .startup_probe
        .clone()
        .expect("the redis container has a startup probe");
    assert_eq!(
        (probe.period_seconds, probe.failure_threshold),
        (Some(10), Some(24)),
        "4 minutes in 10 s steps"
    );

    // A dataset, saved on the volume when the pod stops.
    let mut conn = client_conn(&client, &ns.name, "slow", "slow-0")
        .await
        .unwrap();
    let script = format!("for i = 1, {SLOW_KEYS} do redis.call('SET', 'k' .. i, i) end return 1");
    conn.call(&["EVAL", &script, "0"]).await.unwrap();
    drop(conn);
    // Loading slowed down (a slow disk's stand-in): Redis's own hidden directives, added
    // to the ConfigMap out of band, make it sleep 1 ms per key it loads and answer
    // clients (LOADING) every KiB loaded rather than every 2 MB.
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let mut cm = maps.get("slow-config").await.unwrap();
    let data = cm.data.as_mut().unwrap();
    let conf = data.get_mut("redis.conf").unwrap();
    conf.push_str("\nkey-load-delay 1000\nloading-process-events-interval-bytes 1024\n");
    maps.replace("slow-config", &PostParams::default(), &cm)
        .await
        .unwrap();
    pods.delete("slow-0", &DeleteParams::default())
        .await
        .unwrap();

    // The new pod loads for longer than liveness would allow, is never restarted, and
    // becomes ready with every key once loaded.
    let old_uid = before.metadata.uid.clone();
    let started = Instant::now();
    let mut seen_loading = false;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(230),
            "slow-0 not ready within 230 s"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let Some(pod) = pods.get_opt("slow-0").await.unwrap() else {
            continue;
        };
        if pod.metadata.uid == old_uid {
            continue;
        }
        assert_eq!(
            restart_count(&pod),
            0,
            "the loading container was restarted after {:?}",
            started.elapsed()
        );
        if pod_ready(&pod) {
            break;
        }
        if !seen_loading {
            if let Ok(mut c) = client_conn(&client, &ns.name, "slow", "slow-0").await {
                if let Ok(Reply::Text(info)) = c.call(&["INFO", "persistence"]).await {
                    seen_loading = info_field(&info, "loading") == Some("1");
                }
            }
        }
    }
    let took = started.elapsed();
    assert!(seen_loading, "Redis was seen loading its dataset");
    assert!(
        took > LIVENESS_WINDOW,
        "the load ({took:?}) outlasted the liveness window ({LIVENESS_WINDOW:?})"
    );
    let mut conn = client_conn(&client, &ns.name, "slow", "slow-0")
        .await
        .unwrap();
    assert_eq!(
        conn.call(&["DBSIZE"]).await.unwrap(),
        Reply::Int(SLOW_KEYS as i64)
    );
    eprintln!("slow-0 loaded {SLOW_KEYS} keys and became ready after {took:?}, not restarted");
}
