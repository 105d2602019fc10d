//! The Roles of docs/guides/rbac.md, read from the guide itself: an identity holding only
//! the apply Role applies, changes, imports, plans and destroys a deployment; one
//! holding only the plan-only Role plans, skipping the live facts with a warning; with
//! the scheduled-backup Role too, it runs a `redis_backup` with a schedule.

use std::path::Path;
use std::process::Command;

use acceptance_tests::bed::service_account_token;
use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, TestBed, TestNamespace};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::PostParams;
use kube::{Api, Client};

/// The ```yaml block of the guide that defines Role `name`.
fn role_from_guide(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/guides/rbac.md");
    let text = std::fs::read_to_string(&path).expect("reads the RBAC guide");
    text.split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block))
        .find(|block| block.contains("kind: Role\n") && block.contains(&format!("name: {name}\n")))
        .unwrap_or_else(|| panic!("no Role {name} in {}", path.display()))
        .to_string()
}

/// Creates the Role `role` from the guide in `ns` with kubectl.
fn create_role(ns: &str, role: &str) {
    let bed = TestBed::get();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), role_from_guide(role)).unwrap();
    let out = Command::new(&bed.kubectl)
        .arg("--kubeconfig")
        .arg(&bed.kubeconfig)
        .args(["apply", "-n", ns, "-f"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl apply of the guide's {role}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates the Role from the guide in `ns`, a ServiceAccount bound to it, and returns
/// a token of that account.
pub(crate) async fn identity(client: &Client, ns: &str, role: &str) -> String {
    create_role(ns, role);
    service_account_token(client, ns, role, Some(("Role", role)))
        .await
        .unwrap()
}

fn as_identity(token: &str) -> String {
    format!(
        "    host = \"{}\"\n    insecure = true\n    token = \"{token}\"",
        TestBed::get().api_server()
    )
}

/// Deployment `cache` with two replicas, its claims of `size` in the bed's class that
/// can expand, and a disruption budget or not.
fn deployment(ns: &str, size: &str, budget: bool) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  replicas  = 2\n  \
         persistence = {{\n    storage_class = \"expandable\"\n    size = \"{size}\"\n  }}\n  \
         pod_disruption_budget = {{ enabled = {budget} }}\n}}\n"
    )
}

#[tokio::test]
async fn the_guides_roles_are_enough_to_apply_change_import_plan_and_destroy() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "rbac").await.unwrap();
    let apply = identity(&client, &ns.name, "redis-deployment-apply").await;
    let plan = identity(&client, &ns.name, "redis-deployment-plan").await;

    let hcl = deployment(&ns.name, "1Gi", true);
    let w = Workdir::new(Tool::Terraform, &hcl);
    w.write_with_kubernetes(&as_identity(&apply), &hcl);
    w.apply();
    w.assert_plan_empty();
    // A change that deletes an object (the disruption budget turned off) and grows the
    // claims in place.
    let off = deployment(&ns.name, "2Gi", false);
    w.write_with_kubernetes(&as_identity(&apply), &off);
    w.apply();
    w.assert_plan_empty();

    // Import, in a directory that knows nothing of it.
    let other = Workdir::new(Tool::Terraform, &off);
    other.write_with_kubernetes(&as_identity(&apply), &off);
    other.ok(&[
        "import",
        "-input=false",
        "-no-color",
        "redis_deployment.cache",
        &format!("{}/cache", ns.name),
    ]);

    // The plan-only identity plans: the objects unchanged, the live facts skipped.
    w.write_with_kubernetes(&as_identity(&plan), &off);
    let (code, out) = w.plan_exit_code();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Live Redis facts not read"),
        "the plan says what it did not check:\n{out}"
    );
    // ... and cannot apply.
    let changed = deployment(&ns.name, "2Gi", true);
    w.write_with_kubernetes(&as_identity(&plan), &changed);
    let refused = w.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert!(refused.contains("forbidden"), "{refused}");

    w.write_with_kubernetes(&as_identity(&apply), &off);
    w.destroy();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    for name in ["data-cache-0", "data-cache-1"] {
        assert!(
            claims.get_opt(name).await.unwrap().is_none(),
            "{name} is deleted"
        );
    }
}

#[tokio::test]
async fn the_guides_schedule_role_adds_what_a_scheduled_backup_needs() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "rbac-sched").await.unwrap();
    let account = "redis-deployment-apply";
    let token = identity(&client, &ns.name, account).await;
    let role = "redis-backup-schedule";
    create_role(&ns.name, role);
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(client.clone(), &ns.name);
    bindings
        .create(
            &PostParams::default(),
            &acceptance_tests::from_json(serde_json::json!({
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns.name}],
            })),
        )
        .await
        .unwrap();
    let destination = tempfile::tempdir().unwrap();
    let with_schedule = |cron: &str| {
        format!(
            "{}\nresource \"redis_backup\" \"nightly\" {{\n  deployment_id = redis_deployment.cache.id\n  \
             destination = \"file://{}\"\n  schedule = {{\n    cron = \"{cron}\"\n    keep = 2\n  }}\n}}\n",
            deployment(&ns.name, "1Gi", true),
            destination.path().display()
        )
    };
    let hcl = with_schedule("0 3 * * *");
    let w = Workdir::new(Tool::Terraform, &hcl);
    w.write_with_kubernetes(&as_identity(&token), &hcl);
    w.apply();
    w.assert_plan_empty();
    // A change in place, and a refresh that reads the runs.
    let changed = with_schedule("0 4 * * *");
    w.write_with_kubernetes(&as_identity(&token), &changed);
    w.apply();
    w.assert_plan_empty();
    w.destroy();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    acceptance_tests::eventually(
        "the backup claim is deleted",
        std::time::Duration::from_secs(60),
        || {
            let claims = claims.clone();
            async move {
                Ok(claims
                    .get_opt("cache-backup")
                    .await?
                    .is_none()
                    .then_some(()))
            }
        },
    )
    .await
    .unwrap();
}
