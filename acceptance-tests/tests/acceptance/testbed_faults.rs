//! Faults on demand (`testbed fault ...`), each shown to do what it says and to be
//! undone. Faults confined to a test's own pods or node run with the rest of the
//! suite; those that disturb the whole bed (the API server's) are in `whole_bed`,
//! ignored by a plain `cargo test` and run alone, one at a time, by run-all.

use std::collections::BTreeMap;
use std::time::Duration;

use acceptance_tests::bed::{
    fault, node_ready, pod_ip, prober, readiness_settles, ready_pod, redis_server,
    start_redis_server, token_client_without_retries, TestNode,
};
use acceptance_tests::{admin, eventually, pod_ready, restart_count, PodRedis, TestNamespace};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

const STEADY: Duration = Duration::from_secs(3);

fn main_pid(pod: &Pod) -> u32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.container_id.as_deref())
        .and_then(|id| id.strip_prefix("testbed://"))
        .and_then(|pid| pid.parse().ok())
        .expect("a testbed://PID container id")
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn kill_pod_kills_the_main_process_and_the_container_restarts_in_place() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "fault-kill").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let before = start_redis_server(&client, &ns.name, "victim")
        .await
        .unwrap();
    let pid = main_pid(&before);
    assert_eq!(restart_count(&before), 0);

    fault(&["kill-pod", &format!("{}/victim", ns.name)]).unwrap();
    let after = eventually(
        "restarted once and ready",
        Duration::from_secs(60),
        || async {
            let p = pods.get("victim").await?;
            Ok((restart_count(&p) == 1 && pod_ready(&p)).then_some(p))
        },
    )
    .await
    .unwrap();
    assert!(!process_alive(pid), "the old process {pid} is gone");
    assert_ne!(main_pid(&after), pid);
    assert_eq!(after.metadata.uid, before.metadata.uid, "same pod");
    let last = after.status.unwrap().container_statuses.unwrap()[0]
        .last_state
        .clone()
        .and_then(|s| s.terminated)
        .expect("the killed run is the last state");
    assert_eq!(
        last.exit_code, 137,
        "SIGKILL, as a container runtime reports it"
    );
}

#[tokio::test]
async fn an_isolated_pod_is_unreachable_from_its_peers_until_healed_and_port_forward_still_works() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "fault-isolate")
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let server = start_redis_server(&client, &ns.name, "server")
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &prober(
            "peer",
            BTreeMap::from([("app", "peer")]),
            &pod_ip(&server).unwrap(),
            6379,
        ),
    )
    .await
    .unwrap();
    ready_pod(&client, &ns.name, "peer", Duration::from_secs(60))
        .await
        .unwrap();

    let target = format!("{}/server", ns.name);
    fault(&["isolate", &target]).unwrap();
    readiness_settles(&client, &ns.name, "peer", false, STEADY)
        .await
        .unwrap();
    let mut conn = PodRedis::connect(&client, &ns.name, "server", 6379)
        .await
        .unwrap();
    assert_eq!(conn.call(&["PING"]).await.unwrap().text().unwrap(), "PONG");

    fault(&["heal", &target]).unwrap();
    readiness_settles(&client, &ns.name, "peer", true, STEADY)
        .await
        .unwrap();
}

#[tokio::test]
async fn cut_portforwards_ends_open_streams_and_new_ones_work() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "fault-pf").await.unwrap();
    start_redis_server(&client, &ns.name, "server")
        .await
        .unwrap();
    let mut conn = PodRedis::connect(&client, &ns.name, "server", 6379)
        .await
        .unwrap();
    assert_eq!(conn.call(&["PING"]).await.unwrap().text().unwrap(), "PONG");

    fault(&["cut-portforwards", &format!("{}/server", ns.name)]).unwrap();
    let cut = conn.call(&["PING"]).await;
    assert!(cut.is_err(), "the stream was cut: {cut:?}");

    let mut again = PodRedis::connect(&client, &ns.name, "server", 6379)
        .await
        .unwrap();
    assert_eq!(again.call(&["PING"]).await.unwrap().text().unwrap(), "PONG");
}

#[tokio::test]
async fn a_lost_node_goes_not_ready_its_processes_stop_and_its_pods_are_evicted_after_the_grace() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "fault-node").await.unwrap();
    let node = TestNode::create(&client, "tb-lost").await.unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    pods.create(
        &PostParams::default(),
        &redis_server(
            "stranded",
            BTreeMap::from([("app", "stranded")]),
            node.placement(),
        ),
    )
    .await
    .unwrap();
    let pod = ready_pod(&client, &ns.name, "stranded", Duration::from_secs(60))
        .await
        .unwrap();
    let pid = main_pid(&pod);

    fault(&["lose-node", &node.name, "--grace", "6"]).unwrap();
    let lost_at = tokio::time::Instant::now();
    eventually("the node NotReady", Duration::from_secs(20), || async {
        Ok((node_ready(&nodes.get(&node.name).await?) == "Unknown").then_some(()))
    })
    .await
    .unwrap();
    eventually("the process stopped", Duration::from_secs(10), || async {
        Ok((!process_alive(pid)).then_some(()))
    })
    .await
    .unwrap();
    // The node lifecycle controller treats it as a lost node: unreachable taint, pods
    // not ready.
    eventually(
        "the unreachable taint and the pod not ready",
        Duration::from_secs(30),
        || async {
            let n = nodes.get(&node.name).await?;
            let tainted = n
                .spec
                .and_then(|s| s.taints)
                .is_some_and(|ts| ts.iter().any(|t| t.key == "node.kubernetes.io/unreachable"));
            let p = pods.get("stranded").await?;
            Ok((tainted && !pod_ready(&p)).then_some(()))
        },
    )
    .await
    .unwrap();

    let evicted = eventually("the pod evicted", Duration::from_secs(30), || async {
        Ok(pods
            .get("stranded")
            .await?
            .metadata
            .deletion_timestamp
            .is_some()
            .then_some(tokio::time::Instant::now()))
    })
    .await
    .unwrap();
    assert!(
        evicted - lost_at >= Duration::from_secs(5),
        "evicted after {:?}, before the grace",
        evicted - lost_at
    );
    // No kubelet confirms the deletion: the pod stays Terminating while the node is gone.
    tokio::time::sleep(STEADY).await;
    assert!(pods.get_opt("stranded").await.unwrap().is_some());

    fault(&["restore-node", &node.name]).unwrap();
    eventually(
        "the node Ready and the pod gone",
        Duration::from_secs(60),
        || async {
            let ready = node_ready(&nodes.get(&node.name).await?) == "True";
            let gone = pods.get_opt("stranded").await?.is_none();
            Ok((ready && gone).then_some(()))
        },
    )
    .await
    .unwrap();
}

