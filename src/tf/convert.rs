//! Conversions between the framework's types and the generated protocol types.

use crate::pb::tfplugin6 as pb;

use super::diag::{Diagnostic, Diagnostics, Severity};
use super::json::{self, JsonOptions};
use super::msgpack::{self, CodecError};
use super::path::{AttributePath, PathStep};
use super::resource::ClientCapabilities;
use super::schema::{
    Attribute, AttributeKind, Block, BlockNesting, NestedBlock, ObjectNesting, Schema,
};
use super::types::Type;
use super::value::Value;

pub(crate) fn schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block(&s.block, s.version)),
    }
}

fn block(b: &Block, version: i64) -> pb::schema::Block {
    pb::schema::Block {
        version,
        attributes: b.attributes.iter().map(attribute).collect(),
        block_types: b.blocks.iter().map(nested_block).collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecated,
    }
}

fn attribute(a: &Attribute) -> pb::schema::Attribute {
    let (ty, nested_type) = match &a.kind {
        AttributeKind::Type(t) => (t.to_json_bytes(), None),
        AttributeKind::Nested {
            nesting,
            attributes,
        } => {
            let nesting = match nesting {
                ObjectNesting::Single => pb::schema::object::NestingMode::Single,
                ObjectNesting::List => pb::schema::object::NestingMode::List,
                ObjectNesting::Set => pb::schema::object::NestingMode::Set,
                ObjectNesting::Map => pb::schema::object::NestingMode::Map,
            };
            #[allow(deprecated)]
            let object = pb::schema::Object {
                attributes: attributes.iter().map(attribute).collect(),
                nesting: nesting as i32,
                min_items: 0,
                max_items: 0,
            };
            (Vec::new(), Some(object))
        }
    };
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: ty,
        nested_type,
        description: a.description.clone(),
        required: a.mode == super::schema::Mode::Required,
        optional: matches!(
            a.mode,
            super::schema::Mode::Optional | super::schema::Mode::OptionalComputed
        ),
        computed: a.is_computed(),
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: a.deprecated,
        write_only: a.write_only,
    }
}

fn nested_block(b: &NestedBlock) -> pb::schema::NestedBlock {
    let nesting = match b.nesting {
        BlockNesting::Single => pb::schema::nested_block::NestingMode::Single,
        BlockNesting::List => pb::schema::nested_block::NestingMode::List,
        BlockNesting::Set => pb::schema::nested_block::NestingMode::Set,
        BlockNesting::Map => pb::schema::nested_block::NestingMode::Map,
        BlockNesting::Group => pb::schema::nested_block::NestingMode::Group,
    };
    pb::schema::NestedBlock {
        type_name: b.type_name.clone(),
        block: Some(block(&b.block, 0)),
        nesting: nesting as i32,
        min_items: b.min_items,
        max_items: b.max_items,
    }
}

