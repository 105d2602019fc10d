//! Rotating the clients' password without downtime and without a restart: what asks for
//! a new password and what the plan says about it, then the steps of the apply.
//!
//! 1. the ACL files in the internal Secret accept the new password's hash beside the old
//!    ones, and every running pod is told the same live (`ACL SETUSER default resetpass
//!    #new #old...`, atomic; a pod restarting meanwhile reads the file);
//! 2. the objects are applied: the password Secret (when the provider keeps it) gets the
//!    new password; nothing else uses it (replicas, probes, the exporter and Sentinels
//!    have users and passwords of their own);
//! 3. after the grace period, the ACL files and then every pod accept the new hash only.
//!
//! Each step sets a whole list, so it can run again. Which hashes are old is read from
//! the internal Secret's ACL file at the start of every apply, never kept in state: an
//! apply stopped halfway leaves the file accepting both, and the next apply (the plan
//! still shows the change, or `config_hash` does) starts again from there.

use k8s_openapi::api::core::v1::{Pod, Secret};

use super::super::support::{admin_conn, api_diag, diag_from};
use super::super::Clients;
use super::model::{Desired, PasswordSource};
use crate::k8s::apply::{self, ObjectSet, Owner};
use crate::k8s::objects::{self, DeploymentSpec};
use crate::redis::acl;
use crate::redis::files::{self, keys, Passwords};
use crate::tf::{Diagnostic, Diagnostics, PrivateState};

/// Why going from `prior` to `next` asks for a new password (`None`: it does not).
pub fn reason(prior: &Desired, next: &Desired) -> Option<String> {
    let show = |v: Option<i64>| v.map_or_else(|| "(unset)".to_string(), |v| v.to_string());
    match (&prior.password, &next.password) {
        (PasswordSource::Generated, PasswordSource::Generated) => {
            (prior.password_version != next.password_version).then(|| {
                format!(
                    "auth.password_version {} -> {}: a new password is generated",
                    show(prior.password_version),
                    show(next.password_version)
                )
            })
        }
        (PasswordSource::WriteOnly(_), PasswordSource::WriteOnly(_)) => {
            (prior.spec.password_version != next.spec.password_version).then(|| {
                format!(
                    "auth.password_wo_version {} -> {}",
                    show(prior.spec.password_version),
                    show(next.spec.password_version)
                )
            })
        }
        (PasswordSource::Existing, PasswordSource::Existing) => {
            (prior.spec.password != next.spec.password).then(|| {
                format!(
                    "auth.existing_secret {}[{}] -> {}[{}]",
                    prior.spec.password.name,
                    prior.spec.password.key,
                    next.spec.password.name,
                    next.spec.password.key
                )
            })
        }
        _ => Some("the password's source changes".to_string()),
    }
}

/// The plan's warning for a rotation of the deployment `id` to `next`, because of `why`.
pub fn warn(id: &str, why: &str, next: &Desired, diags: &mut Diagnostics) {
    let secret = format!(
        "{}/{} (key {})",
        next.spec.namespace, next.spec.password.name, next.spec.password.key
    );
    let flip = if next.password == PasswordSource::Existing {
        format!("clients read the new one from your Secret {secret}")
    } else {
        format!("the Secret {secret} gets the new one")
    };
    let grace = if next.rotation_grace.is_zero() {
        String::new()
    } else {
        format!(
            " {} s later (auth.rotation_grace_seconds)",
            next.rotation_grace.as_secs()
        )
    };
    diags.warning(
        "Password rotated without downtime",
        format!(
            "{id}: {why}. No pod restarts: (1) every pod accepts the new password beside the \
             old one; (2) {flip}; (3){grace} the old password is removed. Clients that \
             authenticate with the old password keep working until step 3; connections \
             already open stay open. Neither password is shown in the plan or kept in state."
        ),
    );
}

/// Why the last refresh found a rotation to do although the configuration asks for
/// none: the pods accept other hashes than the password Secret's password's.
pub const PENDING: &str = "the password Secret holds a password the pods do not accept alone \
     (a new value in auth.existing_secret, or a rotation an earlier apply did not finish)";

/// The private state key of a rotation found pending by a refresh.
const PENDING_KEY: &str = "password_rotation";

