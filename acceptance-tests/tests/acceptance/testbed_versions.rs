//! The server versions behind image tags, unpullable tags, and the exporter sidecar.

use std::collections::BTreeMap;
use std::time::Duration;

use acceptance_tests::resp::info_field;
use acceptance_tests::{admin, eventually, from_json, pod_ready, PodRedis, TestNamespace};
use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The pinned versions the bed builds (testbed/versions.env).
fn pinned() -> BTreeMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/versions.env");
    acceptance_tests::parse_env_lines(&std::fs::read_to_string(path).expect("versions.env"))
}

/// A pod of one server container, probed with `<cli> ping`.
fn server_pod(name: &str, image: &str, command: Option<Vec<&str>>, cli: &str) -> Pod {
    let mut container = json!({
        "name": "server",
        "image": image,
        "ports": [{"containerPort": 6379, "name": "redis"}],
        "readinessProbe": {"exec": {"command": [cli, "ping"]}, "periodSeconds": 1},
    });
    if let Some(command) = command {
        container["command"] = json!(command);
    }
    from_json(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}
    }))
}

/// Creates the pod once the namespace's default service account exists (admission
/// refuses pods before the controller-manager has made it).
async fn create_pod(client: &Client, ns: &str, pod: Pod) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let name = pod.metadata.name.clone().unwrap_or_default();
    eventually(
        &format!("pod {name} created"),
        Duration::from_secs(30),
        || async { Ok(Some(pods.create(&PostParams::default(), &pod).await?)) },
    )
    .await
    .unwrap();
}

async fn wait_ready(client: &Client, ns: &str, name: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(
        &format!("pod {name} ready"),
        Duration::from_secs(60),
        || async {
            let pod = pods.get(name).await?;
            Ok(pod_ready(&pod).then_some(pod))
        },
    )
    .await
    .unwrap()
}

async fn info_server(client: &Client, ns: &str, pod: &str) -> Result<String> {
    let mut conn = PodRedis::connect(client, ns, pod, 6379).await?;
    Ok(conn
        .call(&["INFO", "server"])
        .await?
        .text()
        .context("INFO server is text")?
        .to_string())
}

struct Row {
    image: &'static str,
    /// The container's command, when the row also shows the image's binary names.
    command: Option<Vec<&'static str>>,
    cli: &'static str,
    server_name: &'static str,
    /// The INFO field that carries the server's own version, and its value.
    field: &'static str,
    version: String,
}

#[tokio::test]
async fn every_image_row_of_the_version_table_runs_the_server_version_its_tag_names() {
    let v = pinned();
    let redis = |image, version: &str| Row {
        image,
        command: None,
        cli: "redis-cli",
        server_name: "redis",
        field: "redis_version",
        version: version.to_string(),
    };
    let rows = vec![
        redis("redis:7.0", "7.0.15"),
        redis("docker.io/library/redis:7.0.15-bookworm", "7.0.15"),
        redis("redis:7.2-alpine", &v["REDIS_72_VERSION"]),
        redis("redis:7.2.6", &v["REDIS_72_VERSION"]),
        redis("redis:7.4", &v["REDIS_74_VERSION"]),
        redis("redis:7", &v["REDIS_74_VERSION"]),
        Row {
            image: "valkey/valkey:8",
            command: Some(vec!["valkey-server", "--save", ""]),
            cli: "valkey-cli",
            server_name: "valkey",
            field: "valkey_version",
            version: v["VALKEY_VERSION"].clone(),
        },
        Row {
            // The image's redis-* names run Valkey too.
            image: "valkey/valkey:8.0-alpine",
            command: Some(vec!["redis-server", "--save", ""]),
            cli: "redis-cli",
            server_name: "valkey",
            field: "valkey_version",
            version: v["VALKEY_VERSION"].clone(),
        },
        Row {
            image: "valkey/valkey:7.2",
            command: None,
            cli: "valkey-cli",
            server_name: "valkey",
            field: "valkey_version",
            version: v["VALKEY_VERSION"].clone(),
        },
    ];
    let client = admin().await;
    let ns = TestNamespace::create(&client, "tb-versions").await.unwrap();
    for (i, row) in rows.iter().enumerate() {
        let pod = server_pod(&format!("row-{i}"), row.image, row.command.clone(), row.cli);
        create_pod(&client, &ns.name, pod).await;
    }
    for (i, row) in rows.iter().enumerate() {
        let name = format!("row-{i}");
        let pod = wait_ready(&client, &ns.name, &name).await;
        let info = eventually(
            &format!("INFO server of {}", row.image),
            Duration::from_secs(20),
            || async { info_server(&client, &ns.name, &name).await.map(Some) },
        )
        .await
        .unwrap();
        assert_eq!(
            info_field(&info, row.field),
            Some(row.version.as_str()),
            "{}: {}\n{info}",
            row.image,
            row.field
        );
        let server_name = info_field(&info, "server_name").unwrap_or("redis");
        assert_eq!(server_name, row.server_name, "{}:\n{info}", row.image);
        if row.server_name == "valkey" {
            // Valkey answers redis_version 7.2.4 for clients that check it.
            assert_eq!(info_field(&info, "redis_version"), Some("7.2.4"), "{info}");
        }
        let image_id = pod
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .image_id
            .clone();
        assert!(
            image_id.ends_with(&format!("{}-{}", row.server_name, row.version)),
            "{}: imageID {image_id}",
            row.image
        );
    }
}