pub(crate) fn path(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .steps()
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attribute(n) => Selector::AttributeName(n.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

pub(crate) fn diagnostics(diags: Diagnostics) -> Vec<pb::Diagnostic> {
    diags.into_iter().map(diagnostic).collect()
}

/// The diagnostics of a configuration of `block`, each path in the form Terraform's CLI
/// can find in the configuration ([`locatable`]).
pub(crate) fn diagnostics_in(diags: Diagnostics, block: &Block) -> Vec<pb::Diagnostic> {
    diags
        .into_iter()
        .map(|mut d| {
            d.path = d.path.map(|p| locatable(&p, block));
            diagnostic(d)
        })
        .collect()
}

/// `path` as Terraform and OpenTofu can point at it in the configuration.
///
/// Their CLIs find a diagnostic's source by walking nested *blocks* and then looking up one
/// attribute, plus at most one index into that attribute's expression (a list element, a
/// map or object key). A path into a nested attribute (`persistence.size`, written
/// `persistence = { size = ... }`) is not found that way, and they point at the resource's
/// first line, or at a top-level attribute of the same name. So past the attribute, the
/// next step becomes an index (`persistence["size"]`: the line of `size = ...`) and deeper
/// steps are left out; the diagnostic's text names the full path.
pub(crate) fn locatable(path: &AttributePath, block: &Block) -> AttributePath {
    let mut out = Vec::new();
    let mut steps = path.steps().iter().peekable();
    let mut current = block;
    while let Some(step) = steps.next() {
        let PathStep::Attribute(name) = step else {
            out.push(step.clone());
            continue;
        };
        out.push(step.clone());
        if let Some(nested) = current.blocks.iter().find(|b| &b.type_name == name) {
            if let Some(index @ (PathStep::Index(_) | PathStep::Key(_))) = steps.peek() {
                out.push((*index).clone());
                steps.next();
            }
            current = &nested.block;
            continue;
        }
        // An attribute: one index into its expression at most.
        match steps.next() {
            Some(PathStep::Attribute(inner)) => out.push(PathStep::Key(inner.clone())),
            Some(index) => out.push(index.clone()),
            None => {}
        }
        break;
    }
    AttributePath::from_steps(out)
}

fn diagnostic(d: Diagnostic) -> pb::Diagnostic {
    let severity = match d.severity {
        Severity::Error => pb::diagnostic::Severity::Error,
        Severity::Warning => pb::diagnostic::Severity::Warning,
    };
    pb::Diagnostic {
        severity: severity as i32,
        summary: d.summary,
        detail: d.detail,
        attribute: d.path.filter(|p| !p.is_root()).map(|p| path(&p)),
    }
}

pub(crate) fn capabilities(c: Option<&pb::ClientCapabilities>) -> ClientCapabilities {
    c.map(|c| ClientCapabilities {
        deferral_allowed: c.deferral_allowed,
        write_only_attributes_allowed: c.write_only_attributes_allowed,
    })
    .unwrap_or_default()
}

/// Reads a DynamicValue (msgpack preferred, JSON otherwise); an absent one is null.
pub(crate) fn decode(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, CodecError> {
    match dv {
        Some(dv) if !dv.msgpack.is_empty() => msgpack::decode(&dv.msgpack, ty),
        Some(dv) if !dv.json.is_empty() => json::decode(&dv.json, ty, JsonOptions::default()),
        _ => Ok(Value::Null),
    }
}

/// Writes a DynamicValue as msgpack.
pub(crate) fn encode(value: &Value, ty: &Type) -> Result<pb::DynamicValue, CodecError> {
    Ok(pb::DynamicValue {
        msgpack: msgpack::encode(value, ty)?,
        json: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::schema::Attribute;
    use crate::tf::timeouts;

    fn block() -> Block {
        Block::new("r")
            .attribute(Attribute::string("name").required().description("n"))
            .attribute(
                Attribute::single_nested(
                    "auth",
                    vec![Attribute::single_nested(
                        "existing_secret",
                        vec![Attribute::string("name").required().description("n")],
                    )
                    .optional()
                    .description("s")],
                )
                .optional()
                .description("a"),
            )
            .block(timeouts::block(&["create"]))
    }

    fn shown(path: AttributePath) -> String {
        locatable(&path, &block()).to_string()
    }

    #[test]
    fn paths_into_nested_attributes_become_one_index_the_cli_can_find() {
        let auth = AttributePath::new("auth");
        assert_eq!(shown(auth.clone()), "auth");
        assert_eq!(
            shown(auth.clone().attribute("existing_secret")),
            "auth[\"existing_secret\"]"
        );
        assert_eq!(
            shown(auth.attribute("existing_secret").attribute("name")),
            "auth[\"existing_secret\"]",
            "deeper steps are left to the diagnostic's text"
        );
        let toleration_key = AttributePath::new("tolerations").index(1).attribute("key");
        assert_eq!(shown(toleration_key), "tolerations[1]");
        let label = AttributePath::new("labels").key("team");
        assert_eq!(shown(label), "labels[\"team\"]");
    }

    #[test]
    fn paths_through_blocks_stay_as_they_are() {
        let create = AttributePath::new("timeouts").attribute("create");
        assert_eq!(shown(create.clone()), "timeouts.create");
        assert_eq!(locatable(&create, &block()), create);
    }
}
