//! `redis_credentials`: an ephemeral resource handing out a deployment's client
//! credentials for one Terraform run, never stored in plan or state.
//!
//! The Terraform glue: open finds the deployment's StatefulSet, reads where its clients'
//! password lives from the deployment's own model ([`model`]), and reads it through
//! `k8s::secrets`. Nothing is held open, so there is nothing to renew or close.

pub mod model;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::StatefulSet;

use super::support::{api_diag, path, stopped_or_timed_out};
use super::{Clients, Shared};
use crate::k8s::apply;
use crate::k8s::secrets::{self, SecretValue};
use crate::tf::ephemeral::{EphemeralResource, OpenRequest, OpenResponse};
use crate::tf::{Diagnostic, Diagnostics, Schema};

/// How long an open may take (two reads from the API server).
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// The `redis_credentials` ephemeral resource type.
pub struct Credentials {
    shared: Arc<Shared>,
}

impl Credentials {
    /// The ephemeral resource, reading clients from `shared` once the provider is configured.
    pub fn new(shared: Arc<Shared>) -> Self {
        Credentials { shared }
    }
}

/// What an open found.
enum Found {
    /// The credentials.
    Credentials(model::ClientAccess, secrecy::SecretString),
    /// The deployment is planned in this run and not there yet: values known at apply.
    NotYet,
}

fn not_found(id: &str, detail: &str) -> Diagnostic {
    Diagnostic::error(
        "Deployment not found",
        format!(
            "deployment_id {id:?}: {detail}. Use the id of an existing redis_deployment \
             (`redis_deployment.<name>.id`, which also orders this after its creation)."
        ),
    )
    .at(path(&["deployment_id"]))
}

impl Credentials {
    async fn find(&self, c: &Clients, id: &str, ns: &str, name: &str) -> Result<Found, Diagnostic> {
        // Planned by this process and not created yet: during the plan of the run that creates it.
        let planned = self.shared.planned_deployment(id).is_some();
        let sts = apply::get::<StatefulSet>(&c.kube, ns, name)
            .await
            .map_err(|e| api_diag(c, "Cannot read the deployment", &e))?;
        let Some(sts) = sts else {
            if planned {
                return Ok(Found::NotYet);
            }
            return Err(not_found(
                id,
                &format!("StatefulSet {name} does not exist in namespace {ns}"),
            ));
        };
        let access = model::client_access(&sts, id).map_err(|e| {
            Diagnostic::error("Not a redis_deployment", e.to_string()).at(path(&["deployment_id"]))
        })?;
        let read = secrets::value(&c.kube, ns, &access.secret.name, &access.secret.key)
            .await
            .map_err(|e| api_diag(c, "Cannot read the deployment's password Secret", &e))?;
        match read {
            SecretValue::Found(password) => Ok(Found::Credentials(access, password)),
            _ if planned => Ok(Found::NotYet),
            SecretValue::NoSecret | SecretValue::NoKey => Err(Diagnostic::error(
                "Password Secret not usable",
                format!(
                    "The clients' password of deployment {id} is kept in Secret {ns}/{} under \
                     key {:?}, which does not exist or is empty.",
                    access.secret.name, access.secret.key
                ),
            )
            .at(path(&["deployment_id"]))),
        }
    }
}

#[async_trait]
impl EphemeralResource for Credentials {
    fn type_name(&self) -> &str {
        "redis_credentials"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn open(&self, req: OpenRequest, resp: &mut OpenResponse) {
        let id = req
            .config
            .attribute("deployment_id")
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some((ns, name)) = model::deployment_of(&id) else {
            resp.diagnostics.error_at(
                path(&["deployment_id"]),
                "Invalid deployment id",
                format!("{id:?} is not `<namespace>/<name>`."),
            );
            return;
        };
        let mut diags = Diagnostics::new();
        let Some(c) = self.shared.clients_or_report(&mut diags) else {
            resp.diagnostics.extend(diags);
            return;
        };
        match req
            .ctx
            .bounded(OPEN_TIMEOUT, self.find(&c, &id, &ns, &name))
            .await
        {
            Err(e) => resp
                .diagnostics
                .push(stopped_or_timed_out(e, "Reading the credentials")),
            Ok(Err(d)) => resp.diagnostics.push(d),
            Ok(Ok(Found::NotYet)) => {
                tracing::debug!(%id, "deployment planned in this run: credentials known at apply");
            }
            Ok(Ok(Found::Credentials(access, password))) => {
                model::set_result(&mut resp.result, &access, &password);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::SchemaKind;

    #[test]
    fn the_schema_is_sound_and_every_attribute_is_described() {
        let problems = schema::schema().problems(SchemaKind::EphemeralResource);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn the_secrets_are_sensitive() {
        let schema = schema::schema();
        let sensitive: Vec<&str> = schema
            .block
            .attributes
            .iter()
            .filter(|a| a.sensitive)
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(sensitive, ["password", "url"]);
    }

    #[test]
    fn a_missing_deployment_is_reported_on_deployment_id() {
        let d = not_found(
            "apps/nope",
            "StatefulSet nope does not exist in namespace apps",
        );
        assert_eq!(d.path, Some(path(&["deployment_id"])));
        assert!(d.detail.contains("apps/nope"), "{}", d.detail);
    }
}
