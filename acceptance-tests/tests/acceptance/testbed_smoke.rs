//! The test bed itself: scheduling across simulated nodes, storage, RBAC,
//! port-forward through the API server, and the Terraform-family tools.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use acceptance_tests::{admin, eventually, from_json, pod_ready, TestBed, TestNamespace};
use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use kube::{Api, Client};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

async fn pods_with_label(client: &Client, ns: &str, app: &str) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await?
        .items)
}

#[tokio::test]
async fn statefulset_with_anti_affinity_spreads_binds_volumes_scales_and_deletes() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "sts").await.unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), &ns.name);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);

    services
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": "web-headless"},
                "spec": {"clusterIP": "None", "selector": {"app": "web"},
                         "ports": [{"name": "tcp", "port": 6379}]}
            })),
        )
        .await
        .unwrap();
    sets.create(
        &PostParams::default(),
        &from_json(json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "serviceName": "web-headless",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                            {"labelSelector": {"matchLabels": {"app": "web"}},
                             "topologyKey": "kubernetes.io/hostname"}
                        ]}},
                        "containers": [{"name": "main", "image": PAUSE_IMAGE,
                                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]
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

    let pods = eventually("three ready pods", Duration::from_secs(120), || async {
        let pods = pods_with_label(&client, &ns.name, "web").await?;
        Ok((pods.len() == 3 && pods.iter().all(pod_ready)).then_some(pods))
    })
    .await
    .unwrap();
    let nodes: BTreeSet<String> = pods
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    assert_eq!(nodes.len(), 3, "pods share nodes: {nodes:?}");

    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    let claims = claims.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(claims.len(), 3);
    for claim in &claims {
        let phase = claim.status.as_ref().and_then(|s| s.phase.clone());
        assert_eq!(phase.as_deref(), Some("Bound"), "{:?}", claim.metadata.name);
    }

    sets.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    let left = eventually(
        "scale down to one pod",
        Duration::from_secs(120),
        || async {
            let pods = pods_with_label(&client, &ns.name, "web").await?;
            Ok((pods.len() == 1).then_some(pods))
        },
    )
    .await
    .unwrap();
    assert_eq!(left[0].metadata.name.as_deref(), Some("web-0"));

    sets.delete("web", &DeleteParams::background())
        .await
        .unwrap();
    eventually("no pods left", Duration::from_secs(120), || async {
        Ok(pods_with_label(&client, &ns.name, "web")
            .await?
            .is_empty()
            .then_some(()))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn service_account_is_denied_secrets_until_a_role_binding_grants_them() {
    let bed = TestBed::get();
    let client = admin().await;
    let ns = TestNamespace::create(&client, "rbac").await.unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns.name);
    accounts
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "reader"}})),
        )
        .await
        .unwrap();
    let request: TokenRequest =
        from_json(json!({"spec": {"audiences": [], "expirationSeconds": 600}}));
    let token = accounts
        .create_token_request("reader", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .expect("a token in the status")
        .token;

    let as_reader = bed.token_client(&token).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(as_reader, &ns.name);
    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }

    let roles: Api<Role> = Api::namespaced(client.clone(), &ns.name);
    roles
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": "secret-reader"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
            })),
        )
        .await
        .unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns.name);
    bindings
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": "reader-reads-secrets"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns.name}]
            })),
        )
        .await
        .unwrap();

    eventually(
        "the binding takes effect",
        Duration::from_secs(30),
        || async { Ok(secrets.list(&ListParams::default()).await.ok().map(|_| ())) },
    )
    .await
    .unwrap();
}

/// Answers every chunk with `echo:` and the chunk, and hands what it received to the
/// test through the channel.
async fn echo_listener() -> (u16, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let _ = tx.send(buf[..n].to_vec());
                    if sock.write_all(b"echo:").await.is_err()
                        || sock.write_all(&buf[..n]).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    (port, rx)
}

async fn forward_once(pods: &Api<Pod>, pod: &str, port: u16, payload: &[u8]) -> Result<Vec<u8>> {
    let mut forwarder = pods.portforward(pod, &[port]).await?;
    let mut stream = forwarder
        .take_stream(port)
        .context("no stream for the port")?;
    stream.write_all(payload).await?;
    let mut reply = vec![0u8; payload.len() + 5];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut reply))
        .await
        .context("no reply through the port-forward")??;
    drop(stream);
    forwarder.abort();
    Ok(reply)
}

