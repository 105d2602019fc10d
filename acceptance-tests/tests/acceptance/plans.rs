//! Honest plans, read in the real terraform and tofu output: import then plan is empty
//! with `timeouts` set, a scale-down names the pods it deletes and the claims it keeps,
//! each warning shows once per command, an out-of-band ConfigMap edit or CONFIG SET is
//! named, an error in a nested attribute points at that attribute's line, and an image
//! whose server cannot load the data on disk is refused at plan.

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, TestNamespace};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim};
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use super::deployment::{deployment, pods, redis_admin, redis_as, secret_value};

/// Everything a command printed (warnings go to stdout, errors to stderr).
fn printed(w: &Workdir, args: &[&str]) -> (Option<i32>, String) {
    let out = w.run(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn import_block(ns: &str, hcl: &str) -> String {
    format!("import {{\n  to = redis_deployment.cache\n  id = \"{ns}/cache\"\n}}\n{hcl}")
}

#[tokio::test]
async fn import_then_plan_is_empty_with_timeouts_set_by_the_cli_and_by_an_import_block() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "plan-import").await.unwrap();
    let created = Workdir::new(Tool::Terraform, &deployment(&ns.name, "  replicas = 1"));
    created.apply();

    // Whoever imports has timeouts of their own: configuration, not part of the object.
    let hcl = deployment(
        &ns.name,
        "  replicas = 1\n  timeouts {\n    create = \"15m\"\n    update = \"7m\"\n  }",
    );
    let id = format!("{}/cache", ns.name);
    for tool in [Tool::Terraform, Tool::Tofu] {
        let cli = Workdir::new(tool, &hcl);
        cli.ok(&["import", "-no-color", "redis_deployment.cache", &id]);
        let (code, plan) = cli.plan_exit_code();
        assert_eq!(code, 0, "{tool:?}: import then plan is empty:\n{plan}");
        assert!(!plan.contains("timeouts"), "{plan}");

        let block = Workdir::new(tool, &import_block(&ns.name, &hcl));
        let (code, plan) = block.plan_exit_code();
        assert_eq!(code, 2, "{tool:?}: an import is a change:\n{plan}");
        assert!(
            plan.contains("1 to import, 0 to add, 0 to change, 0 to destroy"),
            "{tool:?}: nothing changes besides the import:\n{plan}"
        );
        let applied = block.apply();
        assert!(applied.contains("0 changed"), "{applied}");
        block.assert_plan_empty();
    }
    created.destroy();
}

async fn a_scale_down_plan_names_the_pods_it_deletes_and_the_claims_it_keeps(tool: Tool) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "plan-scale").await.unwrap();
    let w = Workdir::new(tool, &deployment(&ns.name, "  replicas = 3"));
    w.apply();
    w.write(&deployment(&ns.name, "  replicas = 1"));
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "{plan}");
    let said = plan.split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "Warning: Scaling down",
        "3 -> 1 pods: cache-1, cache-2 are deleted",
        "Their claims data-cache-1, data-cache-2 are kept",
        &format!(
            "kubectl -n {} delete pvc data-cache-1 data-cache-2",
            ns.name
        ),
    ] {
        assert!(
            said.contains(part),
            "{tool:?}: the plan says {part:?}:\n{plan}"
        );
    }
    assert!(!said.contains("existing pods keep running"), "{plan}");
    w.apply();
    // As said: two pods gone, their claims still there.
    let left: Vec<String> = pods(&client, &ns.name).await.into_keys().collect();
    assert_eq!(left, vec!["cache-0".to_string()]);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    for claim in ["data-cache-1", "data-cache-2"] {
        assert!(
            claims.get_opt(claim).await.unwrap().is_some(),
            "{claim} kept"
        );
    }
    w.destroy();
}

#[tokio::test]
async fn a_scale_down_plan_names_the_pods_it_deletes_and_the_claims_it_keeps_with_terraform() {
    a_scale_down_plan_names_the_pods_it_deletes_and_the_claims_it_keeps(Tool::Terraform).await;
}