/// Faults that stop or restart the API server: everyone's requests fail meanwhile,
/// so these run alone (run-all: `--ignored --test-threads=1 whole_bed`), and each
/// leaves the bed as it found it.
mod whole_bed {
    use super::*;
    use acceptance_tests::TestBed;
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use kube::Client;

    /// Puts the API server back as the bed runs it (normal limits, running) when a
    /// test ends early, so a failure does not leave the bed broken for the rest.
    struct RestoreApiServer;

    impl Drop for RestoreApiServer {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let _ = fault(&["apiserver-relax"]);
            }
        }
    }

    async fn api_answers(client: &Client) -> bool {
        client.apiserver_version().await.is_ok()
    }

    async fn bed_healthy(client: &Client) {
        eventually(
            "the bed healthy again",
            Duration::from_secs(120),
            || async {
                let nodes: Api<Node> = Api::all(client.clone());
                let all_ready = nodes
                    .list(&Default::default())
                    .await?
                    .items
                    .iter()
                    .filter(|n| {
                        n.metadata
                            .name
                            .as_deref()
                            .is_some_and(|n| n.starts_with("kwok-node-"))
                    })
                    .all(|n| node_ready(n) == "True");
                Ok(all_ready.then_some(()))
            },
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    #[ignore = "stops the API server: run-all runs it alone"]
    async fn whole_bed_apiserver_stop_makes_the_api_unavailable_until_started_again() {
        let client = admin().await;
        assert!(api_answers(&client).await);
        let _restore = RestoreApiServer;
        fault(&["apiserver-stop"]).unwrap();
        let answered_while_stopped = api_answers(&client).await;
        fault(&["apiserver-start"]).unwrap();
        assert!(!answered_while_stopped, "the API answered while stopped");
        assert!(api_answers(&client).await);
        bed_healthy(&client).await;
    }

    #[tokio::test]
    #[ignore = "restarts the API server with tight limits: run-all runs it alone"]
    async fn whole_bed_apiserver_tight_refuses_excess_requests_with_429_until_relaxed() {
        let client = admin().await;
        let ns = TestNamespace::create(&client, "fault-tight").await.unwrap();
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns.name);
        accounts
            .create(
                &PostParams::default(),
                &acceptance_tests::from_json(json!({"metadata": {"name": "burst"}})),
            )
            .await
            .unwrap();
        let token = accounts
            .create_token_request(
                "burst",
                &PostParams::default(),
                &acceptance_tests::from_json::<TokenRequest>(
                    json!({"spec": {"expirationSeconds": 3600}}),
                ),
            )
            .await
            .unwrap()
            .status
            .unwrap()
            .token;
        let user = token_client_without_retries(&token).await.unwrap();
        let retrying_user = TestBed::get().token_client(&token).await.unwrap();

        // (429 responses, other failures) of `n` concurrent requests for the OpenAPI
        // document (2 MB: slow enough to overlap), which every authenticated user may read.
        async fn burst(client: &Client, n: usize) -> (usize, usize) {
            let calls = (0..n).map(|_| {
                let c = client.clone();
                async move {
                    let request = kube::core::Request::new("/openapi")
                        .get("v2", &Default::default())
                        .map_err(kube::Error::BuildRequest)?;
                    c.request_text(request).await
                }
            });
            let results = futures::future::join_all(calls).await;
            let too_many = results
                .iter()
                .filter(|r| matches!(r, Err(kube::Error::Api(s)) if s.code == 429))
                .count();
            let other = results.iter().filter(|r| r.is_err()).count() - too_many;
            (too_many, other)
        }

        let _restore = RestoreApiServer;
        fault(&["apiserver-tight", "--max-inflight", "1"]).unwrap();
        let tight = burst(&user, 12).await;
        let retried = burst(&retrying_user, 12).await;
        let masters = burst(&client, 12).await;
        fault(&["apiserver-relax"]).unwrap();
        let relaxed = burst(&user, 12).await;
        bed_healthy(&client).await;

        assert!(tight.0 > 0, "no 429 under a limit of 1: {tight:?}");
        assert_eq!(tight.1, 0, "only 429s: {tight:?}");
        assert_eq!(retried, (0, 0), "kube's default client retries 429s");
        assert_eq!(masters, (0, 0), "system:masters is exempt from the limits");
        assert_eq!(relaxed, (0, 0), "normal limits again");
    }
}
