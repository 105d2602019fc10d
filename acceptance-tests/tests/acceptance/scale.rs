//! Many deployments in one provider process against an API server that throttles: the
//! API server restarted with tight in-flight limits refuses excess requests with 429,
//! and the provider retries them (waiting what Retry-After asks) so that apply, refresh
//! and destroy succeed, with the refusals seen on both sides (the provider's log and the
//! API server's metrics). The limits are put back even when the test fails.

use std::time::Duration;

use acceptance_tests::bed::{fault, service_account_token};
use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, eventually, TestBed, TestNamespace};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::rbac::v1::Role;
use kube::api::PostParams;
use kube::{Api, Client};

/// How many deployments (one pod each) one provider process applies at once.
const DEPLOYMENTS: usize = 12;
/// The API server's in-flight limit (reads and writes each) while the test runs: the
/// provider's own 4 slots, Terraform's 10 resources at a time and the bed's controllers
/// exceed it often.
const IN_FLIGHT: &str = "2";

fn deployments(ns: &str, n: usize) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "resource \"redis_deployment\" \"d{i}\" {{\n  name      = \"d{i}\"\n  namespace = \"{ns}\"\n  replicas  = 1\n}}\n"
            )
        })
        .collect()
}

/// The provider's log lines saying it retried a request the API server throttled.
fn throttled_retries(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("refused the request for now: retrying") && l.contains("429"))
        .count()
}

/// Requests the API server refused with 429 since it started, from its own metrics
/// (read as system:masters, which the limits exempt).
async fn refused_by_the_api_server(client: &Client) -> f64 {
    let request = kube::core::Request::new("")
        .get("metrics", &Default::default())
        .expect("a metrics request");
    let text = client
        .request_text(request)
        .await
        .expect("the API server's metrics");
    text.lines()
        .filter(|l| {
            l.starts_with("apiserver_dropped_requests_total")
                || ((l.starts_with("apiserver_request_terminations_total{")
                    || l.starts_with("apiserver_request_total{"))
                    && l.contains("code=\"429\""))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// A token of a ServiceAccount that may do anything inside namespace `ns`, and nothing else.
async fn namespace_admin(client: &Client, ns: &str) -> String {
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    roles
        .create(
            &PostParams::default(),
            &acceptance_tests::from_json(serde_json::json!({
                "metadata": {"name": "namespace-admin"},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            })),
        )
        .await
        .unwrap();
    service_account_token(client, ns, "scale", Some(("Role", "namespace-admin")))
        .await
        .unwrap()
}

mod whole_bed {
    use super::*;

    /// The API server's normal limits back when the test ends, whatever happened.
    struct NormalLimits {
        restored: bool,
    }

    impl NormalLimits {
        fn tighten(in_flight: &str) -> NormalLimits {
            let guard = NormalLimits { restored: false };
            fault(&["apiserver-tight", "--max-inflight", in_flight]).unwrap();
            guard
        }

        fn restore(mut self) {
            self.restored = true;
            fault(&["apiserver-relax"]).unwrap();
        }
    }

    impl Drop for NormalLimits {
        fn drop(&mut self) {
            if !self.restored {
                if let Err(e) = fault(&["apiserver-relax"]) {
                    eprintln!("could not restore the API server's limits: {e:#}");
                }
            }
        }
    }

    #[tokio::test]
    #[ignore = "restarts the API server with tight limits: run-all runs it alone"]
    async fn whole_bed_a_dozen_deployments_apply_refresh_and_destroy_through_api_throttling() {
        let client = admin().await;
        let ns = TestNamespace::create(&client, "scale").await.unwrap();
        // Not system:masters, whom the in-flight limits exempt: an identity with every
        // right in the namespace only (the guide's Roles name one deployment's objects).
        let token = namespace_admin(&client, &ns.name).await;
        let kubernetes = format!(
            "    host = \"{}\"\n    insecure = true\n    token = \"{token}\"",
            TestBed::get().api_server()
        );
        let hcl = deployments(&ns.name, DEPLOYMENTS);
        let w = Workdir::new(Tool::Terraform, &hcl);
        w.write_with_kubernetes_and_settings(&kubernetes, "  max_concurrent_requests = 4", &hcl);

        let limits = NormalLimits::tighten(IN_FLIGHT);
        let applied = w.apply();
        assert!(
            applied.contains(&format!("{DEPLOYMENTS} added, 0 changed, 0 destroyed")),
            "{applied}"
        );
        // The refresh reads every StatefulSet, ConfigMap and Secret and asks each
        // server its role and settings through port-forwards: nothing changed.
        w.assert_plan_empty();
        let refused = refused_by_the_api_server(&client).await;
        let destroyed = w.destroy();
        assert!(
            destroyed.contains(&format!("{DEPLOYMENTS} destroyed")),
            "{destroyed}"
        );
        let retried = throttled_retries(&w.log());
        limits.restore();

        assert!(
            refused > 0.0,
            "the API server refused no request under an in-flight limit of {IN_FLIGHT}"
        );
        assert!(
            retried > 0,
            "the provider's log shows no retried 429 (the API server refused {refused})"
        );
        eprintln!(
            "{DEPLOYMENTS} deployments under an in-flight limit of {IN_FLIGHT}: the API server \
             refused {refused} requests; the provider retried {retried} throttled requests"
        );
        let left = eventually(
            "no pods or claims left",
            Duration::from_secs(120),
            || async {
                let lp = Default::default();
                let n = Api::<StatefulSet>::namespaced(client.clone(), &ns.name)
                    .list(&lp)
                    .await?
                    .items
                    .len()
                    + Api::<Pod>::namespaced(client.clone(), &ns.name)
                        .list(&lp)
                        .await?
                        .items
                        .len()
                    + Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ns.name)
                        .list(&lp)
                        .await?
                        .items
                        .len();
                Ok((n == 0).then_some(()))
            },
        )
        .await;
        left.unwrap();
    }
}
