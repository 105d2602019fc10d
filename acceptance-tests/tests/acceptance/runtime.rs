//! The pod runtime: real Redis, Sentinel and shell processes behind simulated pods.

use std::time::Duration;

use acceptance_tests::resp::info_field;
use acceptance_tests::{
    admin, eventually, from_json, pod_ready, restart_count, PodRedis, TestNamespace,
};
use anyhow::{bail, Context, Result};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Service,
};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::{json, Value};

const REDIS_IMAGE: &str = "redis:7.2-alpine";

async fn headless_service(client: &Client, ns: &str, name: &str, app: &str, port: i32) {
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    services
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": name},
                "spec": {"clusterIP": "None", "selector": {"app": app},
                         "publishNotReadyAddresses": true,
                         "ports": [{"name": "tcp", "port": port}]}
            })),
        )
        .await
        .unwrap();
}

async fn config_map(client: &Client, ns: &str, name: &str, data: Value) {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    maps.create(
        &PostParams::default(),
        &from_json(json!({"metadata": {"name": name}, "data": data})),
    )
    .await
    .unwrap();
}

/// A StatefulSet of `replicas` Redis pods running `script` (with $NS set), probed
/// with `redis-cli ping`, each with a /data claim.
async fn redis_set(client: &Client, ns: &str, name: &str, replicas: i32, script: &str) {
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    sets.create(
        &PostParams::default(),
        &from_json(json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "serviceName": format!("{name}-headless"),
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "terminationGracePeriodSeconds": 5,
                        "containers": [{
                            "name": "redis",
                            "image": REDIS_IMAGE,
                            "command": ["sh", "-c", script],
                            "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                            "ports": [{"containerPort": 6379, "name": "redis"}],
                            "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]},
                                               "periodSeconds": 1},
                            "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 2},
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                        }]
                    }
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": "1Gi"}}}
                }]
            }
        })),
    )
    .await
    .unwrap();
}

async fn wait_ready(client: &Client, ns: &str, pods: &[&str], timeout: Duration) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(&format!("pods {pods:?} ready"), timeout, || async {
        let mut out = Vec::new();
        for name in pods {
            match api.get_opt(name).await? {
                Some(p) if pod_ready(&p) && p.metadata.deletion_timestamp.is_none() => out.push(p),
                _ => return Ok(None),
            }
        }
        Ok(Some(out))
    })
    .await
    .unwrap()
}

async fn redis(client: &Client, ns: &str, pod: &str) -> PodRedis {
    eventually(
        &format!("a connection to {pod}"),
        Duration::from_secs(20),
        || async {
            let mut conn = PodRedis::connect(client, ns, pod, 6379).await?;
            conn.call(&["PING"]).await?;
            Ok(Some(conn))
        },
    )
    .await
    .unwrap()
}

async fn get_key(client: &Client, ns: &str, pod: &str, key: &str) -> Result<String> {
    let mut conn = PodRedis::connect(client, ns, pod, 6379).await?;
    Ok(conn.call(&["GET", key]).await?.text()?.to_string())
}

const REPLICATED: &str = r#"
if [ "$HOSTNAME" = "data-0" ]; then
  exec redis-server --appendonly no --replica-announce-ip "$HOSTNAME.data-headless.$NS.svc.cluster.local"
fi
exec redis-server --appendonly no --replicaof "data-0.data-headless.$NS.svc.cluster.local" 6379 \
  --replica-announce-ip "$HOSTNAME.data-headless.$NS.svc.cluster.local"
"#;

#[tokio::test]
async fn replicas_follow_the_primary_by_dns_name_and_serve_its_writes() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "repl").await.unwrap();
    headless_service(&client, &ns.name, "data-headless", "data", 6379).await;
    redis_set(&client, &ns.name, "data", 3, REPLICATED).await;
    wait_ready(
        &client,
        &ns.name,
        &["data-0", "data-1", "data-2"],
        Duration::from_secs(120),
    )
    .await;

    let mut primary = redis(&client, &ns.name, "data-0").await;
    primary
        .call(&["SET", "greeting", "hello from data-0"])
        .await
        .unwrap();
    let value = eventually("the key on data-2", Duration::from_secs(30), || async {
        Ok(get_key(&client, &ns.name, "data-2", "greeting").await.ok())
    })
    .await
    .unwrap();
    assert_eq!(value, "hello from data-0");

    drop(primary);
    let replicas = eventually(
        "two replicas connected",
        Duration::from_secs(30),
        || async {
            let mut primary = PodRedis::connect(&client, &ns.name, "data-0", 6379).await?;
            let info = primary.call(&["INFO", "replication"]).await?;
            let info = info.text()?.to_string();
            Ok((info_field(&info, "connected_slaves") == Some("2")).then_some(info))
        },
    )
    .await
    .unwrap();
    assert_eq!(info_field(&replicas, "role"), Some("master"));
}

