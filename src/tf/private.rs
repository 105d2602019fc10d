//! Private state: provider-only data Terraform stores beside a resource's state, as JSON keys.

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// Private state bytes that are not a JSON object.
#[derive(Debug, thiserror::Error)]
#[error("private state is not a json object: {0}")]
pub struct PrivateStateError(String);

/// Provider-only data kept with a resource between operations, never shown to users.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrivateState(BTreeMap<String, Json>);

impl PrivateState {
    /// Reads the bytes Terraform hands back (empty bytes: empty private state).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PrivateStateError> {
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_slice(bytes)
            .map(Self)
            .map_err(|e| PrivateStateError(e.to_string()))
    }

    /// The bytes to hand to Terraform (empty when there is nothing).
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.0.is_empty() {
            return Vec::new();
        }
        serde_json::to_vec(&self.0).unwrap_or_default()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.get(key)
    }

    /// Sets the value under `key`.
    pub fn set(&mut self, key: impl Into<String>, value: Json) {
        self.0.insert(key.into(), value);
    }

    /// Removes the value under `key`.
    pub fn remove(&mut self, key: &str) -> Option<Json> {
        self.0.remove(key)
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_state_round_trips_and_empty_is_empty_bytes() {
        assert!(PrivateState::default().to_bytes().is_empty());
        let mut p = PrivateState::default();
        p.set("config_hash", Json::from("abc"));
        let back = PrivateState::from_bytes(&p.to_bytes()).expect("decodes");
        assert_eq!(back.get("config_hash"), Some(&Json::from("abc")));
        assert!(PrivateState::from_bytes(b"[1]").is_err());
    }
}