/// Whether the pods (per the internal Secret's ACL file) accept anything but the
/// password Secret's password; `false` when either Secret or the key is missing. The
/// refresh reads both Secrets with the deployment's other objects, at once.
pub fn pending_in(
    spec: &DeploymentSpec,
    internal: Option<&Secret>,
    password: Option<&Secret>,
) -> bool {
    let value = |s: Option<&Secret>, key: &str| {
        s.and_then(|s| s.data.as_ref())
            .and_then(|d| d.get(key))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    let Some(acl_file) = value(internal, keys::USERS_ACL) else {
        return false;
    };
    let Some(password) = value(password, &spec.password.key).filter(|p| !p.is_empty()) else {
        return false;
    };
    let hashes = files::client_hashes_in(&acl_file);
    !hashes.is_empty() && hashes != [files::password_hash(&password)]
}

/// Records in `private` whether a refresh found a rotation pending.
pub fn remember_pending(private: &mut PrivateState, pending: bool) {
    if pending {
        private.set(PENDING_KEY, serde_json::Value::Bool(true));
    } else {
        private.remove(PENDING_KEY);
    }
}

/// Whether the last refresh found a rotation pending.
pub fn found_pending(private: &PrivateState) -> bool {
    private.get(PENDING_KEY).and_then(|v| v.as_bool()) == Some(true)
}

/// Whether this apply generates a new password (`auth.password_version` changed).
pub fn regenerate(prior: Option<&Desired>, next: &Desired) -> bool {
    next.password == PasswordSource::Generated
        && prior.is_some_and(|p| {
            p.password == PasswordSource::Generated && p.password_version != next.password_version
        })
}

/// A rotation under way: the hashes the last step removes.
#[derive(Debug)]
pub struct Rotation {
    old: Vec<String>,
}

/// Step 1, before the objects are applied: when the pods accept other hashes than the
/// clients' password's (per the internal Secret's ACL file), they accept it beside them,
/// in the file and live on each of the first `pods` pods, and `passwords` keeps the old
/// ones for the apply. `None` when there is nothing to rotate (or no deployment yet).
pub async fn begin(
    c: &Clients,
    want: &Desired,
    passwords: &mut Passwords,
    set: impl Fn(&Passwords) -> Result<ObjectSet, Diagnostic>,
    pods: i32,
) -> Result<Option<Rotation>, Diagnostic> {
    let spec = &want.spec;
    let internal = apply::get::<Secret>(&c.kube, &spec.namespace, &spec.internal_secret_name())
        .await
        .map_err(|e| api_diag(c, "Cannot read the internal Secret", &e))?;
    let acl_file = internal
        .and_then(|s| s.data)
        .and_then(|d| d.get(keys::USERS_ACL).cloned())
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .unwrap_or_default();
    let before = files::client_hashes_in(&acl_file);
    let new = files::password_hash(&passwords.client);
    if before.is_empty() || before == [new.clone()] {
        return Ok(None);
    }
    let old: Vec<String> = before.into_iter().filter(|h| *h != new).collect();
    tracing::info!(id = %spec.id(), old = old.len(), "password rotation: the pods accept the new password beside the old");
    passwords.client_previous = old.clone();
    internal_only(c, set(passwords)?, spec).await?;
    live(c, spec, passwords, pods).await?;
    Ok(Some(Rotation { old }))
}

/// Step 3, once the objects are applied (and the pods converged): after the grace
/// period, the ACL files, then every pod, accept the new password only.
pub async fn finish(
    c: &Clients,
    want: &Desired,
    passwords: &mut Passwords,
    set: impl Fn(&Passwords) -> Result<ObjectSet, Diagnostic>,
    rotation: Rotation,
) -> Result<(), Diagnostic> {
    let spec = &want.spec;
    if !want.rotation_grace.is_zero() {
        tracing::info!(id = %spec.id(), grace = ?want.rotation_grace, "password rotation: the old password works for the grace period");
        tokio::time::sleep(want.rotation_grace).await;
    }
    tracing::info!(id = %spec.id(), old = rotation.old.len(), "password rotation: removing the old password");
    passwords.client_previous.clear();
    internal_only(c, set(passwords)?, spec).await?;
    live(c, spec, passwords, spec.replicas).await
}

/// The deployment's objects for `passwords`, for [`begin`] and [`finish`].
pub fn objects(
    want: &Desired,
    passwords: &Passwords,
    owned: bool,
    adopted: &[String],
) -> Result<ObjectSet, Diagnostic> {
    let built = objects::build(&want.spec, passwords, owned)
        .map_err(|e| diag_from("Internal error", &e))?;
    let mut set =
        ObjectSet::new(Owner::labelled(want.spec.owner_labels())).adopting(adopted.to_vec());
    set.put(&built.internal_secret)
        .map_err(|e| diag_from("Internal error", &e))?;
    Ok(set)
}

/// Applies `set` (the internal Secret alone).
async fn internal_only(
    c: &Clients,
    set: ObjectSet,
    spec: &DeploymentSpec,
) -> Result<(), Diagnostic> {
    set.apply(&c.kube, &c.field_manager)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            apply::SetError::NotOurs(objects) => super::ownership::refused(spec, &objects),
            apply::SetError::Api(e) => api_diag(c, "Cannot write the internal Secret", &e),
        })
}