#[tokio::test]
async fn aof_data_on_a_claim_survives_a_killed_process_and_a_deleted_pod() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "aof").await.unwrap();
    headless_service(&client, &ns.name, "aof-headless", "aof", 6379).await;
    redis_set(
        &client,
        &ns.name,
        "aof",
        1,
        "exec redis-server --appendonly yes --appendfsync always --dir /data",
    )
    .await;
    let pod = wait_ready(&client, &ns.name, &["aof-0"], Duration::from_secs(60)).await;
    let first_uid = pod[0].metadata.uid.clone();
    let mut conn = redis(&client, &ns.name, "aof-0").await;
    conn.call(&["SET", "durable", "yes"]).await.unwrap();
    drop(conn);

    // The container's id names the process the runtime started for it.
    let container_id = pod[0]
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .container_id
        .clone()
        .expect("a container id");
    let pid: i32 = container_id
        .strip_prefix("testbed://")
        .and_then(|p| p.parse().ok())
        .expect("a testbed://PID container id");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -KILL {pid}");

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    eventually(
        "restarted once and ready",
        Duration::from_secs(60),
        || async {
            let p = pods.get("aof-0").await?;
            Ok((restart_count(&p) == 1 && pod_ready(&p)).then_some(()))
        },
    )
    .await
    .unwrap();
    let p = pods.get("aof-0").await.unwrap();
    assert_eq!(
        p.metadata.uid, first_uid,
        "the pod was restarted in place, not replaced"
    );
    assert_eq!(
        get_key(&client, &ns.name, "aof-0", "durable")
            .await
            .unwrap(),
        "yes"
    );

    pods.delete("aof-0", &DeleteParams::default())
        .await
        .unwrap();
    eventually("a new aof-0 ready", Duration::from_secs(90), || async {
        let p = pods.get_opt("aof-0").await?;
        Ok(p.filter(|p| p.metadata.uid != first_uid && pod_ready(p))
            .map(|_| ()))
    })
    .await
    .unwrap();
    let value = eventually(
        "the key after rescheduling",
        Duration::from_secs(20),
        || async { Ok(get_key(&client, &ns.name, "aof-0", "durable").await.ok()) },
    )
    .await
    .unwrap();
    assert_eq!(value, "yes");
}

/// Data pods for the Sentinel test: the first start follows data-0; a restarted pod
/// comes back late (as after a volume re-attach) and follows whoever the Sentinels
/// say is the master, as Sentinel-aware charts do.
const SENTINEL_DATA: &str = r#"
me="$HOSTNAME.data-headless.$NS.svc.cluster.local"
master="data-0.data-headless.$NS.svc.cluster.local"
if [ -f /data/started ]; then
  sleep 10
  master=$(redis-cli -h "sentinel-headless.$NS.svc.cluster.local" -p 26379 \
    sentinel get-master-addr-by-name mymaster | head -n 1)
fi
touch /data/started
if [ "$master" = "$me" ]; then
  exec redis-server --appendonly no --replica-announce-ip "$me"
fi
exec redis-server --appendonly no --replicaof "$master" 6379 --replica-announce-ip "$me"
"#;

const SENTINEL: &str = r#"
set -e
me="$HOSTNAME.sentinel-headless.$NS.svc.cluster.local"
sed "s/__NS__/$NS/g" /config/sentinel.conf > /data/sentinel.conf
echo "sentinel announce-ip $me" >> /data/sentinel.conf
exec redis-sentinel /data/sentinel.conf
"#;

async fn ask_sentinel(client: &Client, ns: &str, pod: &str) -> Result<String> {
    let mut conn = PodRedis::connect(client, ns, pod, 26379).await?;
    let reply = conn
        .call(&["SENTINEL", "get-master-addr-by-name", "mymaster"])
        .await?;
    match reply {
        acceptance_tests::resp::Reply::Array(items) if !items.is_empty() => {
            Ok(items[0].text()?.to_string())
        }
        other => bail!("unexpected reply {other:?}"),
    }
}

