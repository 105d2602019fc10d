//! The ephemeral `redis_credentials` driven by the real terraform and tofu against the
//! test bed: the clients' password of one deployment, opened in the run that creates it,
//! becomes the write-only password of another (which then accepts it), and appears in no
//! state, plan or log; a deployment that does not exist fails the plan naming
//! `deployment_id`.

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, TestNamespace};

use crate::deployment::{redis_as, secret_value};

/// Deployment `source`, its credentials, and deployment `copy` whose clients' password is
/// the source's, through a local (as a module passing it on would): both standalone
/// without volumes, to be quick.
fn consumer(ns: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"source\" {{\n  name        = \"source\"\n  namespace   = \"{ns}\"\n  \
         persistence = {{ enabled = false }}\n}}\n\n\
         ephemeral \"redis_credentials\" \"source\" {{\n  deployment_id = redis_deployment.source.id\n}}\n\n\
         locals {{\n  source_password = ephemeral.redis_credentials.source.password\n}}\n\n\
         resource \"redis_deployment\" \"copy\" {{\n  name        = \"copy\"\n  namespace   = \"{ns}\"\n  \
         persistence = {{ enabled = false }}\n  auth = {{\n    password_wo         = local.source_password\n    \
         password_wo_version = 1\n  }}\n}}\n"
    )
}

async fn credentials_feed_a_write_only_password_and_appear_in_no_state_plan_or_log(
    tool: Tool,
    prefix: &str,
) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, prefix).await.unwrap();
    let mut w = Workdir::new(tool, &consumer(&ns.name));
    w.log_everything("TRACE");
    // One run: the credentials are unknown at plan (the source does not exist yet) and
    // opened at apply once it does.
    let applied = w.apply();
    let password = secret_value(&client, &ns.name, "source-auth", "password").await;
    assert!(password.len() >= 16, "a generated password");
    assert_eq!(
        secret_value(&client, &ns.name, "copy-auth", "password").await,
        password,
        "the copy's write-only password is the source's"
    );
    let mut conn = redis_as(&client, &ns.name, "copy-0", None, &password).await;
    assert_eq!(conn.call(&["PING"]).await.unwrap().text().unwrap(), "PONG");
    drop(conn);

    // Opened again at plan, now with known values: nothing changes.
    w.ok(&["plan", "-out=plan.bin", "-input=false", "-no-color"]);
    let plan_json = w.ok(&["show", "-json", "plan.bin"]);
    assert_eq!(w.plan_exit_code().0, 0, "a plan after apply is empty");
    let state = w.state_file();
    let modes: Vec<String> = serde_json::from_str::<serde_json::Value>(&state).unwrap()
        ["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["mode"], r["type"]))
        .collect();
    assert_eq!(
        modes,
        [
            "\"managed\" \"redis_deployment\"",
            "\"managed\" \"redis_deployment\""
        ],
        "ephemeral resources have no state"
    );
    let log = w.log();
    assert!(
        log.contains("OpenEphemeralResource") || log.contains("ephemeralResourceOpen"),
        "the log covers the open ({} bytes)",
        log.len()
    );
    for (what, text) in [
        ("state", &state),
        ("plan JSON", &plan_json),
        ("apply output", &applied),
        ("TRACE log of the CLI and the provider", &log),
    ] {
        assert!(!text.contains(&password), "the password is in the {what}");
    }
    w.destroy();
}

#[tokio::test]
async fn credentials_feed_a_write_only_password_and_appear_in_no_state_plan_or_log_with_terraform()
{
    credentials_feed_a_write_only_password_and_appear_in_no_state_plan_or_log(
        Tool::Terraform,
        "eph-tf",
    )
    .await;
}

#[tokio::test]
async fn credentials_feed_a_write_only_password_and_a_missing_deployment_is_named_with_tofu() {
    credentials_feed_a_write_only_password_and_appear_in_no_state_plan_or_log(
        Tool::Tofu,
        "eph-tofu",
    )
    .await;
    // Nothing to create: a namespace that does not exist holds no deployment either.
    let w = Workdir::new(
        Tool::Tofu,
        "ephemeral \"redis_credentials\" \"gone\" {\n  deployment_id = \"eph-nowhere/nowhere\"\n}\n\n\
         locals {\n  url = ephemeral.redis_credentials.gone.url\n}\n",
    );
    let out = w.fails(&["plan", "-input=false", "-no-color"]);
    assert!(
        out.contains("Deployment not found") && out.contains("deployment_id"),
        "the plan names the attribute:\n{out}"
    );
}
