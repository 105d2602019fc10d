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
