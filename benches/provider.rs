//! Provider figures (a benchmark, not a test): time from process start to the handshake
//! line, GetProviderSchema latency over AutoMTLS, the provider's RSS, and the wall time of
//! `terraform plan` on a configuration with 10 `redis_deployment` resources.
//!
//! Run with `benches/run.sh`, or `cargo bench -p terraform-provider-redis --bench provider`
//! (which builds the release binary too). Nothing here asserts on a timing: it prints.
//!
//! Knobs (environment): `BENCH_SPAWNS` (default 30), `BENCH_SCHEMA_CALLS` (1000),
//! `BENCH_PLANS` (5), `BENCH_PLAN_CLUSTER=none` to plan against a dead API server even when
//! the test bed is up, `PROVIDER_BINARY` to measure another build, `TERRAFORM` for another
//! Terraform CLI.

use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use prost::Message as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use terraform_provider_redis::pb::plugin as gp;
use terraform_provider_redis::pb::tfplugin6 as pb;
use terraform_provider_redis::plugin::{tls, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use tonic::transport::Channel;

/// The binary cargo built alongside this bench (same profile).
const BUILT_BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-redis");
const TERRAFORM: &str = "/usr/local/bin/terraform";
const SOURCE: &str = "redis-k8s/redis";
const DEPLOYMENTS: usize = 10;
mod common;
use common::HANDSHAKE_TIMEOUT;

fn main() -> Result<()> {
    // The client side needs aws-lc-rs too (P-521 client key, like Terraform's).
    tls::install_process_provider();
    let bin = provider_binary()?;
    let spawns = knob("BENCH_SPAWNS", 30);
    let calls = knob("BENCH_SCHEMA_CALLS", 1000).max(100);
    let plans = knob("BENCH_PLANS", 5);

    println!("provider binary: {}", bin.display());
    println!(
        "machine: {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".to_owned())
    );
    let client = ClientCert::generate()?;
    let mut table = Table::default();

    handshake_figures(&bin, &client, spawns, &mut table)?;
    schema_and_rss_figures(&bin, &client, calls, &mut table)?;
    plan_figures(&bin, plans, &mut table)?;

    println!();
    table.print();
    Ok(())
}

/// A positive count from the environment, or `default`.
fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// $PROVIDER_BINARY, the binary cargo built for this bench, or the one next to this bench
/// executable's directory (`target/<profile>/deps/provider-*` -> `target/<profile>/`).
fn provider_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("PROVIDER_BINARY") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("PROVIDER_BINARY={} is not a file", path.display());
        }
        return Ok(path);
    }
    let built = PathBuf::from(BUILT_BINARY);
    if built.is_file() {
        return Ok(built);
    }
    let exe = std::env::current_exe().context("cannot locate the bench executable")?;
    let sibling = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile_dir| profile_dir.join("terraform-provider-redis"));
    match sibling {
        Some(path) if path.is_file() => Ok(path),
        _ => bail!(
            "no provider binary at {BUILT_BINARY} nor next to {}: run \
             `cargo build --release -p terraform-provider-redis` first or set PROVIDER_BINARY",
            exe.display()
        ),
    }
}

// ---------------------------------------------------------------------------------------
// 1. process start -> handshake line

fn handshake_figures(
    bin: &Path,
    client: &ClientCert,
    spawns: usize,
    table: &mut Table,
) -> Result<()> {
    eprintln!("spawning the provider {spawns} times (+1 cold) ...");
    let mut samples = Vec::with_capacity(spawns);
    let mut cold = None;
    for i in 0..=spawns {
        let running = Running::spawn(bin, &client.pem)?;
        if i == 0 {
            cold = Some(running.to_handshake);
        } else {
            samples.push(running.to_handshake);
        }
        running.kill();
    }
    if let Some(cold) = cold {
        table.single("start -> handshake line, first spawn", cold);
    }
    table.stats("start -> handshake line (AutoMTLS)", &mut samples);
    Ok(())
}

/// A provider process started as Terraform starts it.
struct Running {
    child: Child,
    /// Held open so that the plugin never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    to_handshake: Duration,
    addr: SocketAddr,
    server_cert: Vec<u8>,
}