#[tokio::test]
async fn sentinels_fail_over_to_a_replica_when_the_primary_pod_is_deleted() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "sentinel").await.unwrap();
    headless_service(&client, &ns.name, "data-headless", "data", 6379).await;
    headless_service(&client, &ns.name, "sentinel-headless", "sentinel", 26379).await;
    redis_set(&client, &ns.name, "data", 3, SENTINEL_DATA).await;
    wait_ready(
        &client,
        &ns.name,
        &["data-0", "data-1", "data-2"],
        Duration::from_secs(120),
    )
    .await;

    config_map(
        &client,
        &ns.name,
        "sentinel-config",
        json!({"sentinel.conf": "port 26379\n\
            sentinel resolve-hostnames yes\n\
            sentinel announce-hostnames yes\n\
            sentinel monitor mymaster data-0.data-headless.__NS__.svc.cluster.local 6379 2\n\
            sentinel down-after-milliseconds mymaster 2000\n\
            sentinel failover-timeout mymaster 10000\n\
            sentinel parallel-syncs mymaster 1\n"}),
    )
    .await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    sets.create(
        &PostParams::default(),
        &from_json(json!({
            "metadata": {"name": "sentinel"},
            "spec": {
                "replicas": 3,
                "serviceName": "sentinel-headless",
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app": "sentinel"}},
                "template": {
                    "metadata": {"labels": {"app": "sentinel"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 5,
                        "containers": [{
                            "name": "sentinel",
                            "image": REDIS_IMAGE,
                            "command": ["sh", "-c", SENTINEL],
                            "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                            "ports": [{"containerPort": 26379}],
                            "readinessProbe": {"exec": {"command": ["redis-cli", "-p", "26379", "ping"]},
                                               "periodSeconds": 1},
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/config"},
                                {"name": "data", "mountPath": "/data"}
                            ]
                        }],
                        "volumes": [
                            {"name": "config", "configMap": {"name": "sentinel-config"}},
                            {"name": "data", "emptyDir": {}}
                        ]
                    }
                }
            }
        })),
    )
    .await
    .unwrap();
    wait_ready(
        &client,
        &ns.name,
        &["sentinel-0", "sentinel-1", "sentinel-2"],
        Duration::from_secs(60),
    )
    .await;
    let old_primary = format!("data-0.data-headless.{}.svc.cluster.local", ns.name);
    eventually(
        "every sentinel knows the other two",
        Duration::from_secs(60),
        || async {
            for s in ["sentinel-0", "sentinel-1", "sentinel-2"] {
                let mut conn = PodRedis::connect(&client, &ns.name, s, 26379).await?;
                let ck = conn.call(&["SENTINEL", "CKQUORUM", "mymaster"]).await?;
                if !ck.text()?.contains("3 usable Sentinels") {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
    .await
    .unwrap();
    assert_eq!(
        ask_sentinel(&client, &ns.name, "sentinel-0").await.unwrap(),
        old_primary
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    pods.delete("data-0", &DeleteParams::default())
        .await
        .unwrap();
    let new_primary = eventually("the master moves", Duration::from_secs(60), || async {
        let addr = ask_sentinel(&client, &ns.name, "sentinel-1").await?;
        Ok((addr != old_primary).then_some(addr))
    })
    .await
    .unwrap();
    let new_pod = new_primary.split('.').next().unwrap().to_string();
    assert!(
        ["data-1", "data-2"].contains(&new_pod.as_str()),
        "{new_primary}"
    );

    let other = if new_pod == "data-1" {
        "data-2"
    } else {
        "data-1"
    };
    eventually(
        "the new primary accepts writes",
        Duration::from_secs(30),
        || async {
            let mut conn = PodRedis::connect(&client, &ns.name, &new_pod, 6379).await?;
            Ok(conn
                .call(&["SET", "after-failover", &new_pod])
                .await
                .ok()
                .map(|_| ()))
        },
    )
    .await
    .unwrap();
    // Sentinel re-points the other replica only after the promotion, and the replica
    // then resyncs in full: on a loaded machine that took over 30 s once.
    let value = eventually("the write replicates", Duration::from_secs(90), || async {
        Ok(get_key(&client, &ns.name, other, "after-failover")
            .await
            .ok())
    })
    .await
    .unwrap();
    assert_eq!(value, new_pod);
}

/// The host folder behind a claim, through its PersistentVolume.
async fn claim_folder(client: &Client, ns: &str, claim: &str) -> Result<std::path::PathBuf> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let pvc = claims.get(claim).await?;
    let volume = pvc
        .spec
        .and_then(|s| s.volume_name)
        .context("claim not bound")?;
    let pv = Api::<PersistentVolume>::all(client.clone())
        .get(&volume)
        .await?;
    let path = pv
        .spec
        .and_then(|s| s.host_path)
        .context("not a host-path volume")?
        .path;
    Ok(path.into())
}

#[tokio::test]
async fn a_backup_job_streams_an_rdb_to_its_claim_and_succeeds() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "job").await.unwrap();
    headless_service(&client, &ns.name, "src-headless", "src", 6379).await;
    redis_set(
        &client,
        &ns.name,
        "src",
        1,
        "exec redis-server --appendonly no",
    )
    .await;
    wait_ready(&client, &ns.name, &["src-0"], Duration::from_secs(60)).await;
    let mut conn = redis(&client, &ns.name, "src-0").await;
    for i in 0..100 {
        conn.call(&["SET", &format!("key:{i}"), "value"])
            .await
            .unwrap();
    }

    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    claims
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": "backup"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}
            })),
        )
        .await
        .unwrap();
    let host = format!("src-0.src-headless.{}.svc.cluster.local", ns.name);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    jobs.create(
        &PostParams::default(),
        &from_json(json!({
            "metadata": {"name": "backup"},
            "spec": {
                "backoffLimit": 0,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "backup",
                        "image": REDIS_IMAGE,
                        "command": ["sh", "-c", format!(
                            "redis-cli -h {host} --rdb /backup/x.rdb && redis-check-rdb /backup/x.rdb")],
                        "volumeMounts": [{"name": "backup", "mountPath": "/backup"}]
                    }],
                    "volumes": [{"name": "backup", "persistentVolumeClaim": {"claimName": "backup"}}]
                }}
            }
        })),
    )
    .await
    .unwrap();

    let job = eventually("the job succeeds", Duration::from_secs(90), || async {
        let job = jobs.get("backup").await?;
        let status = job.status.clone().unwrap_or_default();
        if status.failed.unwrap_or(0) > 0 {
            bail!("the job failed: {status:?}");
        }
        Ok((status.succeeded == Some(1)).then_some(job))
    })
    .await
    .unwrap();
    assert_eq!(job.status.unwrap().succeeded, Some(1));

    let rdb = claim_folder(&client, &ns.name, "backup")
        .await
        .unwrap()
        .join("x.rdb");
    let bytes = std::fs::read(&rdb).unwrap_or_else(|e| panic!("{}: {e}", rdb.display()));
    assert!(
        bytes.starts_with(b"REDIS"),
        "not an RDB file: {:?}",
        &bytes[..bytes.len().min(9)]
    );
    assert!(bytes.len() > 100 * 5, "{} bytes for 100 keys", bytes.len());
}