fn waiting(pod: &Pod) -> Option<(String, String)> {
    let state = pod
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?;
    let w = state.waiting.as_ref()?;
    Some((w.reason.clone()?, w.message.clone().unwrap_or_default()))
}

#[tokio::test]
async fn a_tag_the_bed_cannot_honour_waits_as_an_unpullable_image_and_never_becomes_ready() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "tb-pull").await.unwrap();
    create_pod(
        &client,
        &ns.name,
        server_pod("newer", "redis:8.2", None, "redis-cli"),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let v = pinned();
    let mut seen = Vec::<String>::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let pod = pods.get("newer").await.unwrap();
        assert!(
            !pod_ready(&pod),
            "a pod of an unpullable image became ready"
        );
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        if let Some((reason, message)) = waiting(&pod) {
            assert!(
                message.contains("redis:8.2")
                    && message.contains(&v["REDIS_74_VERSION"])
                    && message.contains(&v["VALKEY_VERSION"])
                    && message.contains("7.0.15"),
                "the message names the image and the versions the bed has: {message}"
            );
            assert_eq!(phase.as_deref(), Some("Pending"), "{reason}");
            if seen.last() != Some(&reason) {
                seen.push(reason);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Pulled, refused, backed off, pulled again: as a kubelet reports it.
    assert!(
        seen.len() >= 3 && seen[..3] == ["ErrImagePull", "ImagePullBackOff", "ErrImagePull"],
        "waiting reasons over 20s: {seen:?}"
    );
}

/// GET `path` from a pod's port through the API server's port-forward.
pub(crate) async fn http_get(
    client: &Client,
    ns: &str,
    pod: &str,
    port: u16,
    path: &str,
) -> Result<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut forwarder = pods.portforward(pod, &[port]).await?;
    let mut stream = forwarder.take_stream(port).context("no stream")?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    // A port-forward stream may stay open after the server closes its side, so the
    // reply ends where HTTP says it does: its Content-Length, or the last chunk.
    let mut body = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .context("no complete reply within 10s")??;
        anyhow::ensure!(n > 0, "the reply ended early");
        body.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&body);
        if let Some(content) = complete_body(&text) {
            let status = text.lines().next().unwrap_or_default();
            anyhow::ensure!(status.starts_with("HTTP/1.1 200"), "{status}");
            return Ok(content);
        }
    }
}

/// The body of an HTTP/1.1 reply once it is all there: by its Content-Length, or
/// decoded from chunks up to the last one.
fn complete_body(text: &str) -> Option<String> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        return (body.len() >= len).then(|| body[..len].to_string());
    }
    if !header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return None;
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

fn metric<'a>(metrics: &'a str, name: &str) -> Vec<&'a str> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .collect()
}

#[tokio::test]
async fn an_exporter_sidecar_serves_redis_up_and_the_server_version_on_metrics() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "tb-exporter").await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    secrets
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "auth"},
                              "stringData": {"password": "exporter-sees-this"}})),
        )
        .await
        .unwrap();
    let pod: Value = json!({
        "metadata": {"name": "cache"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "redis", "image": "redis:7.4-alpine",
                 "args": ["--requirepass", "exporter-sees-this"],
                 "ports": [{"containerPort": 6379}]},
                // The address comes from the container's args, the password from its env.
                {"name": "metrics", "image": "oliver006/redis_exporter:v1.88.0",
                 "args": ["--redis.addr=redis://127.0.0.1:6379"],
                 "env": [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "auth", "key": "password"}}}],
                 "ports": [{"containerPort": 9121, "name": "metrics"}],
                 "readinessProbe": {"httpGet": {"path": "/health", "port": "metrics"}, "periodSeconds": 1}}
            ]
        }
    });
    create_pod(&client, &ns.name, from_json(pod)).await;
    wait_ready(&client, &ns.name, "cache").await;
    let v = pinned();
    let metrics = eventually(
        "the exporter's metrics with redis_up 1",
        Duration::from_secs(30),
        || async {
            let text = http_get(&client, &ns.name, "cache", 9121, "/metrics").await?;
            Ok(metric(&text, "redis_up")
                .contains(&"redis_up 1")
                .then_some(text))
        },
    )
    .await
    .unwrap();
    let info = metric(&metrics, "redis_instance_info");
    let want = format!("redis_version=\"{}\"", v["REDIS_74_VERSION"]);
    assert!(
        info.iter().any(|l| l.contains(&want)),
        "the server's version in redis_instance_info: {info:?}"
    );
    let build = metric(&metrics, "redis_exporter_build_info");
    let want = format!("version=\"{}\"", v["REDIS_EXPORTER_VERSION"]);
    assert!(
        build.iter().any(|l| l.contains(&want)),
        "the exporter built here: {build:?}"
    );
}
