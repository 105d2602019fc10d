//! The typed model of `redis_sentinel`: a configuration, plan or state read leniently
//! (unknown or invalid values count as their defaults; `checks` in [`super`] says what is
//! wrong), the defaults a plan shows, the computed attributes known from the
//! configuration, and the inputs recorded for import.

use serde_json::Value as Json;

use crate::k8s::objects::sentinel::SentinelSpec;
use crate::k8s::objects::spec::{AntiAffinity, Resources, Security, TlsSpec};
use crate::redis::files::SENTINEL_PORT;
use crate::redis::sentinel::Tunables;
use crate::tf::Value;

use super::super::support::{int_of, map_of, str_of};

/// The default monitored name.
pub const DEFAULT_MASTER_NAME: &str = "mymaster";
/// The default number of Sentinels.
pub const DEFAULT_REPLICAS: i64 = 3;
/// The default `down-after-milliseconds` (Redis's own is 30 s; on Kubernetes, where a
/// deleted pod's name stops resolving at once, 5 s gives failovers well under 30 s).
pub const DEFAULT_DOWN_AFTER_MS: i64 = 5000;
/// The default `failover-timeout`.
pub const DEFAULT_FAILOVER_TIMEOUT_MS: i64 = 60000;
/// The default `parallel-syncs`.
pub const DEFAULT_PARALLEL_SYNCS: i64 = 1;

/// Everything the configuration says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// The deployment's namespace.
    pub namespace: String,
    /// The deployment's name.
    pub deployment: String,
    /// The monitored name.
    pub master_name: String,
    /// Sentinel pods.
    pub replicas: i32,
    /// Quorum and the live settings.
    pub tunables: Tunables,
    /// Announce DNS names.
    pub announce_hostnames: bool,
    /// Container resources.
    pub resources: Resources,
    /// Placement.
    pub anti_affinity: AntiAffinity,
    /// Disruption budget; none when `None`.
    pub max_unavailable: Option<i32>,
}

/// What the deployment contributes to the Sentinels' objects, read from the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentFacts {
    /// Its image.
    pub image: String,
    /// Its image pull policy.
    pub image_pull_policy: Option<String>,
    /// Its pods.
    pub replicas: i32,
    /// The primary now (a DNS name of its headless domain).
    pub primary_host: String,
    /// The client peers of its NetworkPolicy (`None`: it has none, anyone may connect).
    pub client_peers: Option<Vec<Json>>,
    /// Its TLS, when it serves TLS only (its pods' certificate Secret, digest and
    /// `tls-auth-clients`).
    pub tls: Option<TlsSpec>,
}

/// `namespace/name` split; `None` when it is not of that form.
pub fn split_id(id: &str) -> Option<(String, String)> {
    let (ns, name) = id.split_once('/')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains('/'))
        .then(|| (ns.to_string(), name.to_string()))
}

/// The default quorum of `replicas` Sentinels: a majority.
pub fn default_quorum(replicas: i64) -> i64 {
    replicas / 2 + 1
}

/// Reads a configuration, plan or state.
pub fn parse(v: &Value) -> Desired {
    let (namespace, deployment) = str_of(v.attribute("deployment_id"))
        .and_then(|id| split_id(&id))
        .unwrap_or_default();
    let replicas = int_of(v.attribute("replicas")).unwrap_or(DEFAULT_REPLICAS);
    let r = v.attribute("resources");
    let pdb = v.attribute("pod_disruption_budget");
    Desired {
        namespace,
        deployment,
        master_name: str_of(v.attribute("master_name"))
            .unwrap_or_else(|| DEFAULT_MASTER_NAME.into()),
        replicas: replicas as i32,
        tunables: Tunables {
            quorum: int_of(v.attribute("quorum")).unwrap_or_else(|| default_quorum(replicas)),
            down_after_milliseconds: int_of(v.attribute("down_after_milliseconds"))
                .unwrap_or(DEFAULT_DOWN_AFTER_MS),
            failover_timeout: int_of(v.attribute("failover_timeout"))
                .unwrap_or(DEFAULT_FAILOVER_TIMEOUT_MS),
            parallel_syncs: int_of(v.attribute("parallel_syncs")).unwrap_or(DEFAULT_PARALLEL_SYNCS),
        },
        announce_hostnames: v.attribute("announce_hostnames").as_bool().unwrap_or(true),
        resources: Resources {
            requests: map_of(r.attribute("requests")),
            limits: map_of(r.attribute("limits")),
        },
        anti_affinity: match v.attribute("anti_affinity").as_str() {
            Some("none") => AntiAffinity::None,
            Some("required") => AntiAffinity::Required,
            _ => AntiAffinity::Preferred,
        },
        max_unavailable: pdb
            .attribute("enabled")
            .as_bool()
            .unwrap_or(true)
            .then(|| int_of(pdb.attribute("max_unavailable")).unwrap_or(1) as i32),
    }
}

