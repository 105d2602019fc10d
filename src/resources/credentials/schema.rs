//! The schema of `redis_credentials`: the deployment it describes, and what a client needs
//! to connect as the deployment's client user.

use crate::tf::{validate, Attribute, Block, Schema};

use super::model::deployment_of;

/// The ephemeral resource's schema.
pub fn schema() -> Schema {
    Schema::new(
        Block::new(
            "Username, password and connection URL of a `redis_deployment`'s clients, read from \
             the deployment's password Secret (its own, or `auth.existing_secret`) each time \
             Terraform needs them, and never stored in plan or state: for another provider's \
             configuration (e.g. a Helm release or a Kubernetes Secret of an application) or a \
             write-only attribute, so nobody reads the Secret back by hand. Only the clients' \
             user is handed out, never the provider's own or the replication user. Needs \
             Terraform 1.10+ or OpenTofu 1.11+. A deployment this run creates is known only \
             at apply: during the plan every value is unknown.",
        )
        .attribute(
            Attribute::string("deployment_id")
                .required()
                .description("The `id` of the `redis_deployment` (`<namespace>/<name>`), e.g. `redis_deployment.cache.id`.")
                .validator(validate::from_fn("`<namespace>/<name>`", |req, diags| {
                    if let Some(id) = req.value.as_str() {
                        if deployment_of(id).is_none() {
                            diags.error_at(
                                req.path.clone(),
                                "Invalid deployment id",
                                format!("{id:?} is not `<namespace>/<name>`, e.g. `llm-judge/redis`."),
                            );
                        }
                    }
                })),
        )
        .attribute(
            Attribute::string("username")
                .computed()
                .description("The clients' ACL user (`default`): the one a plain `AUTH <password>` authenticates as."),
        )
        .attribute(
            Attribute::string("password")
                .computed()
                .sensitive()
                .description("The clients' password, from the deployment's password Secret."),
        )
        .attribute(
            Attribute::string("host")
                .computed()
                .description("The client Service's cluster DNS name (`<name>.<namespace>.svc.cluster.local`), as the deployment's `host`."),
        )
        .attribute(
            Attribute::number("port")
                .computed()
                .description("The client Service's port, as the deployment's `port`."),
        )
        .attribute(
            Attribute::string("url")
                .computed()
                .sensitive()
                .description("`connection_url` with the username and the password (percent-encoded) in it: `redis://default:<password>@<host>:<port>`."),
        )
        .attribute(
            Attribute::string("connection_url")
                .computed()
                .description("The deployment's `connection_url`, without the password."),
        ),
    )
}
