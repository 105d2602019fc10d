//! A `redis_deployment` with TLS, against the test bed: the provider generates a CA
//! and a server certificate into `<name>-tls`; Redis then refuses plain connections,
//! accepts TLS clients that trust the CA, and its replica replicates over TLS (the
//! primary has no plain port at all); `connection_url` is `rediss://`; no private key
//! is in the state; destroy removes the generated Secret.

use std::time::Duration;

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::info_field;
use acceptance_tests::tls::{secret_texts, TlsRedis};
use acceptance_tests::{admin, eventually, sha256_of, PodRedis, TestNamespace};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

fn deployment(ns: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         replicas  = 2\n  persistence = {{ enabled = false }}\n  tls = {{}}\n}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_deployment_refuses_plain_clients_accepts_the_ca_and_replicates_over_tls() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "tls").await.unwrap();
    let ns = ns.name.as_str();
    let w = Workdir::new(Tool::Terraform, &deployment(ns));
    w.apply();

    let attrs = w.attributes("redis_deployment.cache");
    assert_eq!(
        attrs["connection_url"],
        format!("rediss://cache.{ns}.svc.cluster.local:6379")
    );
    let certs = secret_texts(&client, ns, "cache-tls").await.unwrap();
    let ca = certs["ca.crt"].clone();
    let password = secret_texts(&client, ns, "cache-auth").await.unwrap()["password"].clone();
    let dir = tempfile::tempdir().unwrap();
    for (key, attr) in [
        ("ca.crt", "tls_ca_sha256"),
        ("tls.crt", "tls_certificate_sha256"),
    ] {
        let file = dir.path().join(key);
        std::fs::write(&file, &certs[key]).unwrap();
        assert_eq!(attrs[attr], sha256_of(&file).unwrap(), "{attr}");
    }

    // A plain client gets no answer: the port speaks TLS only.
    assert!(
        !PodRedis::answers_plain_ping(&client, ns, "cache-0", 6379)
            .await
            .unwrap(),
        "a plain PING was answered"
    );

    // A TLS client trusting the CA: in, on the primary, and its write replicates.
    let mut primary = TlsRedis::connect(&client, ns, "cache-0", &ca)
        .await
        .unwrap();
    primary.call(&["AUTH", "default", &password]).await.unwrap();
    assert_eq!(primary.call(&["PING"]).await.unwrap(), "PONG");
    primary.call(&["SET", "tls:key", "over-tls"]).await.unwrap();
    let info = primary.call(&["INFO", "replication"]).await.unwrap();
    assert_eq!(info_field(&info, "role"), Some("master"), "{info}");
    eventually(
        "the replica streams from the primary over TLS",
        Duration::from_secs(60),
        || {
            let (client, ca, password) = (client.clone(), ca.clone(), password.clone());
            async move {
                let mut replica = TlsRedis::connect(&client, ns, "cache-1", &ca).await?;
                replica.call(&["AUTH", "default", &password]).await?;
                let info = replica.call(&["INFO", "replication"]).await?;
                let got = replica.call(&["GET", "tls:key"]).await?;
                Ok((info_field(&info, "role") == Some("slave")
                    && info_field(&info, "master_link_status") == Some("up")
                    && got == "over-tls")
                    .then_some(()))
            }
        },
    )
    .await
    .unwrap();
    // Replication has no other way: the primary listens on TLS only and replicas
    // connect with TLS.
    let conf = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get("cache-config")
        .await
        .unwrap()
        .data
        .unwrap()["redis.conf"]
        .clone();
    assert!(
        conf.contains("\nport 0\n") && conf.contains("\ntls-replication yes\n"),
        "{conf}"
    );

    // No private key in the state, nor in `show -json`; the CA's key is only in the Secret.
    assert!(certs.contains_key("ca.key"));
    let state = w.state_file();
    let shown = w.ok(&["show", "-json"]);
    for text in [&state, &shown] {
        assert!(
            !text.contains("PRIVATE KEY"),
            "a private key is in the state"
        );
        assert!(!text.contains(certs["tls.key"].lines().nth(1).unwrap()));
        assert!(!text.contains(certs["ca.key"].lines().nth(1).unwrap()));
    }
    w.assert_plan_empty();

    w.destroy();
    let left = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt("cache-tls")
        .await
        .unwrap();
    assert!(
        left.is_none(),
        "destroy removes the generated certificate Secret"
    );
}
