//! Plan modifiers: small composable adjustments of an attribute's planned value
//! (requires-replace, use-state-for-unknown, or your own).

use super::diag::Diagnostics;
use super::path::AttributePath;
use super::value::Value;

/// What a plan modifier looks at.
pub struct PlanModifierRequest<'a> {
    /// Where the attribute is.
    pub path: &'a AttributePath,
    /// Its configuration value.
    pub config: &'a Value,
    /// Its value in the prior state (null when creating).
    pub state: &'a Value,
    /// Its planned value so far.
    pub plan: &'a Value,
    /// The resource is being created (there is no prior state).
    pub creating: bool,
}

/// What a plan modifier may change.
#[derive(Debug, Default)]
pub struct PlanModifierResponse {
    /// The planned value; starts as the request's plan.
    pub plan: Value,
    /// Set when a change of this attribute must replace the resource.
    pub requires_replace: bool,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// An adjustment of one attribute's planned value.
pub trait PlanModifier: Send + Sync {
    /// What it does, in words (for docs).
    fn description(&self) -> String;
    /// Adjusts `resp` (which starts with the planned value unchanged).
    fn modify(&self, req: &PlanModifierRequest<'_>, resp: &mut PlanModifierResponse);
}

/// Changing the attribute replaces the resource.
pub fn requires_replace() -> RequiresReplace<fn(&PlanModifierRequest<'_>) -> bool> {
    RequiresReplace {
        description: "changing this value replaces the resource".to_owned(),
        condition: |_| true,
    }
}

/// Changing the attribute replaces the resource when `condition` holds.
pub fn requires_replace_if<F>(description: impl Into<String>, condition: F) -> RequiresReplace<F>
where
    F: Fn(&PlanModifierRequest<'_>) -> bool + Send + Sync,
{
    RequiresReplace {
        description: description.into(),
        condition,
    }
}

/// See [`requires_replace`].
pub struct RequiresReplace<F> {
    description: String,
    condition: F,
}

impl<F> PlanModifier for RequiresReplace<F>
where
    F: Fn(&PlanModifierRequest<'_>) -> bool + Send + Sync,
{
    fn description(&self) -> String {
        self.description.clone()
    }

    fn modify(&self, req: &PlanModifierRequest<'_>, resp: &mut PlanModifierResponse) {
        // Creating or destroying replaces nothing; an unchanged value neither.
        if req.creating || req.plan.semantically_equal(req.state) {
            return;
        }
        if (self.condition)(req) {
            resp.requires_replace = true;
        }
    }
}

/// Keeps the prior state's value instead of "known after apply" when the provider
/// would otherwise recompute it (for values that never change after create, like ids).
pub fn use_state_for_unknown() -> UseStateForUnknown {
    UseStateForUnknown
}

/// See [`use_state_for_unknown`].
pub struct UseStateForUnknown;

impl PlanModifier for UseStateForUnknown {
    fn description(&self) -> String {
        "keeps the value from the prior state".to_owned()
    }

    fn modify(&self, req: &PlanModifierRequest<'_>, resp: &mut PlanModifierResponse) {
        if req.creating || req.state.is_null() || req.plan.is_known() || !req.config.is_known() {
            return;
        }
        resp.plan = req.state.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        m: &dyn PlanModifier,
        config: Value,
        state: Value,
        plan: Value,
        creating: bool,
    ) -> PlanModifierResponse {
        let path = AttributePath::new("x");
        let mut resp = PlanModifierResponse {
            plan: plan.clone(),
            ..PlanModifierResponse::default()
        };
        m.modify(
            &PlanModifierRequest {
                path: &path,
                config: &config,
                state: &state,
                plan: &plan,
                creating,
            },
            &mut resp,
        );
        resp
    }

    #[test]
    fn requires_replace_fires_only_on_a_change_of_an_existing_resource() {
        let m = requires_replace();
        assert!(run(&m, "b".into(), "a".into(), "b".into(), false).requires_replace);
        assert!(!run(&m, "a".into(), "a".into(), "a".into(), false).requires_replace);
        assert!(!run(&m, "b".into(), Value::Null, "b".into(), true).requires_replace);
        assert!(run(&m, Value::unknown(), "a".into(), Value::unknown(), false).requires_replace);
    }

    #[test]
    fn requires_replace_if_consults_its_condition() {
        let m = requires_replace_if("only when growing", |req| {
            req.plan.as_i64().unwrap_or(0) > req.state.as_i64().unwrap_or(0)
        });
        assert!(run(&m, Value::int(2), Value::int(1), Value::int(2), false).requires_replace);
        assert!(!run(&m, Value::int(1), Value::int(2), Value::int(1), false).requires_replace);
    }

    #[test]
    fn use_state_for_unknown_keeps_the_prior_value_on_update() {
        let m = use_state_for_unknown();
        let resp = run(&m, Value::Null, "ns/x".into(), Value::unknown(), false);
        assert_eq!(resp.plan, Value::string("ns/x"));
        let resp = run(&m, Value::Null, Value::Null, Value::unknown(), true);
        assert_eq!(resp.plan, Value::unknown());
        let resp = run(&m, Value::unknown(), "a".into(), Value::unknown(), false);
        assert_eq!(
            resp.plan,
            Value::unknown(),
            "an unknown configuration value stays unknown"
        );
    }
}