#[tokio::test]
async fn a_scale_down_plan_names_the_pods_it_deletes_and_the_claims_it_keeps_with_tofu() {
    a_scale_down_plan_names_the_pods_it_deletes_and_the_claims_it_keeps(Tool::Tofu).await;
}

/// How often `summary` is shown: each "Warning: <summary>" plus the ones the CLI folds
/// into "(and N more similar warnings elsewhere)".
fn times_shown(output: &str, summary: &str) -> usize {
    let heading = format!("Warning: {summary}");
    let lines: Vec<&str> = output.lines().collect();
    let mut count = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != heading {
            continue;
        }
        count += 1;
        // The fold note follows the first one's detail, before the next heading.
        for next in &lines[i + 1..] {
            if next.starts_with("Warning: ") || next.starts_with("Error: ") {
                break;
            }
            if let Some(rest) = next.trim().strip_prefix("(and ") {
                let n = rest.split_whitespace().next().unwrap_or("");
                count += if n == "one" {
                    1
                } else {
                    n.parse().unwrap_or(0)
                };
            }
        }
    }
    count
}

async fn each_warning_appears_once_in_plan_and_in_apply_output(tool: Tool) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "plan-once").await.unwrap();
    let body = |replicas: i32| {
        format!("  replicas = {replicas}\n  pod_disruption_budget = {{ max_unavailable = 0 }}")
    };
    let w = Workdir::new(tool, &deployment(&ns.name, &body(1)));
    let args = ["plan", "-input=false", "-no-color"];
    let (_, plan) = printed(&w, &args);
    assert_eq!(
        times_shown(&plan, "Node drains blocked"),
        1,
        "{tool:?}:\n{plan}"
    );
    let applied = w.apply();
    assert_eq!(
        times_shown(&applied, "Node drains blocked"),
        1,
        "{tool:?}:\n{applied}"
    );

    // An update has a warning of its own (scaling) beside the configuration's.
    w.write(&deployment(&ns.name, &body(2)));
    let (_, plan) = printed(&w, &args);
    let applied = w.apply();
    for (what, output) in [("plan", &plan), ("apply", &applied)] {
        for summary in ["Node drains blocked", "Scaling"] {
            assert_eq!(
                times_shown(output, summary),
                1,
                "{tool:?}: {summary:?} once in {what}:\n{output}"
            );
        }
    }
    w.destroy();
}

#[tokio::test]
async fn each_warning_appears_once_in_plan_and_in_apply_output_with_terraform() {
    each_warning_appears_once_in_plan_and_in_apply_output(Tool::Terraform).await;
}

#[tokio::test]
async fn each_warning_appears_once_in_plan_and_in_apply_output_with_tofu() {
    each_warning_appears_once_in_plan_and_in_apply_output(Tool::Tofu).await;
}

#[tokio::test]
async fn an_out_of_band_config_map_edit_and_a_config_set_are_named_in_the_plan() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "plan-drift").await.unwrap();
    let w = Workdir::new(
        Tool::Terraform,
        &deployment(&ns.name, "  config = { maxmemory = \"32mb\" }"),
    );
    w.apply();

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let conf = maps.get("cache-config").await.unwrap().data.unwrap()["redis.conf"].clone();
    let edited = conf.replace("maxmemory 32mb", "maxmemory 16mb");
    assert_ne!(conf, edited, "{conf}");
    maps.patch(
        "cache-config",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"redis.conf": edited}})),
    )
    .await
    .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "{plan}");
    let said = plan.split_whitespace().collect::<Vec<_>>().join(" ");
    let named = format!(
        "ConfigMap {}/cache-config was edited outside Terraform: maxmemory is 16mb there, 32mb in the configuration",
        ns.name
    );
    assert!(said.contains(&named), "{plan}");
    w.apply();
    w.assert_plan_empty();

    let mut conn = redis_admin(&client, &ns.name, "cache-0").await;
    conn.call(&["CONFIG", "SET", "maxmemory", "1mb"])
        .await
        .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "{plan}");
    let said = plan.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains(
            "settings were changed on the running server with CONFIG SET: maxmemory is 1048576 live, 32mb in the configuration"
        ),
        "{plan}"
    );
    assert!(
        !said.contains("ConfigMap"),
        "the ConfigMap is as configured:\n{plan}"
    );
    w.apply();
    w.assert_plan_empty();
    w.destroy();
}

