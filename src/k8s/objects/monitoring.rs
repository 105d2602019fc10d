//! Prometheus Operator objects of a deployment: a ServiceMonitor for its metrics Service
//! and a PrometheusRule with its alerts (monitoring.coreos.com/v1 custom resources).

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use super::spec::DeploymentSpec;

/// The API group of the Prometheus Operator.
pub const GROUP: &str = "monitoring.coreos.com";

/// A monitoring object kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ServiceMonitor.
    ServiceMonitor,
    /// PrometheusRule.
    PrometheusRule,
}

impl Kind {
    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ServiceMonitor => "ServiceMonitor",
            Kind::PrometheusRule => "PrometheusRule",
        }
    }

    /// Its plural, as the API serves it.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::ServiceMonitor => "servicemonitors",
            Kind::PrometheusRule => "prometheusrules",
        }
    }

    /// Its API resource.
    pub fn resource(self) -> ApiResource {
        let gvk = GroupVersionKind::gvk(GROUP, "v1", self.name());
        ApiResource::from_gvk_with_plural(&gvk, self.plural())
    }
}

/// The object of `kind` for the deployment.
pub fn build(kind: Kind, spec: &DeploymentSpec) -> DynamicObject {
    let body = match kind {
        Kind::ServiceMonitor => json!({
            "selector": {"matchLabels": spec.selector_labels()},
            "endpoints": [{"port": "metrics", "interval": "30s"}],
        }),
        Kind::PrometheusRule => {
            let svc = spec.metrics_service_name();
            json!({"groups": [{"name": format!("{}-redis", spec.name), "rules": [
                {"alert": "RedisDown", "expr": format!("redis_up{{service=\"{svc}\"}} == 0"),
                 "for": "2m", "labels": {"severity": "critical"},
                 "annotations": {"summary": format!("Redis {} is down", spec.id())}},
                {"alert": "RedisMemoryHigh", "expr": format!(
                    "redis_memory_used_bytes{{service=\"{svc}\"}} / redis_memory_max_bytes{{service=\"{svc}\"}} > 0.9 and redis_memory_max_bytes{{service=\"{svc}\"}} > 0"),
                 "for": "5m", "labels": {"severity": "warning"},
                 "annotations": {"summary": format!("Redis {} uses over 90% of maxmemory", spec.id())}}
            ]}]})
        }
    };
    let mut obj = DynamicObject::new(&spec.name, &kind.resource()).within(&spec.namespace);
    obj.metadata.labels = Some(spec.object_labels());
    obj.data = json!({ "spec": body });
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::objects::spec::tests::spec;

    #[test]
    fn the_service_monitor_selects_the_deployments_pods_and_rules_name_its_service() {
        let s = spec();
        let sm = build(Kind::ServiceMonitor, &s);
        assert_eq!(sm.types.as_ref().unwrap().kind, "ServiceMonitor");
        assert_eq!(
            sm.data["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
            "cache"
        );
        let rule = build(Kind::PrometheusRule, &s);
        let expr = rule.data["spec"]["groups"][0]["rules"][0]["expr"]
            .as_str()
            .unwrap();
        assert_eq!(expr, "redis_up{service=\"cache-metrics\"} == 0");
    }
}
