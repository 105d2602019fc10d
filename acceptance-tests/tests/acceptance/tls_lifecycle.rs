//! A TLS `redis_deployment` through its life, under tofu, against the test bed: its
//! certificate comes from the user's own `kubernetes.io/tls` Secret (as cert-manager
//! writes it, issued here by a CA of the test's own for the names the documentation
//! asks for); clients trusting that CA connect, plain clients and clients of another CA
//! do not. The Secret then gets a certificate of a new CA: the plan says the pods
//! restart because of it, a client writing in a loop through the apply is dropped no
//! longer than the rolling restart lasts, and afterwards the pods serve the new
//! certificate to clients trusting only the new CA, replicating over it. Then a
//! password rotation whose provider is killed (SIGKILL) while the old password is in
//! its grace period: both passwords work meanwhile, the next apply finishes the
//! rotation with only the newest password working and nothing of the old ones left.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::leftovers::{leftovers, nothing_left};
use acceptance_tests::resp::info_field;
use acceptance_tests::tls::{
    deployment_names, first_der, put_tls_secret, secret_texts, TestCa, TlsRedis,
};
use acceptance_tests::{admin, eventually, flat, pod_ready, sha256_of, PodRedis, TestNamespace};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{Api, Client};

use crate::faults::{kill_provider, printed, Running};

/// The user's certificate Secret.
const CERT_SECRET: &str = "cache-cert";
const PODS: [&str; 2] = ["cache-0", "cache-1"];

fn deployment(ns: &str, password_version: u32) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name        = \"cache\"\n  namespace   = \"{ns}\"\n  \
         replicas    = 2\n  persistence = {{ enabled = false }}\n  \
         tls         = {{ existing_secret = {{ name = \"{CERT_SECRET}\" }} }}\n  \
         auth = {{\n    password_version       = {password_version}\n    rotation_grace_seconds = 6\n  }}\n}}\n"
    )
}

/// The hex sha256 of `text`, as the state records a PEM.
fn sha256(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pem");
    std::fs::write(&file, text).unwrap();
    sha256_of(&file).unwrap()
}

/// The clients' password in `cache-auth`.
async fn password(client: &Client, ns: &str) -> String {
    secret_texts(client, ns, "cache-auth").await.unwrap()["password"].clone()
}

/// Whether `AUTH default <password>` succeeds on `pod`, over TLS trusting `ca`.
async fn auth_ok(client: &Client, ns: &str, pod: &str, ca: &str, password: &str) -> bool {
    let mut conn = TlsRedis::connect(client, ns, pod, ca).await.unwrap();
    conn.call(&["AUTH", "default", password]).await.is_ok()
}

/// The uid and readiness of each pod of the deployment.
async fn pod_states(client: &Client, ns: &str) -> Vec<(String, bool)> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut out = Vec::new();
    for name in PODS {
        out.push(match pods.get_opt(name).await.ok().flatten() {
            Some(p) => (
                p.metadata.uid.clone().unwrap_or_default(),
                pod_ready(&p) && p.metadata.deletion_timestamp.is_none(),
            ),
            None => (String::new(), false),
        });
    }
    out
}

/// What a client writing to the primary saw, and how long the rolling restart took.
#[derive(Debug)]
struct Through {
    writes: u32,
    longest_gap: Duration,
    roll: Duration,
    /// The writer's failures, each with its time since the writer started: what a
    /// long gap was made of.
    failures: Vec<(Duration, String)>,
}

/// How long the writer waits for a reply, or for a new connection to be ready (the
/// port-forward, the TLS handshake and AUTH), before it takes the link for dead and
/// tries again.
const NOTICE: Duration = Duration::from_secs(2);