impl Running {
    /// Spawns `bin` with the go-plugin environment and reads the handshake line.
    fn spawn(bin: &Path, client_cert_pem: &str) -> Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
            .env("PLUGIN_PROTOCOL_VERSIONS", "6")
            .env("PLUGIN_CLIENT_CERT", client_cert_pem)
            .env_remove("TF_LOG")
            .env_remove("TF_LOG_PROVIDER")
            .env_remove("PLUGIN_MIN_PORT")
            .env_remove("PLUGIN_MAX_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            bail!("no stdout pipe");
        };
        let received = common::first_line(stdout);
        let (line, at, reader) = match received {
            Ok((Ok(line), at, reader)) => (line, at, reader),
            Ok((Err(e), _, _)) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e).context("cannot read the handshake line");
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("no handshake line within {HANDSHAKE_TIMEOUT:?}");
            }
        };
        let to_handshake = at.duration_since(start);
        let parsed = parse_handshake(&line);
        let (addr, server_cert) = match parsed {
            Ok(v) => v,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Self {
            child,
            _stdout: reader,
            to_handshake,
            addr,
            server_cert,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process (between samples, a clean shutdown would only cost time).
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the process to exit by itself; kills it otherwise.
    fn wait_exit(mut self, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill();
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `1|6|tcp|127.0.0.1:PORT|grpc|CERT` -> the address and the server certificate (DER).
fn parse_handshake(line: &str) -> Result<(SocketAddr, Vec<u8>)> {
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    if parts.len() != 6 || parts[..3] != ["1", "6", "tcp"] || parts[4] != "grpc" {
        bail!("unexpected handshake line {line:?}");
    }
    let addr = parts[3]
        .parse()
        .with_context(|| format!("bad address in handshake line {line:?}"))?;
    let cert = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(parts[5])
        .context("the handshake line's certificate is not unpadded base64")?;
    Ok((addr, cert))
}

// ---------------------------------------------------------------------------------------
// 2. GetProviderSchema latency, 3. RSS

fn schema_and_rss_figures(
    bin: &Path,
    client: &ClientCert,
    calls: usize,
    table: &mut Table,
) -> Result<()> {
    eprintln!("{calls} GetProviderSchema calls over mTLS ...");
    let running = Running::spawn(bin, &client.pem)?;
    let pid = running.pid();
    let rss_start = rss_kib(pid)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    let (connect, first, mut samples, rss_100, size, shutdown_ok) = runtime.block_on(async {
        let t = Instant::now();
        let channel = tls_channel(running.addr, running.server_cert.clone(), client.key_pair())
            .await
            .context("cannot connect over mTLS")?;
        let connect = t.elapsed();
        let mut provider = pb::provider_client::ProviderClient::new(channel.clone())
            .max_decoding_message_size(64 * 1024 * 1024);
        let t = Instant::now();
        let resp = provider
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .context("GetProviderSchema failed")?
            .into_inner();
        let first = t.elapsed();
        if !resp.diagnostics.is_empty() {
            bail!(
                "GetProviderSchema returned diagnostics: {:?}",
                resp.diagnostics
            );
        }
        let size = resp.encoded_len();
        let mut samples = Vec::with_capacity(calls);
        let mut rss_100 = None;
        for i in 1..=calls {
            let t = Instant::now();
            provider
                .get_provider_schema(pb::get_provider_schema::Request {})
                .await
                .context("GetProviderSchema failed")?;
            samples.push(t.elapsed());
            if i == 100 {
                rss_100 = Some(rss_kib(pid)?);
            }
        }
        let mut controller = gp::grpc_controller_client::GrpcControllerClient::new(channel);
        let shutdown_ok = controller.shutdown(gp::Empty {}).await.is_ok();
        Ok((connect, first, samples, rss_100, size, shutdown_ok))
    })?;
    let rss_end = rss_kib(pid)?;
    let hwm = hwm_kib(pid).unwrap_or(0);
    // Close the client's connection, as Terraform does after Shutdown: an idle connection
    // left open would hold the server in its grace period.
    drop(runtime);
    let exited = if shutdown_ok {
        running.wait_exit(Duration::from_secs(3))
    } else {
        running.kill();
        None
    };

    table.single("mTLS connect (TCP + TLS 1.3, P-521 client)", connect);
    table.single("GetProviderSchema, first call", first);
    table.stats("GetProviderSchema, one connection", &mut samples);
    table.note(
        "GetProviderSchema response size",
        format!("{:.1} KiB", size as f64 / 1024.0),
    );
    table.note("provider RSS after the handshake line", mib(rss_start));
    if let Some(rss) = rss_100 {
        table.note("provider RSS after 100 GetProviderSchema", mib(rss));
    }
    table.note(
        format!("provider RSS after {} GetProviderSchema", calls + 1),
        mib(rss_end),
    );
    table.note("provider peak RSS (VmHWM)", mib(hwm));
    table.note(
        "exit after controller Shutdown",
        match exited {
            Some(d) => format!("{:.1} ms", ms(d)),
            None => "did not exit within 3 s (killed)".to_owned(),
        },
    );
    Ok(())
}

fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn rss_kib(pid: u32) -> Result<u64> {
    proc_status_kib(pid, "VmRSS:")
}

fn hwm_kib(pid: u32) -> Result<u64> {
    proc_status_kib(pid, "VmHWM:")
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The client side of AutoMTLS as Terraform does it: a self-signed ECDSA P-521 / SHA-512
/// CA certificate (O=HashiCorp, CN=localhost), passed to the plugin as PEM.
struct ClientCert {
    pem: String,
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl ClientCert {
    fn generate() -> Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)
            .context("cannot generate a P-521 key")?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])
            .context("cannot make certificate parameters")?;
        params
            .distinguished_name
            .push(DnType::OrganizationName, "HashiCorp");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
            KeyUsagePurpose::KeyCertSign,
        ];
        let cert = params
            .self_signed(&key)
            .context("cannot self-sign the client certificate")?;
        Ok(Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }

    fn key_pair(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        (
            self.der.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        )
    }
}

use terraform_provider_redis::plugin::tls::PinnedServerCert as Pinned;

/// A gRPC channel over mTLS to the plugin at `addr`, pinned to its certificate.
async fn tls_channel(
    addr: SocketAddr,
    server_cert: Vec<u8>,
    client: (CertificateDer<'static>, PrivateKeyDer<'static>),
) -> Result<Channel> {
    let mut config = rustls::ClientConfig::builder_with_provider(tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .context("rustls protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned(server_cert)))
        .with_client_auth_cert(vec![client.0], client.1)
        .context("rustls client certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                tcp.set_nodelay(true)?;
                let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await?;
    Ok(channel)
}

// ---------------------------------------------------------------------------------------
// 4. terraform plan, 10 deployments

fn plan_figures(bin: &Path, plans: usize, table: &mut Table) -> Result<()> {
    let terraform = std::env::var_os("TERRAFORM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(TERRAFORM));
    if !terraform.is_file() {
        table.note(
            "terraform plan, 10 redis_deployment",
            format!("skipped: no {}", terraform.display()),
        );
        return Ok(());
    }
    let version = Command::new(&terraform)
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "terraform (version unknown)".to_owned());
    let (cluster, provider_block) = plan_cluster();
    println!("plan: {version}, {cluster}");
    eprintln!("terraform plan x {plans} (+1 warm-up) ...");

    let plugin_dir = bin
        .parent()
        .context("the provider binary has no directory")?;
    let dir = tempfile::tempdir().context("cannot make a temp dir")?;
    let cli_config = format!(
        "provider_installation {{\n  dev_overrides {{\n    {SOURCE:?} = {:?}\n  }}\n  direct {{}}\n}}\n",
        plugin_dir.display().to_string()
    );
    std::fs::write(dir.path().join("cli.tfrc"), cli_config).context("cannot write cli.tfrc")?;
    let mut main_tf = format!(
        "terraform {{\n  required_providers {{\n    redis = {{ source = {SOURCE:?} }}\n  }}\n}}\n\n{provider_block}\n"
    );
    for i in 1..=DEPLOYMENTS {
        main_tf.push_str(&format!(
            "\nresource \"redis_deployment\" \"bench_{i}\" {{\n  name      = \"bench-{i}\"\n  namespace = \"bench\"\n  replicas  = {}\n}}\n",
            if i % 2 == 0 { 3 } else { 1 }
        ));
    }
    std::fs::write(dir.path().join("main.tf"), main_tf).context("cannot write main.tf")?;

    let run = || -> Result<Duration> {
        let start = Instant::now();
        let out = Command::new(&terraform)
            .args(["plan", "-input=false", "-no-color", "-lock=false"])
            .current_dir(dir.path())
            .env("TF_CLI_CONFIG_FILE", dir.path().join("cli.tfrc"))
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("TF_LOG")
            .env_remove("TF_LOG_PATH")
            .env_remove("TF_REATTACH_PROVIDERS")
            .env_remove("TF_CLI_ARGS")
            .env_remove("TF_CLI_ARGS_plan")
            .stdin(Stdio::null())
            .output()
            .context("cannot run terraform")?;
        let elapsed = start.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let want = format!("{DEPLOYMENTS} to add");
        if !out.status.success() || !stdout.contains(&want) {
            bail!(
                "terraform plan did not plan {want} ({}):\nstdout:\n{stdout}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(elapsed)
    };
    let warm_up = run()?;
    let mut samples = Vec::with_capacity(plans);
    for _ in 0..plans {
        samples.push(run()?);
    }
    table.single("terraform plan, 10 redis_deployment, first", warm_up);
    table.stats("terraform plan, 10 redis_deployment", &mut samples);
    Ok(())
}

/// The test bed's kubeconfig when `testbed env` names one that exists (and
/// BENCH_PLAN_CLUSTER is not `none`); a dead API server otherwise. A plan of new
/// deployments only needs the provider to be configured.
fn plan_cluster() -> (String, String) {
    let dead = (
        "cluster: none (provider pointed at https://127.0.0.1:1, insecure)".to_owned(),
        "provider \"redis\" {\n  kubernetes = {\n    host     = \"https://127.0.0.1:1\"\n    insecure = true\n  }\n}\n".to_owned(),
    );
    if std::env::var("BENCH_PLAN_CLUSTER").is_ok_and(|v| v == "none") {
        return dead;
    }
    let testbed = Path::new(env!("CARGO_MANIFEST_DIR")).join("acceptance-tests/testbed/testbed");
    let kubeconfig = Command::new(&testbed)
        .arg("env")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
                l.strip_prefix("KUBECONFIG=")
                    .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
            })
        })
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    match kubeconfig {
        Some(path) => (
            format!("cluster: test bed kubeconfig {}", path.display()),
            format!(
                "provider \"redis\" {{\n  kubernetes = {{\n    config_path = {:?}\n  }}\n}}\n",
                path.display().to_string()
            ),
        ),
        None => dead,
    }
}

// ---------------------------------------------------------------------------------------
// The printed table

#[derive(Default)]
struct Table {
    rows: Vec<[String; 5]>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fmt_duration(d: Duration) -> String {
    let ms = ms(d);
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.0} µs", ms * 1000.0)
    }
}

impl Table {
    /// min / median / p90 (nearest rank) of `samples`.
    fn stats(&mut self, what: &str, samples: &mut [Duration]) {
        samples.sort_unstable();
        let n = samples.len();
        if n == 0 {
            return;
        }
        let nearest = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        self.rows.push([
            what.to_owned(),
            n.to_string(),
            fmt_duration(samples[0]),
            fmt_duration(nearest(0.5)),
            fmt_duration(nearest(0.9)),
        ]);
    }

    fn single(&mut self, what: &str, d: Duration) {
        self.rows.push([
            what.to_owned(),
            "1".to_owned(),
            fmt_duration(d),
            String::new(),
            String::new(),
        ]);
    }

    fn note(&mut self, what: impl Into<String>, value: String) {
        self.rows.push([
            what.into(),
            String::new(),
            value,
            String::new(),
            String::new(),
        ]);
    }

    fn print(&self) {
        let header = ["figure", "n", "min / value", "median", "p90"];
        let mut widths = header.map(|h| h.chars().count());
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 5]| {
            let mut s = format!("{:<w$}", cells[0], w = widths[0]);
            for (cell, w) in cells.iter().zip(widths).skip(1) {
                s.push_str(&format!("  {cell:>w$}"));
            }
            println!("{}", s.trim_end());
        };
        line(header);
        println!(
            "{}",
            "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
        );
        for row in &self.rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
    }
}
