//! Rotating the clients' password of a `redis_deployment` without downtime, against the
//! test bed: a new generated password (`auth.password_version`, under tofu), a new
//! write-only one (`auth.password_wo_version`, under terraform), then a new value in the
//! user's own Secret (`auth.existing_secret`). While the apply runs, a
//! watcher authenticates with the old password and with whatever the password Secret
//! holds, on every pod, over and over: the old password works until the last step, the
//! Secret never hands out a password a pod refuses, and afterwards only the new one
//! works, without a pod restarting; a connection opened with the old password stays
//! open, replication goes on, and neither password is in the plan or the state.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::info_field;
use acceptance_tests::{admin, eventually, PodRedis, TestNamespace};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

const PODS: [&str; 2] = ["cache-0", "cache-1"];

fn deployment(ns: &str, auth: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         replicas  = 2\n  persistence = {{ enabled = false }}\n  auth = {{\n{auth}\n    \
         rotation_grace_seconds = 4\n  }}\n}}\n"
    )
}

/// The clients' password in the Secret `cache-auth`.
async fn secret_password(client: &Client, ns: &str) -> String {
    secret_value(client, ns, "cache-auth", "password").await
}

/// A key of a Secret.
async fn secret_value(client: &Client, ns: &str, name: &str, key: &str) -> String {
    let s = Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap();
    String::from_utf8(s.data.unwrap()[key].0.clone()).unwrap()
}

/// Writes `value` under `key` of the Secret `name` (created if missing).
async fn put_secret(client: &Client, ns: &str, name: &str, key: &str, value: &str) {
    let api = Api::<Secret>::namespaced(client.clone(), ns);
    let secret: Secret = acceptance_tests::from_json(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {key: value},
    }));
    let params = kube::api::PatchParams::apply("rotation-test").force();
    api.patch(name, &params, &kube::api::Patch::Apply(&secret))
        .await
        .unwrap();
}

/// The pods by name, with their uids and restart counts.
async fn pods(client: &Client, ns: &str) -> BTreeMap<String, (String, i32)> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| {
            let restarts = acceptance_tests::restart_count(&p);
            (
                p.metadata.name.unwrap_or_default(),
                (p.metadata.uid.unwrap_or_default(), restarts),
            )
        })
        .collect()
}

/// Whether `AUTH default <password>` succeeds on `conn`.
async fn auth_ok(conn: &mut PodRedis, password: &str) -> bool {
    conn.call(&["AUTH", "default", password]).await.is_ok()
}

/// One look, during an apply: whether the Secret held a new password (read first), the
/// old password's AUTH on each pod, and the Secret's password's on each pod.
#[derive(Debug)]
struct Sample {
    at: Duration,
    secret_new: bool,
    old_ok: Vec<bool>,
    secret_ok: Vec<bool>,
}

/// Applies while watching every pod: samples until the apply has ended.
async fn apply_watching(w: &Workdir, client: &Client, ns: &str, old: &str) -> Vec<Sample> {
    apply_watching_secret(w, client, ns, ("cache-auth", "password"), old).await
}

/// [`apply_watching`], the clients' password being in the Secret `name`, key `key`.
async fn apply_watching_secret(
    w: &Workdir,
    client: &Client,
    ns: &str,
    (name, key): (&str, &str),
    old: &str,
) -> Vec<Sample> {
    let mut conns = Vec::new();
    for pod in PODS {
        conns.push(PodRedis::connect(client, ns, pod, 6379).await.unwrap());
    }
    tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let apply = s.spawn(|| w.apply());
            let started = Instant::now();
            let samples = tokio::runtime::Handle::current().block_on(async {
                let mut samples = Vec::new();
                while !apply.is_finished() {
                    let secret = secret_value(client, ns, name, key).await;
                    let mut sample = Sample {
                        at: started.elapsed(),
                        secret_new: secret != old,
                        old_ok: Vec::new(),
                        secret_ok: Vec::new(),
                    };
                    for conn in conns.iter_mut() {
                        sample.old_ok.push(auth_ok(conn, old).await);
                        sample.secret_ok.push(auth_ok(conn, &secret).await);
                    }
                    samples.push(sample);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                samples
            });
            let out = apply.join().expect("the apply thread");
            assert!(
                !out.contains("Pods will restart"),
                "a rotation restarts nothing:\n{out}"
            );
            samples
        })
    })
}

