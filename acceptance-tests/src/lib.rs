//! Harness for the acceptance tests: the test bed's environment, a kube client for
//! it, per-test namespaces, port-forwarded Redis connections and polling with
//! explicit deadlines.

pub mod bed;
pub mod cli;
pub mod dataset;
pub mod leftovers;
pub mod resp;
pub mod runner;
pub mod tls;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// What `testbed env` reports: the kubeconfig and the tool paths.
#[derive(Debug, Clone)]
pub struct TestBed {
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub terraform: Option<PathBuf>,
    pub tofu: Option<PathBuf>,
    pub terragrunt: Option<PathBuf>,
    pub logs: PathBuf,
    /// Every `KEY=value` line `testbed env` printed (the object store's endpoint and
    /// keys, PROMTOOL, ...).
    pub vars: BTreeMap<String, String>,
}

/// The test bed entry point, `acceptance-tests/testbed/testbed`.
pub fn testbed_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testbed")
        .join("testbed")
}

impl TestBed {
    /// Reads the environment from `testbed env`, once per test binary.
    pub fn get() -> &'static TestBed {
        static BED: OnceLock<TestBed> = OnceLock::new();
        BED.get_or_init(|| match TestBed::from_env_command() {
            Ok(bed) => bed,
            Err(e) => panic!("cannot read the test bed's environment: {e:#}"),
        })
    }

    fn from_env_command() -> Result<TestBed> {
        let script = testbed_script();
        let out = Command::new(&script)
            .arg("env")
            .output()
            .with_context(|| format!("running {} env", script.display()))?;
        if !out.status.success() {
            bail!(
                "{} env failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let vars = parse_env_lines(&String::from_utf8_lossy(&out.stdout));
        let path = |k: &str| vars.get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let bed = TestBed {
            kubeconfig: path("KUBECONFIG").context("testbed env printed no KUBECONFIG")?,
            kubectl: path("TESTBED_KUBECTL").context("testbed env printed no TESTBED_KUBECTL")?,
            terraform: path("TERRAFORM"),
            tofu: path("TOFU"),
            terragrunt: path("TERRAGRUNT"),
            logs: path("TESTBED_LOGS").context("testbed env printed no TESTBED_LOGS")?,
            vars: vars.clone(),
        };
        if !bed.kubeconfig.exists() {
            bail!(
                "{} does not exist: bring the test bed up first ({} up)",
                bed.kubeconfig.display(),
                script.display()
            );
        }
        Ok(bed)
    }

    /// A kube client authenticated as the test bed's administrator.
    pub async fn admin_client(&self) -> Result<Client> {
        install_crypto_provider();
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .with_context(|| format!("reading {}", self.kubeconfig.display()))?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// A kube client for the same API server, authenticated with a bearer token.
    pub async fn token_client(&self, token: &str) -> Result<Client> {
        install_crypto_provider();
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let mut config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.to_string().into()),
            ..Default::default()
        };
        Ok(Client::try_from(config)?)
    }
}

impl TestBed {
    /// A non-empty value `testbed env` printed, or an error naming what to do.
    pub fn var(&self, key: &str) -> Result<&str> {
        match self.vars.get(key).map(String::as_str) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => bail!("testbed env printed no {key}: run `testbed build`, then `testbed up`"),
        }
    }

    /// Holds the test bed's cluster-wide Prometheus Operator CRDs for one test, across
    /// test processes: a test that installs them and one that needs them absent take
    /// this lock, so neither sees the other's state. Released when dropped.
    pub fn monitoring_crds_lock(&self) -> Result<std::fs::File> {
        let home = PathBuf::from(self.var("TESTBED_HOME")?);
        std::fs::create_dir_all(&home)?;
        let path = home.join("monitoring-crds.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(file)
    }

    /// The API server's URL, from the kubeconfig.
    pub fn api_server(&self) -> String {
        std::fs::read_to_string(&self.kubeconfig)
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.trim().strip_prefix("server: ").map(str::to_owned))
            })
            .unwrap_or_else(|| panic!("no server in {}", self.kubeconfig.display()))
    }
}

/// A kube client for the test bed's administrator (panics when the bed is not up).
pub async fn admin() -> Client {
    TestBed::get()
        .admin_client()
        .await
        .expect("an admin client for the test bed")
}

/// A typed object from JSON written in a test.
pub fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

/// Whether the pod's Ready condition is True.
/// Restarts of the pod's first container.
pub fn restart_count(pod: &k8s_openapi::api::core::v1::Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .map(|c| c.restart_count)
        .unwrap_or_default()
}

