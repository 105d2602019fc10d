//! Failures at the provider and Kubernetes-client level as a user meets them under
//! terraform and tofu: a credential plugin that fails or hangs, a namespace or a context
//! that does not exist, an API error. Each is reported in words with its fix, within a
//! bound, and never with a secret or a debug structure in it.

use std::path::Path;
use std::time::{Duration, Instant};

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{
    admin, delete_in_background, eventually, random_suffix, TestBed, TestNamespace,
};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

const PLAN: &[&str] = &["plan", "-input=false", "-no-color"];

fn cache(ns: &str, extra: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n{extra}}}\n"
    )
}

/// The bed's API server, with credentials from an exec plugin running `script`.
fn exec_settings(script: &Path, env: &str) -> String {
    format!(
        "    host     = \"{}\"\n    insecure = true\n    exec = {{\n      api_version = \"client.authentication.k8s.io/v1\"\n      \
         command     = \"sh\"\n      args        = [\"{}\"]\n      env         = {{ {env} }}\n    }}",
        TestBed::get().api_server(),
        script.display()
    )
}

/// What terraform printed, its box-drawing and line wrapping undone.
fn flat(out: &str) -> String {
    out.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A namespace the provider may create, deleted when the test ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        delete_in_background("namespace", &self.0);
    }
}

#[tokio::test]
async fn a_failing_credential_plugin_is_named_with_its_exit_status_and_its_secret_stays_out_of_output_and_trace_logs(
) {
    let secret = format!("wJalrXUtnFEMI-{}", random_suffix());
    // As users pass secrets: a sensitive variable, set outside the configuration.
    let hcl = format!(
        "variable \"aws_secret\" {{\n  type      = string\n  sensitive = true\n}}\n\n{}",
        cache("default", "")
    );
    let mut w = Workdir::new(Tool::Terraform, &hcl);
    w.log_everything("TRACE");
    std::fs::write(
        w.path().join("terraform.tfvars"),
        format!("aws_secret = \"{secret}\"\n"),
    )
    .unwrap();
    let script = w.path().join("get-token.sh");
    // Prints its whole environment (the secret included) on both streams, then fails.
    std::fs::write(
        &script,
        "env >&2\nenv\necho \"no token for $AWS_SECRET_ACCESS_KEY\" >&2\nexit 1\n",
    )
    .unwrap();
    w.write_with_kubernetes(
        &exec_settings(&script, "AWS_SECRET_ACCESS_KEY = var.aws_secret"),
        &hcl,
    );
    let out = w.fails(PLAN);
    let text = flat(&out);
    assert!(
        text.contains("the credential plugin `sh` failed (exit status: 1)"),
        "names the command and its exit status:\n{out}"
    );
    if let Some(at) = out.find(&secret) {
        panic!(
            "the output holds the secret: {:?}",
            &out[at.saturating_sub(300)..(at + 100).min(out.len())]
        );
    }
    let log = w.log();
    assert!(log.contains("ConfigureProvider"), "a TRACE log was written");
    if let Some(at) = log.find(&secret) {
        let from = log[..at].rfind('\n').unwrap_or(0);
        panic!(
            "the TRACE log holds the secret: {}",
            &log[from..(at + 200).min(log.len())]
        );
    }
}