/// Every ready pod among the first `pods` accepts exactly the clients' hashes of
/// `passwords`. A pod not running or not ready reads them from the ACL file as it starts.
async fn live(
    c: &Clients,
    spec: &DeploymentSpec,
    passwords: &Passwords,
    pods: i32,
) -> Result<(), Diagnostic> {
    let command = acl::set_passwords(acl::CLIENT_USER, &passwords.client_hashes());
    for ordinal in 0..pods {
        let name = spec.pod_name(ordinal);
        let pod = apply::get::<Pod>(&c.kube, &spec.namespace, &name)
            .await
            .map_err(|e| api_diag(c, "Cannot read the pods", &e))?;
        if !pod.as_ref().is_some_and(ready) {
            tracing::info!(pod = %name, "not ready: it reads the passwords from its ACL file");
            continue;
        }
        let failed = |e: &(dyn std::error::Error + 'static)| {
            let mut d = diag_from(
                &format!("The clients' password did not change on {name}"),
                e,
            );
            d.detail.push_str(
                "\n\nThe rotation is halfway: both passwords work. The next apply finishes it.",
            );
            d
        };
        let mut conn = admin_conn(c, &spec.namespace, &name, &passwords.admin)
            .await
            .map_err(|e| failed(&e))?;
        conn.command(&command).await.map_err(|e| failed(&e))?;
    }
    Ok(())
}

/// Whether the pod is Ready.
fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::{config, nested};
    use super::*;
    use crate::tf::Value;

    /// A deployment `cache` whose `auth` has `pairs` set.
    fn desired(pairs: Vec<(&str, Value)>) -> Desired {
        let auth = nested("auth", pairs);
        let v = config(vec![("name", Value::string("cache")), ("auth", auth)]);
        super::super::model::parse(&v, &v)
    }

    #[test]
    fn a_new_version_or_secret_asks_for_a_rotation_and_the_same_one_does_not() {
        let gen1 = desired(vec![("password_version", Value::int(1))]);
        let gen2 = desired(vec![("password_version", Value::int(2))]);
        assert_eq!(reason(&gen1, &gen1), None);
        assert!(reason(&gen1, &gen2)
            .unwrap()
            .starts_with("auth.password_version 1 -> 2"));
        assert!(regenerate(Some(&gen1), &gen2));
        assert!(!regenerate(Some(&gen2), &gen2));
        assert!(!regenerate(None, &gen2));
        let wo1 = desired(vec![("password_wo_version", Value::int(1))]);
        let wo2 = desired(vec![("password_wo_version", Value::int(2))]);
        assert_eq!(
            reason(&wo1, &wo2).as_deref(),
            Some("auth.password_wo_version 1 -> 2")
        );
        assert!(!regenerate(Some(&wo1), &wo2));
        let ex = |name: &str| {
            desired(vec![(
                "existing_secret",
                Value::object([("name", Value::string(name)), ("key", Value::string("pw"))]),
            )])
        };
        assert_eq!(reason(&ex("a"), &ex("a")), None);
        assert_eq!(
            reason(&ex("a"), &ex("b")).as_deref(),
            Some("auth.existing_secret a[pw] -> b[pw]")
        );
        assert!(reason(&gen1, &ex("a")).is_some());
    }

    #[test]
    fn the_plan_names_the_steps_and_no_password() {
        let mut next = desired(vec![
            ("password_version", Value::int(2)),
            ("rotation_grace_seconds", Value::int(30)),
        ]);
        next.spec.namespace = "apps".into();
        let mut diags = Diagnostics::new();
        warn(
            "apps/cache",
            "auth.password_version 1 -> 2",
            &next,
            &mut diags,
        );
        let text = format!("{diags:?}");
        assert!(
            text.contains("Secret apps/cache-auth (key password) gets the new one"),
            "{text}"
        );
        assert!(text.contains("30 s later"), "{text}");
        assert!(text.contains("keep working until step 3"), "{text}");
    }

    #[test]
    fn a_rotation_is_pending_when_the_pods_accept_another_hash_than_the_secrets_password() {
        use k8s_openapi::ByteString;
        let spec = desired(vec![]).spec;
        let secret = |pairs: &[(&str, &str)]| Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        };
        let acl = |hashes: &[&str]| {
            let rules: Vec<String> = hashes.iter().map(|h| format!("#{h}")).collect();
            format!(
                "user {} on {} ~* &* +@all\n",
                acl::CLIENT_USER,
                rules.join(" ")
            )
        };
        let new = files::password_hash("new");
        let old = files::password_hash("old");
        let password = secret(&[(spec.password.key.as_str(), "new")]);
        let both = secret(&[(keys::USERS_ACL, &acl(&[&old, &new]))]);
        let only_new = secret(&[(keys::USERS_ACL, &acl(&[&new]))]);
        assert!(pending_in(&spec, Some(&both), Some(&password)));
        assert!(!pending_in(&spec, Some(&only_new), Some(&password)));
        // Either Secret missing, or the password key: nothing to say.
        assert!(!pending_in(&spec, None, Some(&password)));
        assert!(!pending_in(&spec, Some(&both), None));
        assert!(!pending_in(&spec, Some(&both), Some(&secret(&[]))));
    }
}
