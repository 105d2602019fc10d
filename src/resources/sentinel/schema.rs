//! The schema of `redis_sentinel`: every attribute, described, with its plan-time
//! validators and plan modifiers.

use crate::tf::{plan, timeouts, validate, Attribute, Block, Schema, Type};

use super::model::{
    DEFAULT_DOWN_AFTER_MS, DEFAULT_FAILOVER_TIMEOUT_MS, DEFAULT_MASTER_NAME,
    DEFAULT_PARALLEL_SYNCS, DEFAULT_REPLICAS,
};
use super::SCHEMA_VERSION;

fn m(name: &str, description: &str) -> Attribute {
    Attribute::map(name, Type::String)
        .optional()
        .description(description)
}

fn kept(attr: Attribute) -> Attribute {
    attr.computed().plan_modifier(plan::use_state_for_unknown())
}

/// The resource's schema.
pub fn schema() -> Schema {
    let resources = Attribute::single_nested(
        "resources",
        vec![
            m(
                "requests",
                "Requested resources (`cpu`, `memory`) as Kubernetes quantities.",
            ),
            m("limits", "Resource limits as Kubernetes quantities."),
        ],
    )
    .optional()
    .description("Resources of the Sentinel container. Changing them rolls the Sentinel pods.");

    let pdb = Attribute::single_nested(
        "pod_disruption_budget",
        vec![
            Attribute::bool("enabled")
                .optional()
                .description("Create the PodDisruptionBudget `<deployment>-sentinel` (default true)."),
            Attribute::number("max_unavailable")
                .optional()
                .description("Sentinels that may be disrupted at once (default 1). 0 blocks every node drain.")
                .validator(validate::int_at_least(0)),
        ],
    )
    .optional()
    .description("Voluntary disruption budget of the Sentinel pods.");

    Schema::new(
        Block::new(
            "Sentinel high availability for a `redis_deployment` with `replicas >= 2`: a StatefulSet \
             of Sentinels (`<deployment>-sentinel`) watching the deployment's primary by its DNS name, \
             failing over to a replica when the primary is down. A failover between applies is not \
             drift: `master_address` and `current_primary_pod` report it, and the provider never moves \
             the primary back. Sentinels admit clients without a password, for what Sentinel-aware \
             clients ask (where the primary is, events); changing a Sentinel needs the provider's own \
             password. Default timeouts: create 10m, update 10m, delete 5m.",
        )
        .attribute(
            Attribute::string("deployment_id")
                .required()
                .description("The `id` of the `redis_deployment` to watch (`<namespace>/<name>`), e.g. `redis_deployment.cache.id`. It must have `replicas >= 2`. Changing it replaces the Sentinels.")
                .plan_modifier(plan::requires_replace()),
        )
        .attribute(
            Attribute::string("master_name")
                .optional_computed()
                .description(format!("The name Sentinel monitors the primary by, which clients ask for (default `{DEFAULT_MASTER_NAME}`). Letters, digits, `.`, `_` and `-`. Changing it rolls the Sentinel pods, and clients must use the new name.")),
        )
        .attribute(
            Attribute::number("replicas")
                .optional_computed()
                .description(format!("Sentinel pods: an odd number, at least 3 (default {DEFAULT_REPLICAS}). Scaling changes no running Sentinel's settings; after a scale-down the remaining Sentinels forget the removed ones (SENTINEL RESET, one at a time).")),
        )
        .attribute(
            Attribute::number("quorum")
                .optional_computed()
                .description("Sentinels that must agree the primary is down before a failover starts (default a majority of `replicas`); at most `replicas`. A failover also needs a majority of the Sentinels to elect a leader. Applied live (SENTINEL SET).")
                .validator(validate::int_at_least(1)),
        )
        .attribute(
            Attribute::number("down_after_milliseconds")
                .optional_computed()
                .description(format!("How long the primary may not answer before a Sentinel deems it down (default {DEFAULT_DOWN_AFTER_MS}). Applied live (SENTINEL SET on every Sentinel); a value set by hand shows as drift.")),
        )
        .attribute(
            Attribute::number("failover_timeout")
                .optional_computed()
                .description(format!("Failover timeout in milliseconds (default {DEFAULT_FAILOVER_TIMEOUT_MS}): how long a failover may take, and the pace of retries. Applied live.")),
        )
        .attribute(
            Attribute::number("parallel_syncs")
                .optional_computed()
                .description(format!("Replicas re-pointed at the new primary at once after a failover (default {DEFAULT_PARALLEL_SYNCS}). Applied live.")),
        )
        .attribute(
            Attribute::bool("announce_hostnames")
                .optional_computed()
                .description("Sentinels announce their DNS names and report the primary by its DNS name, never an IP (default true: pods move, names stay). Changing it rolls the Sentinel pods."),
        )
        .attribute(resources)
        .attribute(
            Attribute::string("anti_affinity")
                .optional()
                .description("Spreading of the Sentinel pods over nodes: `none`, `preferred` (default) or `required`. Changing it rolls the Sentinel pods.")
                .validator(validate::one_of(&["none", "preferred", "required"])),
        )
        .attribute(pdb)
        .attribute(kept(Attribute::string("id").description("`<namespace>/<deployment>`, as `deployment_id`.")))
        .attribute(kept(Attribute::string("service_name").description("The Sentinels' client Service, `<deployment>-sentinel`.")))
        .attribute(kept(Attribute::number("port").description("Sentinel's port, 26379.")))
        .attribute(kept(Attribute::string("connection_url").description("For Sentinel-aware clients: `redis+sentinel://<service host>:26379/<master_name>` (no password: the data servers' password is the deployment's).")))
        .attribute(Attribute::list("sentinel_hosts", Type::String).computed().description("Every Sentinel as `host:26379` (the pods' cluster DNS names), for clients that take a list of Sentinels (redis-py's `Sentinel([...])`, ioredis' `sentinels`, Lettuce, Jedis' `JedisSentinelPool`), with `master_name`. The password is the deployment's (`redis_deployment.password_secret`)."))
        .attribute(Attribute::string("image").computed().description("The Sentinels' image: the deployment's, so Sentinel and server are the same version. A new deployment image rolls the Sentinel pods at the next apply."))
        .attribute(Attribute::string("master_address").computed().description("The primary's `host:port` as the Sentinels report it (a DNS name with `announce_hostnames`). Follows failovers: refreshed, never planned."))
        .attribute(Attribute::string("current_primary_pod").computed().description("The data pod that is the primary now, as the Sentinels report it."))
        .attribute(Attribute::string("tls_certificate_sha256").computed().description("sha256 of the TLS certificate the Sentinels serve; null when the deployment has no `tls`. Over a TLS deployment the Sentinels serve TLS only on 26379 with the deployment's certificate Secret (verify them with its CA; the certificate the provider generates covers the Sentinels' Service and pod names too), present it to the data servers and each other (`tls-replication yes`), and follow its `auth_clients`. A new certificate on the deployment shows here in the plan and rolls the Sentinel pods."))
        .attribute(Attribute::bool("quorum_ok").computed().description("Whether SENTINEL CKQUORUM said enough Sentinels are reachable to authorize a failover, at the last read."))
        .block(timeouts::block(&["create", "update", "delete"])),
    )
    .version(SCHEMA_VERSION)
}