impl Desired {
    /// `namespace/deployment`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.deployment)
    }

    /// The objects' spec, with what the deployment contributes.
    pub fn spec(&self, facts: &DeploymentFacts) -> SentinelSpec {
        SentinelSpec {
            deployment: self.deployment.clone(),
            namespace: self.namespace.clone(),
            image: facts.image.clone(),
            image_pull_policy: facts.image_pull_policy.clone(),
            replicas: self.replicas,
            master_name: self.master_name.clone(),
            tunables: self.tunables,
            announce_hostnames: self.announce_hostnames,
            resources: self.resources.clone(),
            anti_affinity: self.anti_affinity,
            max_unavailable: self.max_unavailable,
            data_replicas: facts.replicas,
            fallback_primary: facts.primary_host.clone(),
            client_peers: facts.client_peers.clone(),
            security: Security::default(),
            tls: facts.tls.clone(),
        }
    }

    /// A spec with names only (for deletes, imports and reads): what the objects are
    /// called and how they are labelled.
    pub fn names(&self) -> SentinelSpec {
        self.spec(&DeploymentFacts {
            image: String::new(),
            image_pull_policy: None,
            replicas: 0,
            primary_host: String::new(),
            client_peers: None,
            tls: None,
        })
    }
}

/// The plan's values for the optional attributes the configuration leaves null: the
/// defaults, so a value changed out of band (the state) shows as a change back.
pub fn fill_defaults(plan: &mut Value, config: &Value) {
    // From the configuration: the plan proposes the prior state's value for a null
    // optional-and-computed attribute, which would hide a change made out of band.
    let want = parse(config);
    let defaults = [
        ("master_name", Value::string(want.master_name.clone())),
        ("replicas", Value::int(want.replicas as i64)),
        ("quorum", Value::int(want.tunables.quorum)),
        (
            "down_after_milliseconds",
            Value::int(want.tunables.down_after_milliseconds),
        ),
        (
            "failover_timeout",
            Value::int(want.tunables.failover_timeout),
        ),
        ("parallel_syncs", Value::int(want.tunables.parallel_syncs)),
        ("announce_hostnames", Value::Bool(want.announce_hostnames)),
    ];
    for (name, value) in defaults {
        let configured = config.attribute(name);
        if configured.is_null() {
            plan.set(name, value);
        }
    }
    // A quorum left to its default follows `replicas` (known or not).
    if config.attribute("quorum").is_null() && !config.attribute("replicas").is_known() {
        plan.set("quorum", Value::unknown());
    }
}

/// Computed attributes known from the configuration alone.
pub fn set_derived(state: &mut Value, want: &Desired) {
    let names = want.names();
    state.set("id", want.id());
    state.set("service_name", names.name());
    state.set("port", Value::int(SENTINEL_PORT as i64));
    state.set("connection_url", names.connection_url());
    state.set(
        "sentinel_hosts",
        (0..want.replicas)
            .map(|i| format!("{}:{SENTINEL_PORT}", names.pod_host(i)))
            .collect::<Vec<String>>(),
    );
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::schema::schema;
    use super::*;

    /// A configuration with `pairs` set and everything else null.
    pub(crate) fn config(pairs: Vec<(&str, Value)>) -> Value {
        let mut v = Value::null_object_of(&schema().value_type());
        for (k, val) in pairs {
            v.set(k, val);
        }
        v
    }

    #[test]
    fn a_minimal_configuration_has_three_sentinels_a_majority_quorum_and_names_on() {
        let v = config(vec![("deployment_id", Value::string("apps/cache"))]);
        let want = parse(&v);
        assert_eq!(
            (want.namespace.as_str(), want.deployment.as_str()),
            ("apps", "cache")
        );
        assert_eq!(want.replicas, 3);
        assert_eq!(want.tunables.quorum, 2);
        assert_eq!(want.master_name, "mymaster");
        assert!(want.announce_hostnames);
        assert_eq!(want.max_unavailable, Some(1));
        let five = parse(&config(vec![("replicas", Value::int(5))]));
        assert_eq!(five.tunables.quorum, 3);
    }

    #[test]
    fn the_plan_shows_defaults_for_what_the_configuration_leaves_out() {
        let c = config(vec![
            ("deployment_id", Value::string("apps/cache")),
            ("down_after_milliseconds", Value::int(7000)),
        ]);
        let mut plan = c.clone();
        plan.set("replicas", Value::int(5));
        fill_defaults(&mut plan, &c);
        assert_eq!(
            plan.attribute("replicas").as_i64(),
            Some(3),
            "not the state's 5"
        );
        assert_eq!(plan.attribute("quorum").as_i64(), Some(2));
        assert_eq!(
            plan.attribute("down_after_milliseconds").as_i64(),
            Some(7000)
        );
        assert_eq!(plan.attribute("master_name").as_str(), Some("mymaster"));
        assert_eq!(plan.attribute("announce_hostnames").as_bool(), Some(true));
    }

    #[test]
    fn ids_are_namespace_slash_name() {
        assert_eq!(
            split_id("apps/cache"),
            Some(("apps".into(), "cache".into()))
        );
        for bad in ["cache", "/cache", "apps/", "a/b/c"] {
            assert_eq!(split_id(bad), None, "{bad}");
        }
    }
}