#[tokio::test]
async fn an_invalid_directive_crash_loops_and_the_status_says_why() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "badconf").await.unwrap();
    config_map(
        &client,
        &ns.name,
        "bad",
        json!({"redis.conf": "maxmemory 10mb\nno-such-directive yes\n"}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    pods.create(
        &PostParams::default(),
        &from_json(json!({
            "metadata": {"name": "bad"},
            "spec": {
                "containers": [{
                    "name": "redis",
                    "image": REDIS_IMAGE,
                    "args": ["/etc/redis-conf/redis.conf"],
                    "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 1},
                    "volumeMounts": [{"name": "conf", "mountPath": "/etc/redis-conf"}]
                }],
                "volumes": [{"name": "conf", "configMap": {"name": "bad"}}]
            }
        })),
    )
    .await
    .unwrap();

    let pod = eventually("a crash loop", Duration::from_secs(60), || async {
        let p = pods.get("bad").await?;
        let looping = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.first())
            .is_some_and(|c| {
                c.restart_count >= 1
                    && c.state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
            });
        Ok(looping.then_some(p))
    })
    .await
    .unwrap();
    assert!(!pod_ready(&pod), "a crash-looping pod is not ready");
    let status = &pod
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    let last = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("the last termination is reported");
    assert_ne!(last.exit_code, 0);
    let message = last.message.clone().unwrap_or_default();
    assert!(
        message.contains("no-such-directive") || message.contains("Bad directive"),
        "the termination message names the problem: {message:?}"
    );
}
