//! Exec credential plugins (`aws eks get-token` and the like), run by the provider itself
//! rather than inside the Kubernetes client: as a child process awaited without blocking a
//! worker thread, within a time limit, never interactive, and failing with only the
//! command's name and exit status (its output and environment may hold secrets).

use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::client::Body;
use kube::config::ExecConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How long one run of a credential plugin may take.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// A token this close to its expiry is fetched again before the next request.
const REFRESH_MARGIN: SignedDuration = SignedDuration::from_secs(60);

/// Why a credential plugin gave no credential. Never holds its output or environment.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The kubeconfig's `exec` names no command.
    #[error("the exec credential plugin has no command")]
    NoCommand,
    /// The command could not be started (not installed, not executable).
    #[error("the credential plugin `{command}` could not be started: {reason}{hint}")]
    Start {
        /// The command.
        command: String,
        /// The operating system's reason.
        reason: String,
        /// The kubeconfig's install hint, if any.
        hint: String,
    },
    /// The command exited unsuccessfully.
    #[error(
        "the credential plugin `{command}` failed ({status}); its output is not shown because \
         it may hold secrets: run the command by hand to see it"
    )]
    Failed {
        /// The command.
        command: String,
        /// Its exit status, e.g. `exit status: 1`.
        status: String,
    },
    /// The command did not finish in time and was killed.
    #[error(
        "the credential plugin `{command}` did not finish within {after:?} and was stopped \
         (it runs without a terminal: it must not wait for input)"
    )]
    TimedOut {
        /// The command.
        command: String,
        /// The limit.
        after: Duration,
    },
    /// The command printed something that is not an ExecCredential.
    #[error(
        "the credential plugin `{command}` did not print an ExecCredential (JSON with \
         status.token, or status.clientCertificateData and status.clientKeyData)"
    )]
    BadOutput {
        /// The command.
        command: String,
    },
}

/// What a plugin printed (`client.authentication.k8s.io` ExecCredential), the parts we use.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    status: Option<ExecStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    token: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
    expiration_timestamp: Option<String>,
}

/// A credential a plugin printed.
pub enum Credential {
    /// A bearer token, valid until `expires` (for ever when `None`).
    Token {
        /// The token.
        token: SecretString,
        /// When it expires.
        expires: Option<Timestamp>,
    },
    /// A PEM client certificate and key.
    Certificate {
        /// The certificate, PEM.
        cert_pem: String,
        /// The key, PEM.
        key_pem: SecretString,
    },
}

/// One exec credential plugin, as a kubeconfig (or the provider block) describes it.
#[derive(Clone)]
pub struct ExecPlugin {
    api_version: String,
    command: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cluster: Option<serde_json::Value>,
    install_hint: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for ExecPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecPlugin")
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl ExecPlugin {
    /// The plugin a kubeconfig user's `exec` describes.
    pub fn from_config(exec: &ExecConfig) -> Result<ExecPlugin, ExecError> {
        let command = exec.command.clone().ok_or(ExecError::NoCommand)?;
        let env = exec
            .env
            .iter()
            .flatten()
            .filter_map(|e| Some((e.get("name")?.clone(), e.get("value")?.clone())))
            .collect();
        let cluster = if exec.provide_cluster_info {
            exec.cluster
                .as_ref()
                .and_then(|c| serde_json::to_value(c).ok())
        } else {
            None
        };
        Ok(ExecPlugin {
            api_version: exec
                .api_version
                .clone()
                .unwrap_or_else(|| "client.authentication.k8s.io/v1".to_string()),
            command,
            args: exec.args.clone().unwrap_or_default(),
            env,
            cluster,
            install_hint: exec.install_hint.clone(),
            timeout: EXEC_TIMEOUT,
        })
    }

    /// The same plugin with another time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> ExecPlugin {
        self.timeout = timeout;
        self
    }