/// What a rotation from `old` must have looked like from outside, sample by sample.
fn check_timeline(samples: &[Sample]) {
    assert!(samples.len() > 5, "too few samples: {samples:?}");
    let flip = samples
        .iter()
        .position(|s| s.secret_new)
        .unwrap_or_else(|| panic!("the Secret never held the new password: {samples:?}"));
    for s in samples {
        // The Secret never hands out a password a pod refuses.
        assert!(
            s.secret_ok.iter().all(|ok| *ok),
            "a pod refused the Secret's password at {:?}: {samples:#?}",
            s.at
        );
    }
    for s in &samples[..flip] {
        assert!(
            s.old_ok.iter().all(|ok| *ok),
            "the old password failed before the Secret changed, at {:?}: {samples:#?}",
            s.at
        );
    }
    // After the Secret changed, the old password still worked for a while (the grace
    // period), on every pod: it is removed only at the last step.
    let kept = samples[flip..]
        .iter()
        .take_while(|s| s.old_ok.iter().all(|ok| *ok))
        .count();
    assert!(
        kept >= 2,
        "the old password stopped working as soon as the Secret changed: {samples:#?}"
    );
    // Once a pod refuses the old password, it never takes it again.
    for (i, pod) in PODS.iter().enumerate() {
        if let Some(gone) = samples[flip..].iter().position(|s| !s.old_ok[i]) {
            assert!(
                samples[flip + gone..].iter().all(|s| !s.old_ok[i]),
                "the old password came back on {pod} after being removed: {samples:#?}"
            );
        }
    }
    eprintln!(
        "{} samples over {:?}: the Secret changed at {:?}, the old password worked on every \
         pod for {kept} samples after it",
        samples.len(),
        samples.last().map(|s| s.at).unwrap_or_default(),
        samples[flip].at
    );
}

/// After a rotation from `old` to `new`: only `new` authenticates, on every pod, without
/// a restart; `held` (authenticated with `old` before) still answers; the replica
/// replicates a write made with `new`; the plan is empty; no password is in the state.
async fn check_after(
    w: &Workdir,
    client: &Client,
    ns: &str,
    old: &str,
    new: &str,
    held: &mut PodRedis,
    before: &BTreeMap<String, (String, i32)>,
) {
    only_the_new_password_works(client, ns, old, new).await;
    assert_eq!(&pods(client, ns).await, before, "no pod restarted");
    let got = held.call(&["GET", "rotation:before"]).await.unwrap();
    assert_eq!(
        got.text().unwrap(),
        "kept",
        "the old connection still works"
    );
    let mut primary = PodRedis::connect(client, ns, "cache-0", 6379)
        .await
        .unwrap();
    primary.call(&["AUTH", "default", new]).await.unwrap();
    primary
        .call(&["SET", "rotation:after", new.len().to_string().as_str()])
        .await
        .unwrap();
    let mut replica = PodRedis::connect(client, ns, "cache-1", 6379)
        .await
        .unwrap();
    replica.call(&["AUTH", "default", new]).await.unwrap();
    let info = replica.call(&["INFO", "replication"]).await.unwrap();
    assert_eq!(
        info_field(info.text().unwrap(), "master_link_status"),
        Some("up"),
        "replication survives the rotation"
    );
    let replicated = eventually("the write replicated", Duration::from_secs(30), || async {
        let mut r = PodRedis::connect(client, ns, "cache-1", 6379).await?;
        r.call(&["AUTH", "default", new]).await?;
        let v = r.call(&["GET", "rotation:after"]).await?;
        Ok(v.text().ok().map(|_| ()))
    })
    .await;
    if let Err(e) = replicated {
        panic!("{e}\n{}", replication_report(client, ns, new).await);
    }
    w.assert_plan_empty();
    let state = w.state_file();
    assert!(
        !state.contains(old) && !state.contains(new),
        "a password is in the state"
    );
}

/// Each pod's `INFO replication`, for a failure's message: which primary a replica
/// follows, at which offset, and how long since it last heard from it.
async fn replication_report(client: &Client, ns: &str, password: &str) -> String {
    let mut report = String::new();
    for pod in PODS {
        let info = async {
            let mut r = PodRedis::connect(client, ns, pod, 6379).await?;
            r.call(&["AUTH", "default", password]).await?;
            let info = r.call(&["INFO", "replication"]).await?;
            anyhow::Ok(info.text().unwrap_or_default().to_string())
        };
        let text = info.await.unwrap_or_else(|e| format!("(not read: {e})"));
        report.push_str(&format!("{pod}:\n{text}\n"));
    }
    report
}

/// The plan of a rotation: a change, "Password rotated without downtime" with each of
/// `phrases`, no restart, and none of `passwords`.
fn rotation_plan(w: &Workdir, phrases: &[&str], passwords: &[&str]) -> String {
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "a rotation is a change:\n{plan}");
    let flat = acceptance_tests::flat(&plan);
    for phrase in ["Password rotated without downtime"].iter().chain(phrases) {
        assert!(flat.contains(phrase), "the plan says {phrase:?}:\n{plan}");
    }
    assert!(!flat.contains("Pods will restart"), "{plan}");
    for pw in passwords {
        assert!(!plan.contains(pw), "a password is in the plan");
    }
    plan
}

/// On every pod, `old` is refused and `new` accepted.
async fn only_the_new_password_works(client: &Client, ns: &str, old: &str, new: &str) {
    assert_ne!(old, new);
    for pod in PODS {
        let mut conn = PodRedis::connect(client, ns, pod, 6379).await.unwrap();
        assert!(
            !auth_ok(&mut conn, old).await,
            "{pod} still takes the old password"
        );
        assert!(
            auth_ok(&mut conn, new).await,
            "{pod} refuses the new password"
        );
    }
}