/// Writes `SET rotation:<i>` to cache-0 over TLS (trusting `ca_bundle`, reconnecting
/// when dropped) while `apply` runs, and watches the pods: the writes that succeeded,
/// the longest time without one, and the rolling restart's span (from the first pod
/// not ready or replaced to every pod replaced and ready).
async fn write_through(
    client: &Client,
    ns: &str,
    ca_bundle: &str,
    password: &str,
    apply: &Running,
) -> Through {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, ns, ca, pw, stop) = (
            client.clone(),
            ns.to_string(),
            ca_bundle.to_string(),
            password.to_string(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let (mut writes, mut last, mut longest) = (0u32, Instant::now(), Duration::ZERO);
            let (started, mut failures) = (Instant::now(), Vec::new());
            let mut conn: Option<TlsRedis> = None;
            while !stop.load(Ordering::Relaxed) {
                if conn.is_none() {
                    let fresh = tokio::time::timeout(NOTICE, async {
                        let mut c = TlsRedis::connect(&client, &ns, "cache-0", &ca).await?;
                        c.call(&["AUTH", "default", &pw]).await?;
                        anyhow::Ok(c)
                    })
                    .await;
                    match fresh {
                        Ok(Ok(c)) => conn = Some(c),
                        failed => {
                            let why = match failed {
                                Ok(Err(e)) => format!("connect: {e:#}"),
                                _ => format!("connect: not ready within {NOTICE:?}"),
                            };
                            failures.push((started.elapsed(), why));
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    }
                }
                let key = format!("rotation:{writes}");
                // A client notices a dead link by its own timeout: through a port-forward
                // to a pod that is gone, a command may get no answer at all.
                let outcome = match conn.as_mut() {
                    Some(c) => tokio::time::timeout(NOTICE, c.call(&["SET", &key, "x"])).await,
                    None => continue,
                };
                if let Ok(Ok(_)) = outcome {
                    writes += 1;
                    longest = longest.max(last.elapsed());
                    last = Instant::now();
                } else {
                    let why = match outcome {
                        Ok(Err(e)) => format!("SET: {e:#}"),
                        _ => format!("SET: no reply within {NOTICE:?}"),
                    };
                    failures.push((started.elapsed(), why));
                    conn = None;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (writes, longest.max(last.elapsed()), failures)
        })
    };
    let before = pod_states(client, ns).await;
    let (mut began, mut ended) = (None, None);
    while apply.running() {
        let now = pod_states(client, ns).await;
        let disturbed = now.iter().zip(&before).any(|(n, b)| n.0 != b.0 || !n.1);
        let replaced = now.iter().zip(&before).all(|(n, b)| n.0 != b.0 && n.1);
        if disturbed && began.is_none() {
            began = Some(Instant::now());
        }
        if replaced && ended.is_none() {
            ended = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (writes, longest_gap, failures) = writer.await.unwrap();
    let (Some(began), Some(ended)) = (began, ended) else {
        panic!("no rolling restart seen: began {began:?}, ended {ended:?}");
    };
    Through {
        writes,
        longest_gap,
        roll: ended - began,
        failures,
    }
}

/// The `#<hash>` entries of the clients' user in every ACL file of the internal Secret.
async fn client_hashes_in_files(client: &Client, ns: &str) -> Vec<Vec<String>> {
    secret_texts(client, ns, "cache-internal")
        .await
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with(".acl"))
        .filter_map(|(_, file)| {
            file.lines()
                .find_map(|l| l.strip_prefix("user default "))
                .map(|rules| {
                    rules
                        .split_whitespace()
                        .filter_map(|r| r.strip_prefix('#'))
                        .map(str::to_owned)
                        .collect()
                })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_certificate_serves_tls_a_new_one_rolls_in_without_dropping_writers_and_a_killed_password_rotation_is_finished_with_tofu(
) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "tls-life").await.unwrap();
    let ns = ns.name.as_str();
    let names = deployment_names(ns, "cache");
    let first_ca = TestCa::new("first test CA").unwrap();
    let first = first_ca.issue(&names).unwrap();
    put_tls_secret(&client, ns, CERT_SECRET, &first, &first_ca.cert_pem)
        .await
        .unwrap();
    let w = Arc::new(Workdir::new(Tool::Tofu, &deployment(ns, 1)));
    w.apply();

    // The user's certificate, as it is: digests in state, the Secret untouched.
    let attrs = w.attributes("redis_deployment.cache");
    assert_eq!(
        attrs["connection_url"],
        format!("rediss://cache.{ns}.svc.cluster.local:6379")
    );
    assert_eq!(attrs["tls_certificate_sha256"], sha256(&first.cert_pem));
    assert_eq!(attrs["tls_ca_sha256"], sha256(&first_ca.cert_pem));
    let stored = secret_texts(&client, ns, CERT_SECRET).await.unwrap();
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        ["ca.crt", "tls.crt", "tls.key"],
        "the provider adds nothing to the user's Secret"
    );
    assert!(!w.state_file().contains("PRIVATE KEY"));

    // Plain clients get no answer; a client of another CA no handshake; the CA's clients
    // are served the user's certificate, on every pod.
    let old_password = password(&client, ns).await;
    let second_ca = TestCa::new("second test CA").unwrap();
    assert!(
        !PodRedis::answers_plain_ping(&client, ns, "cache-0", 6379)
            .await
            .unwrap(),
        "a plain PING was answered"
    );
    assert!(
        TlsRedis::connect(&client, ns, "cache-0", &second_ca.cert_pem)
            .await
            .is_err(),
        "a client trusting another CA completed the handshake"
    );
    for pod in PODS {
        let mut conn = TlsRedis::connect(&client, ns, pod, &first_ca.cert_pem)
            .await
            .unwrap();
        assert_eq!(conn.presented, first_der(&first.cert_pem).unwrap(), "{pod}");
        conn.call(&["AUTH", "default", &old_password])
            .await
            .unwrap();
        assert_eq!(conn.call(&["PING"]).await.unwrap(), "PONG");
    }
    w.assert_plan_empty();

    // A new certificate from a new CA in the user's Secret (cert-manager re-issuing it):
    // the plan names it as the reason for a rolling restart.
    let second = second_ca.issue(&names).unwrap();
    put_tls_secret(&client, ns, CERT_SECRET, &second, &second_ca.cert_pem)
        .await
        .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "a new certificate is a change:\n{plan}");
    let said = flat(&plan);
    assert!(
        said.contains("Pods will restart") && said.contains("tls certificate"),
        "the plan says the pods restart for the certificate:\n{plan}"
    );
    assert!(plan.contains(&sha256(&second.cert_pem)), "{plan}");

    // A client trusting both CAs (as clients do while a CA is replaced) writes in a loop
    // through the apply.
    let bundle = format!("{}{}", first_ca.cert_pem, second_ca.cert_pem);
    let started = Instant::now();
    let apply = Running::start(&w);
    let through = write_through(&client, ns, &bundle, &old_password, &apply).await;
    let (out, took) = apply.finish().await;
    assert!(out.status.success(), "{}", printed(&out));
    eprintln!(
        "certificate rotation: apply {took:?}, rolling restart {:?}, a writer's longest gap {:?} \
         ({} writes, {:?} in all); its failures: {:?}",
        through.roll,
        through.longest_gap,
        through.writes,
        started.elapsed(),
        through.failures
    );
    assert!(through.writes > 10, "the writer hardly wrote: {through:?}");
    assert!(
        through.longest_gap <= through.roll + NOTICE,
        "the writer was dropped longer than the rolling restart (and the {NOTICE:?} it takes \
         to notice a dead link): {through:?}"
    );

    // Afterwards: the new certificate on every pod, for clients of the new CA only; the
    // replica replicates over it; the state has the new digests; the plan is empty.
    for pod in PODS {
        let mut conn = TlsRedis::connect(&client, ns, pod, &second_ca.cert_pem)
            .await
            .unwrap();
        assert_eq!(
            conn.presented,
            first_der(&second.cert_pem).unwrap(),
            "{pod}"
        );
        conn.call(&["AUTH", "default", &old_password])
            .await
            .unwrap();
        assert!(
            TlsRedis::connect(&client, ns, pod, &first_ca.cert_pem)
                .await
                .is_err(),
            "{pod} still serves a certificate of the first CA"
        );
    }
    let mut primary = TlsRedis::connect(&client, ns, "cache-0", &second_ca.cert_pem)
        .await
        .unwrap();
    primary
        .call(&["AUTH", "default", &old_password])
        .await
        .unwrap();
    primary
        .call(&["SET", "after:rotation", "new-ca"])
        .await
        .unwrap();
    eventually(
        "the replica streams the write over the new certificate",
        Duration::from_secs(60),
        || async {
            let mut r = TlsRedis::connect(&client, ns, "cache-1", &second_ca.cert_pem).await?;
            r.call(&["AUTH", "default", &old_password]).await?;
            let info = r.call(&["INFO", "replication"]).await?;
            let got = r.call(&["GET", "after:rotation"]).await?;
            Ok(
                (info_field(&info, "master_link_status") == Some("up") && got == "new-ca")
                    .then_some(()),
            )
        },
    )
    .await
    .unwrap();
    let attrs = w.attributes("redis_deployment.cache");
    assert_eq!(attrs["tls_certificate_sha256"], sha256(&second.cert_pem));
    assert_eq!(attrs["tls_ca_sha256"], sha256(&second_ca.cert_pem));
    w.assert_plan_empty();

    // A password rotation whose provider is killed once the Secret hands out the new
    // password, while the old one is in its grace period.
    let ca = second_ca.cert_pem.as_str();
    let objects = leftovers(&client, ns).await.unwrap();
    w.write(&deployment(ns, 2));
    let apply = Running::start(&w);
    let (halfway, killed) = eventually(
        "the password Secret holds the new password",
        Duration::from_secs(120),
        || async {
            assert!(apply.running(), "the rotation ended before the fault");
            let now = password(&client, ns).await;
            if now == old_password {
                return Ok(None);
            }
            let pids = kill_provider(&w);
            Ok((!pids.is_empty()).then_some((now, pids)))
        },
    )
    .await
    .unwrap();
    let (out, _) = apply.finish().await;
    assert!(
        !out.status.success(),
        "the rotation fails, its provider ({killed:?}) killed: {}",
        printed(&out)
    );
    // Halfway: both passwords work on every pod, and the next plan still rotates.
    for pod in PODS {
        assert!(
            auth_ok(&client, ns, pod, ca, &old_password).await,
            "{pod}: old"
        );
        assert!(
            auth_ok(&client, ns, pod, ca, &halfway).await,
            "{pod}: halfway"
        );
    }
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "{plan}");
    assert!(
        flat(&plan).contains("Password rotated without downtime"),
        "{plan}"
    );

    // The next apply finishes it: only the Secret's password works, the ACL files hold
    // its hash alone, nothing else was left in the namespace.
    w.apply();
    w.assert_plan_empty();
    let newest = password(&client, ns).await;
    for pod in PODS {
        assert!(
            auth_ok(&client, ns, pod, ca, &newest).await,
            "{pod}: newest"
        );
        for (which, old) in [("first", &old_password), ("halfway", &halfway)] {
            if *old != newest {
                assert!(
                    !auth_ok(&client, ns, pod, ca, old).await,
                    "{pod} still takes the {which} password"
                );
            }
        }
    }
    let files = client_hashes_in_files(&client, ns).await;
    assert!(
        !files.is_empty() && files.iter().all(|hashes| hashes.len() == 1),
        "the ACL files keep one client password: {files:?}"
    );
    assert_eq!(
        leftovers(&client, ns).await.unwrap(),
        objects,
        "the same objects (and pods) as before the rotation"
    );
    let state = w.state_file();
    for pw in [&old_password, &halfway, &newest] {
        assert!(!state.contains(pw.as_str()), "a password is in the state");
    }

    // Destroy leaves the user's Secret alone and nothing else.
    w.destroy();
    assert!(secret_texts(&client, ns, CERT_SECRET).await.is_ok());
    Api::<Secret>::namespaced(client.clone(), ns)
        .delete(CERT_SECRET, &Default::default())
        .await
        .unwrap();
    nothing_left(&client, ns, Duration::from_secs(120))
        .await
        .unwrap();
}
