//! Attribute paths: where in a configuration or state a value or a diagnostic sits.

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// An object attribute or nested block by name.
    Attribute(String),
    /// A map element by key.
    Key(String),
    /// A list or tuple element by index (also used for set elements' positions).
    Index(i64),
}

/// A path from the root object of a schema to one value in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AttributePath {
    steps: Vec<PathStep>,
}

impl AttributePath {
    /// The empty path: the whole object.
    pub fn root() -> Self {
        Self::default()
    }

    /// A path naming one top-level attribute.
    pub fn new(attribute: impl Into<String>) -> Self {
        Self::root().attribute(attribute)
    }

    /// This path extended by an attribute name.
    #[must_use]
    pub fn attribute(mut self, name: impl Into<String>) -> Self {
        self.steps.push(PathStep::Attribute(name.into()));
        self
    }

    /// This path extended by a map key.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.steps.push(PathStep::Key(key.into()));
        self
    }

    /// This path extended by a list index.
    #[must_use]
    pub fn index(mut self, index: i64) -> Self {
        self.steps.push(PathStep::Index(index));
        self
    }

    /// This path extended by one step.
    #[must_use]
    pub fn step(mut self, step: PathStep) -> Self {
        self.steps.push(step);
        self
    }

    /// The steps, from the root.
    pub fn steps(&self) -> &[PathStep] {
        &self.steps
    }

    /// Whether this is the root path.
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// Builds a path from steps.
    pub fn from_steps(steps: Vec<PathStep>) -> Self {
        Self { steps }
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attribute(name) if i == 0 => f.write_str(name)?,
                PathStep::Attribute(name) => write!(f, ".{name}")?,
                PathStep::Key(key) => write!(f, "[{key:?}]")?,
                PathStep::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_the_way_terraform_users_write_them() {
        let path = AttributePath::new("kubernetes")
            .attribute("exec")
            .attribute("args")
            .index(0);
        assert_eq!(path.to_string(), "kubernetes.exec.args[0]");
        assert_eq!(
            AttributePath::new("labels").key("app").to_string(),
            "labels[\"app\"]"
        );
    }
}