/// A client connection with `password`, holding a key written before the rotation.
async fn held_connection(client: &Client, ns: &str, password: &str) -> PodRedis {
    let mut held = PodRedis::connect(client, ns, "cache-0", 6379)
        .await
        .unwrap();
    held.call(&["AUTH", "default", password]).await.unwrap();
    held.call(&["SET", "rotation:before", "kept"])
        .await
        .unwrap();
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_version_rotates_the_generated_password_without_downtime_with_tofu() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "rotate-gen").await.unwrap();
    let w = Workdir::new(
        Tool::Tofu,
        &deployment(&ns.name, "    password_version = 1"),
    );
    w.apply();
    let old = secret_password(&client, &ns.name).await;
    let mut held = held_connection(&client, &ns.name, &old).await;
    let before = pods(&client, &ns.name).await;

    w.write(&deployment(&ns.name, "    password_version = 2"));
    let plan = rotation_plan(
        &w,
        &["auth.password_version 1 -> 2", "keep working until step 3"],
        &[&old],
    );

    let samples = apply_watching(&w, &client, &ns.name, &old).await;
    check_timeline(&samples);
    let new = secret_password(&client, &ns.name).await;
    assert!(!plan.contains(&new), "the new password is in the plan");
    check_after(&w, &client, &ns.name, &old, &new, &mut held, &before).await;
    w.destroy();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_wo_version_bump_and_a_new_value_in_an_existing_secret_rotate_without_downtime_with_terraform(
) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "rotate-wo").await.unwrap();
    let auth = |pw: &str, version: u32| {
        format!("    password_wo = \"{pw}\"\n    password_wo_version = {version}")
    };
    let (old, new) = ("rotation-wo-first-3b1d", "rotation-wo-second-9e4a");
    let w = Workdir::new(Tool::Terraform, &deployment(&ns.name, &auth(old, 1)));
    w.apply();
    assert_eq!(secret_password(&client, &ns.name).await, old);
    let mut held = held_connection(&client, &ns.name, old).await;
    let before = pods(&client, &ns.name).await;

    w.write(&deployment(&ns.name, &auth(new, 2)));
    rotation_plan(
        &w,
        &["auth.password_wo_version 1 -> 2", "4 s later"],
        &[old, new],
    );

    let samples = apply_watching(&w, &client, &ns.name, old).await;
    check_timeline(&samples);
    assert_eq!(secret_password(&client, &ns.name).await, new);
    check_after(&w, &client, &ns.name, old, new, &mut held, &before).await;

    // The user's own Secret, then a new value in it (which only a refresh can see).
    let (first, second) = ("rotation-existing-one-5c2f", "rotation-existing-two-7d8b");
    put_secret(&client, &ns.name, "app-redis", "pw", first).await;
    let existing = "    existing_secret = { name = \"app-redis\", key = \"pw\" }";
    w.write(&deployment(&ns.name, existing));
    w.apply();
    let mut conn = PodRedis::connect(&client, &ns.name, "cache-1", 6379)
        .await
        .unwrap();
    assert!(auth_ok(&mut conn, first).await && !auth_ok(&mut conn, new).await);
    w.assert_plan_empty();
    put_secret(&client, &ns.name, "app-redis", "pw", second).await;
    rotation_plan(
        &w,
        &["a new value in auth.existing_secret"],
        &[first, second],
    );
    let samples = apply_watching_secret(&w, &client, &ns.name, ("app-redis", "pw"), first).await;
    check_existing_timeline(&samples);
    only_the_new_password_works(&client, &ns.name, first, second).await;
    assert_eq!(pods(&client, &ns.name).await, before, "no pod restarted");
    w.assert_plan_empty();
    w.destroy();
}

/// A rotation to a value the user already wrote into their Secret: per pod, the new
/// value is refused until step 1 and accepted from then on; the old one works until
/// the last step (at least a few samples after the new one is accepted everywhere) and
/// never again after; no moment refuses both.
fn check_existing_timeline(samples: &[Sample]) {
    assert!(samples.len() > 5, "too few samples: {samples:?}");
    for s in samples {
        assert!(
            s.old_ok.iter().zip(&s.secret_ok).all(|(a, b)| *a || *b),
            "a pod refused both passwords at {:?}: {samples:#?}",
            s.at
        );
    }
    for (i, pod) in PODS.iter().enumerate() {
        let monotone = |f: &dyn Fn(&Sample) -> bool| {
            let first = samples.iter().position(f).unwrap_or(samples.len());
            samples[first..].iter().all(f)
        };
        assert!(
            monotone(&|s| s.secret_ok[i]),
            "{pod}: the new value was refused again after being accepted: {samples:#?}"
        );
        assert!(
            monotone(&|s| !s.old_ok[i]),
            "{pod}: the old value came back after being removed: {samples:#?}"
        );
    }
    let both = samples
        .iter()
        .filter(|s| s.secret_ok.iter().chain(&s.old_ok).all(|ok| *ok))
        .count();
    assert!(
        both >= 2,
        "the old value did not keep working beside the new one: {samples:#?}"
    );
}