/// The 1-based line of `main.tf` in `w` holding `text`.
fn line_of(w: &Workdir, text: &str) -> usize {
    let main = std::fs::read_to_string(w.path().join("main.tf")).unwrap();
    main.lines()
        .position(|l| l.contains(text))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{text:?} not in main.tf:\n{main}"))
}

async fn a_nested_attribute_error_points_at_the_nested_attributes_line(tool: Tool) {
    let body = "  persistence = {\n    enabled = true\n    size    = \"lots\"\n  }\n  \
                tolerations = [\n    { key = \"a\", operator = \"Exists\" },\n    { operator = \"Equal\" },\n  ]";
    let w = Workdir::new(tool, &deployment("default", body));
    let (code, out) = printed(&w, &["plan", "-input=false", "-no-color"]);
    assert_eq!(code, Some(1), "{out}");
    for (summary, line) in [
        ("Invalid size", "size    = \"lots\""),
        ("Missing key", "{ operator = \"Equal\" }"),
    ] {
        let at = format!("on main.tf line {}", line_of(&w, line));
        let error = out
            .split("Error: ")
            .find(|e| e.starts_with(summary))
            .unwrap_or_else(|| panic!("{tool:?}: no {summary:?} error:\n{out}"));
        assert!(error.contains(&at), "{tool:?}: {summary} {at}:\n{out}");
    }
}

#[tokio::test]
async fn a_nested_attribute_error_points_at_the_nested_attributes_line_with_terraform() {
    a_nested_attribute_error_points_at_the_nested_attributes_line(Tool::Terraform).await;
}

#[tokio::test]
async fn a_nested_attribute_error_points_at_the_nested_attributes_line_with_tofu() {
    a_nested_attribute_error_points_at_the_nested_attributes_line(Tool::Tofu).await;
}

#[tokio::test]
async fn a_7_4_to_7_2_image_change_on_a_persistent_deployment_is_refused_at_plan_with_tofu() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "plan-image").await.unwrap();
    let w = Workdir::new(
        Tool::Tofu,
        &deployment(&ns.name, "  image = \"redis:7.4-alpine\""),
    );
    w.apply();
    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    let mut conn = redis_as(&client, &ns.name, "cache-0", None, &password).await;
    conn.call(&["SET", "kept", "yes"]).await.unwrap();
    let before = pods(&client, &ns.name).await;

    w.write(&deployment(&ns.name, "  image = \"redis:7.2-alpine\""));
    let (code, out) = printed(&w, &["plan", "-input=false", "-no-color"]);
    assert_eq!(code, Some(1), "{out}");
    let said = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "Error: The new image cannot read the data",
        "redis:7.4-alpine -> redis:7.2-alpine",
        "Redis 7.4 writes RDB version 12",
        "Redis 7.2 loads RDB files up to version 11",
        &format!("on main.tf line {}", line_of(&w, "redis:7.2-alpine")),
    ] {
        assert!(said.contains(part), "{part:?}:\n{out}");
    }
    let (code, out) = printed(&w, &["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert_eq!(code, Some(1), "apply plans too, and stops:\n{out}");
    assert_eq!(pods(&client, &ns.name).await, before, "no pod touched");
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let template = sts.get("cache").await.unwrap().spec.unwrap().template;
    let image = template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("redis:7.4-alpine"));

    // Going up stays possible (and back to what runs is no change).
    w.write(&deployment(&ns.name, "  image = \"redis:7.4-alpine\""));
    w.assert_plan_empty();
    w.destroy();
}
