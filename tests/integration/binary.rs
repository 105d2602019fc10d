//! The built binary: run by hand it explains itself; under the go-plugin environment it
//! prints exactly the handshake line and stops on the controller's Shutdown or SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use terraform_provider_redis::pb::plugin as gp;
use terraform_provider_redis::plugin::{tls, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

use crate::util::ChildGuard;

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-redis");

/// The plugin as Terraform starts it, with the client certificate `client` (DER).
fn plugin_command(client: &[u8]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", crate::util::pem(client))
        .env("TF_LOG", "DEBUG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A client certificate as Terraform makes one for each run.
fn client_cert() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    tls::self_signed("HashiCorp").expect("a client certificate")
}

/// Waits (bounded) for the child to exit; returns whether it exited successfully.
fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.success();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the plugin did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Everything left in a pipe of the child.
fn drain(mut pipe: impl Read) -> String {
    let mut text = String::new();
    pipe.read_to_string(&mut text).expect("reads");
    text
}

fn start_plugin(client: &[u8]) -> (ChildGuard, String, BufReader<std::process::ChildStdout>) {
    let mut child = ChildGuard(plugin_command(client).spawn().expect("spawns"));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("reads the handshake line");
    (child, line, stdout)
}

#[test]
fn run_by_hand_the_binary_explains_itself_and_fails() {
    let out = Command::new(BIN)
        .env_remove(MAGIC_COOKIE_KEY)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plugin for Terraform and OpenTofu"),
        "{stderr}"
    );
}

#[test]
fn a_host_without_protocol_six_is_refused() {
    let out = plugin_command(client_cert().0.as_ref())
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert!(String::from_utf8_lossy(&out.stderr).contains("version 6"));
}

#[test]
fn the_handshake_line_is_all_there_is_on_stdout_and_shutdown_ends_the_process() {
    let client = client_cert();
    let (mut child, line, mut stdout) = start_plugin(client.0.as_ref());
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(parts[..3], ["1", "6", "tcp"], "{line}");
    assert!(parts[3].starts_with("127.0.0.1:"), "{line}");
    assert_eq!(parts[4], "grpc");
    let addr: std::net::SocketAddr = parts[3].parse().expect("address");
    let server_cert =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD_NO_PAD, parts[5])
            .expect("the server certificate, base64 without padding");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let channel = crate::util::tls_channel(addr, server_cert, client)
            .await
            .expect("connects over AutoMTLS");
        let mut controller = gp::grpc_controller_client::GrpcControllerClient::new(channel);
        controller.shutdown(gp::Empty {}).await.expect("shutdown");
    });
    assert!(
        wait_exit(&mut child, Duration::from_secs(2)),
        "exits 0 within 2 s"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("reads");
    assert_eq!(rest, "", "nothing after the handshake line");
    let stderr = drain(child.stderr.take().expect("stderr"));
    assert!(
        stderr.contains("provider serving"),
        "logs go to stderr: {stderr}"
    );
}

#[test]
fn sigterm_ends_the_process_cleanly() {
    let (mut child, _, _stdout) = start_plugin(client_cert().0.as_ref());
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert!(
        wait_exit(&mut child, Duration::from_secs(3)),
        "exits 0 on SIGTERM"
    );
}

#[test]
fn sigint_alone_does_not_stop_the_plugin() {
    let (mut child, _, _stdout) = start_plugin(client_cert().0.as_ref());
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "still running after SIGINT"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(wait_exit(&mut child, Duration::from_secs(3)));
}

#[test]
fn without_a_client_certificate_the_plugin_refuses_to_serve_plaintext() {
    let mut child = ChildGuard(
        plugin_command(client_cert().0.as_ref())
            .env_remove("PLUGIN_CLIENT_CERT")
            .spawn()
            .expect("spawns"),
    );
    assert!(
        !wait_exit(&mut child, Duration::from_secs(5)),
        "exits with an error"
    );
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    assert_eq!(stdout, "", "no handshake line: nothing to connect to");
    assert!(stderr.contains("PLUGIN_CLIENT_CERT is not set"), "{stderr}");
    assert!(
        stderr.contains("--debug"),
        "names the way to run it for a debugger: {stderr}"
    );
}

#[test]
fn debug_mode_prints_the_reattach_configuration_and_stops_at_end_of_stdin() {
    let mut child = ChildGuard(
        Command::new(BIN)
            .arg("--debug")
            .env_remove(MAGIC_COOKIE_KEY)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns"),
    );
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut reattach = None;
    for _ in 0..10 {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("reads") == 0 {
            break;
        }
        if let Some(value) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            reattach = Some(value.trim_end_matches('\'').to_owned());
            break;
        }
    }
    let reattach = reattach.expect("a TF_REATTACH_PROVIDERS line");
    let json: serde_json::Value = serde_json::from_str(&reattach).expect("json");
    let entry = &json["registry.terraform.io/redis-k8s/redis"];
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Addr"]["Network"], "tcp");
    assert_eq!(entry["Pid"], child.id());
    drop(child.stdin.take());
    assert!(
        wait_exit(&mut child, Duration::from_secs(3)),
        "exits when stdin closes"
    );
}