pub fn pod_ready(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Any byte stream a port-forward hands out.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A Redis connection to a pod's port through the API server's port-forward.
pub struct PodRedis {
    pub resp: resp::Resp<Box<dyn Io>>,
    _forwarder: kube::api::Portforwarder,
}

impl PodRedis {
    pub async fn connect(client: &Client, ns: &str, pod: &str, port: u16) -> Result<PodRedis> {
        let (forwarder, stream) = port_forward(client, ns, pod, port).await?;
        Ok(PodRedis {
            resp: resp::Resp::new(stream),
            _forwarder: forwarder,
        })
    }

    /// Whether a plain (not TLS) PING to `ns/pod:port` gets an answer (the port-forward
    /// itself must open).
    pub async fn answers_plain_ping(
        client: &Client,
        ns: &str,
        pod: &str,
        port: u16,
    ) -> Result<bool> {
        let mut plain = PodRedis::connect(client, ns, pod, port).await?;
        Ok(plain.call(&["PING"]).await.is_ok())
    }

    /// One command; a Redis error reply becomes an error.
    pub async fn call(&mut self, args: &[&str]) -> Result<resp::Reply> {
        match tokio::time::timeout(Duration::from_secs(10), self.resp.call(args)).await {
            Err(_) => bail!("no reply to {} within 10s", args.join(" ")),
            Ok(Err(e)) => Err(e),
            Ok(Ok(resp::Reply::Error(e))) => bail!("{}: {e}", args.join(" ")),
            Ok(Ok(reply)) => Ok(reply),
        }
    }
}

/// A port-forward to `ns/pod:port` and its stream (the forwarder must live as long as
/// the stream is used).
pub async fn port_forward(
    client: &Client,
    ns: &str,
    pod: &str,
    port: u16,
) -> Result<(kube::api::Portforwarder, Box<dyn Io>)> {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), ns);
    let mut forwarder = pods
        .portforward(pod, &[port])
        .await
        .with_context(|| format!("port-forward to {ns}/{pod}:{port}"))?;
    let stream = forwarder
        .take_stream(port)
        .context("the port-forward has no stream")?;
    Ok((forwarder, Box::new(stream)))
}

/// Parses `KEY=value` lines, ignoring anything else.
pub fn parse_env_lines(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The provider binary and the test harness both compile in aws-lc-rs only; make it
/// the process default so building a kube client never has to guess.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Polls `check` every 250 ms until it yields `Some`, or fails after `timeout` with
/// the last observation in the message.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "condition not met".to_string(),
            Err(e) => format!("{e:#}"),
        };
        if tokio::time::Instant::now() >= deadline {
            bail!("{what}: not true after {timeout:?} (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A namespace that exists for one test and is deleted when the value is dropped.
pub struct TestNamespace {
    pub name: String,
}

impl TestNamespace {
    /// Creates `<prefix>-<random suffix>`.
    pub async fn create(client: &Client, prefix: &str) -> Result<TestNamespace> {
        let name = format!("{prefix}-{}", random_suffix());
        let api: Api<Namespace> = Api::all(client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(
                    "redis-testbed/test".to_string(),
                    prefix.to_string(),
                )])),
                ..Default::default()
            },
            ..Default::default()
        };
        api.create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(TestNamespace { name })
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        delete_in_background("namespace", &self.name);
    }
}

/// Deletes a cluster-scoped object with kubectl, not waiting for it to be finalized:
/// for `Drop`, which may run after the test's async runtime is gone. Best effort.
pub fn delete_in_background(kind: &str, name: &str) {
    let bed = TestBed::get();
    let _ = Command::new(&bed.kubectl)
        .arg("--kubeconfig")
        .arg(&bed.kubeconfig)
        .args(["delete", kind, name, "--wait=false", "--ignore-not-found"])
        .output();
}

/// A command's output with its line breaks (the CLIs wrap diagnostics) as spaces, for
/// matching sentences.
pub fn flat(out: &str) -> String {
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The hex SHA-256 of a file, as `sha256sum` prints it.
pub fn sha256_of(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum").arg(path).output()?;
    if !out.status.success() {
        bail!("sha256sum {} failed", path.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .chars()
        .take(64)
        .collect())
}

/// Every file under `dir`, recursively and sorted (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for p in entries.flatten().map(|e| e.path()) {
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A client connection (user `default`, the generated password from the Secret
/// `<deployment>-auth`) to `pod` of a `redis_deployment`, through a port-forward.
pub async fn client_conn(
    client: &Client,
    ns: &str,
    deployment: &str,
    pod: &str,
) -> Result<PodRedis> {
    let secret = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), ns)
        .get(&format!("{deployment}-auth"))
        .await
        .with_context(|| format!("the password Secret of {ns}/{deployment}"))?;
    let password = secret
        .data
        .and_then(|d| {
            d.get("password")
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        })
        .context("the Secret has no password")?;
    let mut conn = PodRedis::connect(client, ns, pod, 6379).await?;
    conn.call(&["AUTH", &password]).await?;
    Ok(conn)
}

/// Eight lowercase hex characters, unique enough for names within one run.
pub fn random_suffix() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:08x}", h.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_are_parsed_into_pairs_and_noise_is_ignored() {
        let vars = parse_env_lines("KUBECONFIG=/a/b\nnoise\nTERRAGRUNT=\nTOFU=/t/tofu\n");
        assert_eq!(vars.get("KUBECONFIG").map(String::as_str), Some("/a/b"));
        assert_eq!(vars.get("TERRAGRUNT").map(String::as_str), Some(""));
        assert_eq!(vars.get("TOFU").map(String::as_str), Some("/t/tofu"));
        assert_eq!(vars.len(), 3);
    }

    #[test]
    fn random_suffixes_are_dns_label_safe_and_differ() {
        let a = random_suffix();
        let b = random_suffix();
        assert_eq!(a.len(), 8);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }
}