    /// The command, for messages.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// What KUBERNETES_EXEC_INFO tells the plugin: never interactive.
    fn exec_info(&self) -> String {
        let mut spec = serde_json::json!({"interactive": false});
        if let Some(cluster) = &self.cluster {
            spec["cluster"] = cluster.clone();
        }
        serde_json::json!({
            "apiVersion": self.api_version,
            "kind": "ExecCredential",
            "spec": spec,
        })
        .to_string()
    }

    /// Runs the plugin once: no stdin, stderr discarded, killed at the time limit.
    pub async fn run(&self) -> Result<Credential, ExecError> {
        let mut cmd = tokio::process::Command::new(&self.command);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KUBERNETES_EXEC_INFO", self.exec_info())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        tracing::debug!(command = %self.command, "running the exec credential plugin");
        let output = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Err(_) => {
                return Err(ExecError::TimedOut {
                    command: self.command.clone(),
                    after: self.timeout,
                })
            }
            Ok(Err(e)) => {
                return Err(ExecError::Start {
                    command: self.command.clone(),
                    reason: e.to_string(),
                    hint: self
                        .install_hint
                        .as_ref()
                        .map(|h| format!(" ({})", h.trim()))
                        .unwrap_or_default(),
                })
            }
            Ok(Ok(output)) => output,
        };
        if !output.status.success() {
            return Err(ExecError::Failed {
                command: self.command.clone(),
                status: output.status.to_string(),
            });
        }
        self.parse(&output.stdout)
    }

    fn parse(&self, stdout: &[u8]) -> Result<Credential, ExecError> {
        let bad = || ExecError::BadOutput {
            command: self.command.clone(),
        };
        let status = serde_json::from_slice::<ExecCredential>(stdout)
            .ok()
            .and_then(|c| c.status)
            .ok_or_else(bad)?;
        match status {
            ExecStatus {
                client_certificate_data: Some(cert_pem),
                client_key_data: Some(key),
                ..
            } => Ok(Credential::Certificate {
                cert_pem,
                key_pem: SecretString::from(key),
            }),
            ExecStatus {
                token: Some(token),
                expiration_timestamp,
                ..
            } => Ok(Credential::Token {
                token: SecretString::from(token),
                expires: expiration_timestamp.and_then(|t| t.parse().ok()),
            }),
            _ => Err(bad()),
        }
    }
}

/// A bearer token a plugin printed, fetched again shortly before it expires; as a
/// request filter of the Kubernetes client.
#[derive(Clone)]
pub struct RefreshingToken {
    plugin: Arc<ExecPlugin>,
    cached: Arc<tokio::sync::Mutex<(SecretString, Option<Timestamp>)>>,
}

impl RefreshingToken {
    /// A token from `plugin`, valid until `expires`.
    pub fn new(plugin: ExecPlugin, token: SecretString, expires: Option<Timestamp>) -> Self {
        RefreshingToken {
            plugin: Arc::new(plugin),
            cached: Arc::new(tokio::sync::Mutex::new((token, expires))),
        }
    }

    async fn header(&self) -> Result<HeaderValue, ExecError> {
        let mut cached = self.cached.lock().await;
        let expiring = cached
            .1
            .is_some_and(|at| at.duration_since(Timestamp::now()) < REFRESH_MARGIN);
        if expiring {
            match self.plugin.run().await? {
                Credential::Token { token, expires } => *cached = (token, expires),
                Credential::Certificate { .. } => {
                    return Err(ExecError::BadOutput {
                        command: self.plugin.command.clone(),
                    })
                }
            }
        }
        bearer(&cached.0).ok_or_else(|| ExecError::BadOutput {
            command: self.plugin.command.clone(),
        })
    }
}

/// `Authorization: Bearer <token>`, marked sensitive.
fn bearer(token: &SecretString) -> Option<HeaderValue> {
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose_secret())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

type CheckFuture =
    Pin<Box<dyn Future<Output = Result<Request<Body>, tower::BoxError>> + Send + 'static>>;

