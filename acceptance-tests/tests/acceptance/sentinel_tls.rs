//! `redis_sentinel` over a TLS `redis_deployment`, against the test bed with the real
//! terraform: the Sentinels serve TLS only on 26379 with the deployment's certificate
//! (a client trusting its CA and checking a Sentinel's own DNS name gets in, a plain one
//! gets no answer), monitor the TLS-only data pods, and carry out a failover asked of
//! them; the plan is then empty, and destroy leaves nothing behind.

use std::time::Duration;

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::leftovers::nothing_left;
use acceptance_tests::resp::Reply;
use acceptance_tests::tls::TlsRedis;
use acceptance_tests::{admin, eventually, PodRedis, TestNamespace};
use anyhow::Result;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use serde_json::json;

use crate::deployment::secret_value;

/// A TLS deployment of a primary and a replica, and three Sentinels over it.
fn stack(ns: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         replicas  = 2\n  persistence = {{ enabled = false }}\n  tls = {{}}\n}}\n\n\
         resource \"redis_sentinel\" \"ha\" {{\n  deployment_id = redis_deployment.cache.id\n}}\n"
    )
}

const SENTINELS: [&str; 3] = ["cache-sentinel-0", "cache-sentinel-1", "cache-sentinel-2"];

/// A connection to a Sentinel over TLS through a port-forward, trusting only `ca_pem`
/// and checking the Sentinel pod's own DNS name, as a Sentinel-aware client does.
struct TlsSentinel(TlsRedis);

impl TlsSentinel {
    async fn connect(client: &Client, ns: &str, pod: &str, ca_pem: &str) -> Result<TlsSentinel> {
        let name = format!("{pod}.cache-sentinel-headless.{ns}.svc.cluster.local");
        Ok(TlsSentinel(
            TlsRedis::connect_to(client, ns, pod, 26379, &name, ca_pem).await?,
        ))
    }

    async fn call(&mut self, args: &[&str]) -> Result<Reply> {
        self.0.reply(args).await
    }

    /// The primary's pod as this Sentinel names it (`cache-1` of `cache-1.cache-headless...`).
    async fn primary_pod(&mut self) -> Result<String> {
        match self
            .call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])
            .await?
        {
            Reply::Array(items) if items.len() == 2 => Ok(items[0]
                .text()?
                .split('.')
                .next()
                .unwrap_or_default()
                .to_string()),
            other => anyhow::bail!("no primary: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_over_a_tls_deployment_serve_tls_only_and_fail_over() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "sentinel-tls")
        .await
        .unwrap();
    let ns = ns.name.as_str();
    let w = Workdir::new(Tool::Terraform, &stack(ns));
    w.apply();

    let attrs = w.attributes("redis_sentinel.ha");
    assert_eq!(attrs["quorum_ok"], json!(true), "{attrs}");
    assert_eq!(attrs["current_primary_pod"], json!("cache-0"), "{attrs}");
    let deployment = w.attributes("redis_deployment.cache");
    assert_eq!(
        attrs["tls_certificate_sha256"], deployment["tls_certificate_sha256"],
        "the Sentinels serve the deployment's certificate"
    );
    assert!(attrs["tls_certificate_sha256"].is_string(), "{attrs}");

    // Every Sentinel answers a client that trusts the deployment's CA and checks the
    // Sentinel's own name, names the primary and sees the quorum.
    let ca = Api::<Secret>::namespaced(client.clone(), ns)
        .get("cache-tls")
        .await
        .unwrap()
        .data
        .unwrap()["ca.crt"]
        .0
        .clone();
    let ca = String::from_utf8(ca).unwrap();
    for pod in SENTINELS {
        let mut s = TlsSentinel::connect(&client, ns, pod, &ca).await.unwrap();
        assert_eq!(s.primary_pod().await.unwrap(), "cache-0", "{pod}");
        let ck = s.call(&["SENTINEL", "CKQUORUM", "mymaster"]).await.unwrap();
        assert!(
            ck.text().unwrap_or_default().contains("3 usable Sentinels"),
            "{pod}: {ck:?}"
        );
    }

    // A plain client gets no answer: the Sentinels have no plain port.
    assert!(
        !PodRedis::answers_plain_ping(&client, ns, SENTINELS[0], 26379)
            .await
            .unwrap(),
        "a plain PING to a Sentinel was answered"
    );

    // A failover asked of one Sentinel: the Sentinels, talking TLS to the data pods and
    // each other, promote the replica and demote cache-0. (Deleting the primary pod is
    // not a sure failover: a pod back within down_after_milliseconds is never seen
    // down. The pod-loss failovers are in sentinel_faults.rs.)
    let started = std::time::Instant::now();
    let admin_pw = secret_value(&client, ns, "cache-sentinel-internal", "admin-password").await;
    let mut s = TlsSentinel::connect(&client, ns, SENTINELS[0], &ca)
        .await
        .unwrap();
    s.call(&["AUTH", "terraform", &admin_pw]).await.unwrap();
    let reply = s.call(&["SENTINEL", "FAILOVER", "mymaster"]).await.unwrap();
    assert!(!matches!(reply, Reply::Error(_)), "{reply:?}");
    drop(s);
    eventually(
        "the Sentinels promote cache-1",
        Duration::from_secs(90),
        || {
            let (client, ca) = (client.clone(), ca.clone());
            async move {
                let mut s = TlsSentinel::connect(&client, ns, SENTINELS[1], &ca).await?;
                Ok((s.primary_pod().await? == "cache-1").then_some(()))
            }
        },
    )
    .await
    .unwrap();
    eprintln!("failover over TLS after {:?}", started.elapsed());
    // The old primary returns as a replica of the new one: the quorum is whole again.
    eventually(
        "cache-0 back as a replica the Sentinels see",
        Duration::from_secs(120),
        || {
            let (client, ca) = (client.clone(), ca.clone());
            async move {
                let mut s = TlsSentinel::connect(&client, ns, SENTINELS[2], &ca).await?;
                let replicas =
                    format!("{:?}", s.call(&["SENTINEL", "REPLICAS", "mymaster"]).await?);
                Ok((replicas.contains("cache-0.cache-headless")
                    && replicas.contains("\"slave\"")
                    && !replicas.contains("s_down"))
                .then_some(()))
            }
        },
    )
    .await
    .unwrap();
    eventually(
        "both data pods ready again",
        Duration::from_secs(120),
        || async {
            let sts = Api::<StatefulSet>::namespaced(client.clone(), ns)
                .get("cache")
                .await?;
            Ok((sts.status.and_then(|s| s.ready_replicas) == Some(2)).then_some(()))
        },
    )
    .await
    .unwrap();
    w.assert_plan_empty();
    w.refresh_only();
    let attrs = w.attributes("redis_sentinel.ha");
    assert_eq!(attrs["current_primary_pod"], json!("cache-1"), "{attrs}");

    w.destroy();
    nothing_left(&client, ns, Duration::from_secs(120))
        .await
        .unwrap();
}