#[tokio::test]
async fn port_forward_through_the_api_server_reaches_a_local_process_both_ways() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "pf").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    pods.create(
        &PostParams::default(),
        &from_json(json!({
            "metadata": {"name": "echo"},
            "spec": {"containers": [{"name": "main", "image": PAUSE_IMAGE,
                                     "ports": [{"containerPort": 7000}]}]}
        })),
    )
    .await
    .unwrap();
    eventually("the pod is ready", Duration::from_secs(60), || async {
        Ok(pod_ready(&pods.get("echo").await?).then_some(()))
    })
    .await
    .unwrap();

    let (echo_port, mut echo) = echo_listener().await;
    let gvk = GroupVersionKind::gvk("kwok.x-k8s.io", "v1alpha1", "PortForward");
    let forwards: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns.name, &ApiResource::from_gvk(&gvk));
    let mut rule = DynamicObject::new("echo", &ApiResource::from_gvk(&gvk));
    rule.data = json!({"spec": {"forwards": [
        {"ports": [7000], "target": {"address": "127.0.0.1", "port": echo_port}}
    ]}});
    forwards
        .create(&PostParams::default(), &rule)
        .await
        .unwrap();

    let payload = b"hello through kube-apiserver and kwok";
    // kwok picks the rule up from its watch; retry until it has.
    let reply = eventually(
        "a reply through the port-forward",
        Duration::from_secs(30),
        || async { forward_once(&pods, "echo", 7000, payload).await.map(Some) },
    )
    .await
    .unwrap();

    let mut expected = b"echo:".to_vec();
    expected.extend_from_slice(payload);
    assert_eq!(reply, expected, "pod -> client bytes");
    let mut received = Vec::new();
    while received.len() < payload.len() {
        let chunk = tokio::time::timeout(Duration::from_secs(10), echo.recv())
            .await
            .expect("the listener received the payload")
            .expect("the listener is alive");
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received, payload.to_vec(), "client -> pod bytes");
}

fn version_output(tool: &std::path::Path, arg: &str) -> String {
    let out = Command::new(tool)
        .arg(arg)
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {} {arg}: {e}", tool.display()));
    assert!(
        out.status.success(),
        "{} {arg} failed: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn terraform_and_tofu_run_from_the_paths_the_test_bed_reports() {
    let bed = TestBed::get();
    let terraform = bed
        .terraform
        .as_ref()
        .expect("testbed env reports TERRAFORM");
    let tofu = bed.tofu.as_ref().expect("testbed env reports TOFU");
    let tf = version_output(terraform, "version");
    assert!(tf.starts_with("Terraform v1.11."), "{tf}");
    let versions = acceptance_tests::parse_env_lines(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/versions.env"),
        )
        .unwrap(),
    );
    let tofu_out = version_output(tofu, "version");
    let pinned = versions["TOFU_VERSION"].trim_start_matches('v');
    assert!(
        tofu_out.starts_with(&format!("OpenTofu v{pinned}")),
        "tofu reports {tofu_out:?}, pinned {pinned}"
    );
}

#[test]
fn terragrunt_runs_from_the_path_the_test_bed_reports_at_its_pinned_version() {
    let bed = TestBed::get();
    let terragrunt = bed
        .terragrunt
        .as_ref()
        .expect("testbed env reports TERRAGRUNT");
    let versions = acceptance_tests::parse_env_lines(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/versions.env"),
        )
        .unwrap(),
    );
    let out = version_output(terragrunt, "--version");
    assert_eq!(
        out.trim(),
        format!("terragrunt version {}", versions["TERRAGRUNT_VERSION"]),
        "{out}"
    );
}

#[tokio::test]
async fn nodes_have_distinct_hostnames_and_zones() {
    let client = admin().await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
    let list = nodes
        .list(&ListParams::default().labels("type=kwok"))
        .await
        .unwrap()
        .items;
    assert!(list.len() >= 3, "{} simulated nodes", list.len());
    let labels: Vec<BTreeMap<String, String>> = list
        .iter()
        .map(|n| n.metadata.labels.clone().unwrap_or_default())
        .collect();
    let hostnames: BTreeSet<_> = labels
        .iter()
        .map(|l| l["kubernetes.io/hostname"].clone())
        .collect();
    let zones: BTreeSet<_> = labels
        .iter()
        .map(|l| l["topology.kubernetes.io/zone"].clone())
        .collect();
    assert_eq!(hostnames.len(), list.len());
    assert!(zones.len() >= 3, "zones: {zones:?}");
}