impl tower::filter::AsyncPredicate<Request<Body>> for RefreshingToken {
    type Future = CheckFuture;
    type Request = Request<Body>;

    fn check(&mut self, mut request: Request<Body>) -> CheckFuture {
        let this = self.clone();
        Box::pin(async move {
            let value = this.header().await?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
            Ok(request)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn plugin(script: &str, env: &[(&str, &str)]) -> ExecPlugin {
        let exec = ExecConfig {
            api_version: Some("client.authentication.k8s.io/v1".into()),
            command: Some("sh".into()),
            args: Some(vec!["-c".into(), script.into()]),
            env: Some(
                env.iter()
                    .map(|(k, v)| {
                        HashMap::from([
                            ("name".to_string(), k.to_string()),
                            ("value".to_string(), v.to_string()),
                        ])
                    })
                    .collect(),
            ),
            drop_env: None,
            install_hint: None,
            interactive_mode: None,
            provide_cluster_info: false,
            cluster: None,
            other: Default::default(),
        };
        ExecPlugin::from_config(&exec).unwrap()
    }

    #[tokio::test]
    async fn a_token_and_its_expiry_are_read_from_the_plugin() {
        let p = plugin(
            r#"printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-1","expirationTimestamp":"2030-01-02T03:04:05Z"}}'"#,
            &[],
        );
        match p.run().await.unwrap() {
            Credential::Token { token, expires } => {
                assert_eq!(token.expose_secret(), "tok-1");
                assert_eq!(expires.unwrap().to_string(), "2030-01-02T03:04:05Z");
            }
            Credential::Certificate { .. } => panic!("a certificate"),
        }
    }

    #[tokio::test]
    async fn the_plugin_is_told_it_is_not_interactive_and_gets_no_stdin() {
        // Prints a token only when stdin is at its end at once and the exec info says so.
        let p = plugin(
            r#"read -r line && exit 3; case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) printf '{"status":{"token":"t"}}';; *) exit 4;; esac"#,
            &[],
        );
        assert!(matches!(p.run().await, Ok(Credential::Token { .. })));
    }

    #[tokio::test]
    async fn a_failing_plugin_is_named_with_its_status_and_nothing_it_printed_or_was_given() {
        let p = plugin(
            "env >&2; echo \"$AWS_SECRET_ACCESS_KEY\"; exit 1",
            &[("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-secret")],
        );
        let err = p.run().await.err().unwrap();
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("`sh`") && text.contains("exit status: 1"),
            "{text}"
        );
        assert!(!text.contains("wJalrXUtnFEMI"), "{text}");
        assert!(!text.contains("AWS_SECRET"), "{text}");
    }

    #[tokio::test]
    async fn a_hanging_plugin_is_stopped_at_its_time_limit() {
        let p = plugin("sleep 30", &[]).with_timeout(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let err = p.run().await.err().unwrap();
        assert!(matches!(err, ExecError::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn output_that_is_no_credential_is_refused_without_quoting_it() {
        let p = plugin("echo not-json-s3cret", &[]);
        let err = p.run().await.err().unwrap().to_string();
        assert!(err.contains("did not print an ExecCredential"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_command_says_it_could_not_be_started() {
        let mut p = plugin("", &[]);
        p.command = "/nonexistent/aws".into();
        p.install_hint = Some("install the AWS CLI".into());
        let err = p.run().await.err().unwrap().to_string();
        assert!(
            err.contains("/nonexistent/aws") && err.contains("install the AWS CLI"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_expiring_token_is_fetched_again_before_a_request() {
        let p = plugin(r#"printf '{"status":{"token":"fresh"}}'"#, &[]);
        let soon = Timestamp::now()
            .checked_add(SignedDuration::from_secs(5))
            .unwrap();
        let mut t = RefreshingToken::new(p, SecretString::from("stale"), Some(soon));
        let req = tower::filter::AsyncPredicate::check(&mut t, Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(req.headers()[http::header::AUTHORIZATION], "Bearer fresh");
    }
}