#[tokio::test]
async fn a_credential_plugin_gets_no_terminal_and_one_that_hangs_is_stopped_within_its_limit() {
    let w = Workdir::new(Tool::Tofu, &cache("default", ""));
    // Told it is not interactive, and stdin is at its end at once: asking fails.
    let asks = w.path().join("asks.sh");
    std::fs::write(
        &asks,
        "case \"$KUBERNETES_EXEC_INFO\" in *'\"interactive\":false'*) ;; *) exit 8;; esac\n\
         read answer || exit 7\nexec sleep 600\n",
    )
    .unwrap();
    w.write_with_kubernetes(&exec_settings(&asks, ""), &cache("default", ""));
    let started = Instant::now();
    let out = w.fails(PLAN);
    assert!(flat(&out).contains("`sh` failed (exit status: 7)"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    let hangs = w.path().join("hangs.sh");
    std::fs::write(&hangs, "exec sleep 600\n").unwrap();
    w.write_with_kubernetes(&exec_settings(&hangs, ""), &cache("default", ""));
    let started = Instant::now();
    let out = w.fails(PLAN);
    let took = started.elapsed();
    assert!(
        flat(&out).contains("the credential plugin `sh` did not finish within 30s and was stopped"),
        "{out}"
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[tokio::test]
async fn a_namespace_that_does_not_exist_fails_the_plan_with_the_fix_and_create_namespace_applies()
{
    let client = admin().await;
    let ns = format!("pe-missing-{}", random_suffix());
    let _cleanup = Cleanup(ns.clone());
    let mut applied = None;
    for tool in [Tool::Tofu, Tool::Terraform] {
        let w = Workdir::new(tool, &cache(&ns, ""));
        let out = w.fails(PLAN);
        let text = flat(&out);
        assert!(
            text.contains(&format!("namespace \"{ns}\" does not exist"))
                && text.contains("create_namespace = true"),
            "{tool:?}: the plan names the namespace and the fix:\n{out}"
        );
        // The CLI points at the attribute's own line.
        assert!(
            text.contains(&format!("namespace = \"{ns}\"")),
            "{tool:?}:\n{out}"
        );
        applied = Some(w);
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(
        namespaces.get_opt(&ns).await.unwrap().is_none(),
        "a failed plan creates nothing"
    );

    let w = applied.unwrap();
    w.write(&cache(&ns, "  create_namespace = true\n"));
    w.apply();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    assert!(sets.get_opt("cache").await.unwrap().is_some());
    w.destroy();
}

#[tokio::test]
async fn a_context_not_in_the_kubeconfig_is_refused_listing_the_contexts_it_has() {
    let bed = TestBed::get();
    let kubeconfig = kube::config::Kubeconfig::read_from(&bed.kubeconfig).unwrap();
    let contexts: Vec<String> = kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
    assert!(!contexts.is_empty());
    for tool in [Tool::Terraform, Tool::Tofu] {
        let w = Workdir::new(tool, &cache("default", ""));
        w.write_with_kubernetes(
            &format!(
                "    config_path    = \"{}\"\n    config_context = \"no-such-context\"",
                bed.kubeconfig.display()
            ),
            &cache("default", ""),
        );
        let out = w.fails(PLAN);
        let text = flat(&out);
        assert!(
            text.contains("has no context \"no-such-context\"; its contexts are:"),
            "{tool:?}:\n{out}"
        );
        for name in &contexts {
            assert!(
                text.contains(name.as_str()),
                "{tool:?}: lists {name}:\n{out}"
            );
        }
    }
}

#[tokio::test]
async fn an_api_error_reads_as_verb_kind_object_message_and_reason() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "pe-closing").await.unwrap();
    // Someone deletes the namespace; an object with a finalizer holds it in Terminating,
    // where the API server refuses new objects.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    configmaps
        .create(
            &Default::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "hold", "finalizers": ["redis-testbed/hold"]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(&ns.name, &Default::default())
        .await
        .unwrap();
    eventually(
        "the namespace is terminating",
        Duration::from_secs(30),
        || async {
            let phase = namespaces
                .get_opt(&ns.name)
                .await?
                .and_then(|n| n.status)
                .and_then(|s| s.phase);
            Ok((phase.as_deref() == Some("Terminating")).then_some(()))
        },
    )
    .await
    .unwrap();

    let w = Workdir::new(Tool::Terraform, &cache(&ns.name, ""));
    let out = w.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let _ = configmaps
        .patch(
            "hold",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await;
    // e.g. `apply Secret pe-closing-1a2b3c4d/cache-auth: secrets "cache-auth" is forbidden:
    // unable to create new content in namespace pe-closing-1a2b3c4d because it is being
    // terminated (Forbidden)`
    let text = flat(&out);
    let marker = format!(" {}/", ns.name);
    let at = text
        .find(&marker)
        .unwrap_or_else(|| panic!("an object of the namespace is named:\n{out}"));
    let words: Vec<&str> = text[..at].rsplit(' ').take(2).collect();
    let (kind, verb) = (words[0], words[1]);
    assert!(
        kind.starts_with(|c: char| c.is_ascii_uppercase()),
        "{kind}:\n{out}"
    );
    assert!(
        ["get", "list", "apply", "create", "delete", "patch"].contains(&verb),
        "{verb}:\n{out}"
    );
    let (object, rest) = text[at + 1..].split_once(": ").unwrap();
    assert!(object.len() > ns.name.len() + 1, "{object}:\n{out}");
    assert!(
        rest.contains("because it is being terminated (Forbidden)"),
        "the API server's message and reason:\n{out}"
    );
    for debug in ["Status {", "ApiError", "Some(", "ListMeta"] {
        assert!(
            !out.contains(debug),
            "a debug structure ({debug}) in:\n{out}"
        );
    }
}
