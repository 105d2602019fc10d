//! Schema builders: attributes (with nested attributes), blocks, descriptions, and the
//! validators and plan modifiers attached to them.

use std::fmt;
use std::sync::Arc;

use super::path::AttributePath;
use super::plan::PlanModifier;
use super::types::Type;
use super::validate::Validator;
use super::value::Value;

/// Who sets an attribute: the configuration, the provider, or either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Must be set in configuration.
    Required,
    /// May be set in configuration; null otherwise.
    Optional,
    /// Set by the provider only.
    Computed,
    /// May be set in configuration; the provider fills it in otherwise.
    OptionalComputed,
}

/// How the objects of a nested attribute are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectNesting {
    /// One object: `attr = { ... }`.
    Single,
    /// A list of objects: `attr = [{ ... }]`.
    List,
    /// A set of objects.
    Set,
    /// A map of objects.
    Map,
}

/// How the blocks of a nested block type are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockNesting {
    /// At most one block; null when absent.
    Single,
    /// Blocks in order.
    List,
    /// Blocks without order.
    Set,
    /// Blocks with a label each.
    Map,
    /// Exactly one block, its attributes defaulting when absent.
    Group,
}

/// What an attribute holds: a plain type or nested attributes.
#[derive(Clone, Debug)]
pub enum AttributeKind {
    /// A value of a cty type.
    Type(Type),
    /// Objects made of further attributes.
    Nested {
        /// Grouping of the objects.
        nesting: ObjectNesting,
        /// The objects' attributes.
        attributes: Vec<Attribute>,
    },
}

/// One attribute of a schema.
#[derive(Clone)]
pub struct Attribute {
    /// Its name in HCL.
    pub name: String,
    /// Its type or nested attributes.
    pub kind: AttributeKind,
    /// Markdown description (it becomes the docs).
    pub description: String,
    /// Required, optional, computed.
    pub mode: Mode,
    /// Hidden in plan output.
    pub sensitive: bool,
    /// Given in configuration, never kept in plan or state (Terraform 1.11+).
    pub write_only: bool,
    /// Deprecated.
    pub deprecated: bool,
    /// Checks of its known configuration value.
    pub validators: Vec<Arc<dyn Validator>>,
    /// Adjustments of its planned value.
    pub plan_modifiers: Vec<Arc<dyn PlanModifier>>,
}

impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attribute")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("mode", &self.mode)
            .field("sensitive", &self.sensitive)
            .field("write_only", &self.write_only)
            .field("validators", &self.validators.len())
            .field("plan_modifiers", &self.plan_modifiers.len())
            .finish()
    }
}

impl Attribute {
    /// An optional attribute of type `ty`.
    pub fn new(name: impl Into<String>, ty: Type) -> Self {
        Self {
            name: name.into(),
            kind: AttributeKind::Type(ty),
            description: String::new(),
            mode: Mode::Optional,
            sensitive: false,
            write_only: false,
            deprecated: false,
            validators: Vec::new(),
            plan_modifiers: Vec::new(),
        }
    }

    /// A string attribute.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, Type::String)
    }

    /// A bool attribute.
    pub fn bool(name: impl Into<String>) -> Self {
        Self::new(name, Type::Bool)
    }

    /// A number attribute.
    pub fn number(name: impl Into<String>) -> Self {
        Self::new(name, Type::Number)
    }

    /// A list attribute.
    pub fn list(name: impl Into<String>, elem: Type) -> Self {
        Self::new(name, Type::list(elem))
    }

    /// A set attribute.
    pub fn set(name: impl Into<String>, elem: Type) -> Self {
        Self::new(name, Type::set(elem))
    }

    /// A map attribute.
    pub fn map(name: impl Into<String>, elem: Type) -> Self {
        Self::new(name, Type::map(elem))
    }

    /// A nested attribute of objects made of `attributes`.
    pub fn nested(
        name: impl Into<String>,
        nesting: ObjectNesting,
        attributes: Vec<Attribute>,
    ) -> Self {
        Self {
            kind: AttributeKind::Nested {
                nesting,
                attributes,
            },
            ..Self::new(name, Type::Dynamic)
        }
    }

    /// A nested attribute holding one object: `name = { ... }`.
    pub fn single_nested(name: impl Into<String>, attributes: Vec<Attribute>) -> Self {
        Self::nested(name, ObjectNesting::Single, attributes)
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Makes it required.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.mode = Mode::Required;
        self
    }

    /// Makes it optional (the default).
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.mode = Mode::Optional;
        self
    }

    /// Makes it computed by the provider only.
    #[must_use]
    pub fn computed(mut self) -> Self {
        self.mode = Mode::Computed;
        self
    }

    /// Makes it optional, computed when not set.
    #[must_use]
    pub fn optional_computed(mut self) -> Self {
        self.mode = Mode::OptionalComputed;
        self
    }

    /// Hides it in plan output.
    #[must_use]
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Makes it write-only: read from configuration, never stored.
    #[must_use]
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    /// Marks it deprecated.
    #[must_use]
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// Adds a validator.
    #[must_use]
    pub fn validator(mut self, validator: impl Validator + 'static) -> Self {
        self.validators.push(Arc::new(validator));
        self
    }

    /// Adds a plan modifier.
    #[must_use]
    pub fn plan_modifier(mut self, modifier: impl PlanModifier + 'static) -> Self {
        self.plan_modifiers.push(Arc::new(modifier));
        self
    }

    /// Whether configuration may set it.
    pub fn is_configurable(&self) -> bool {
        self.mode != Mode::Computed
    }

    /// Whether the provider may set it.
    pub fn is_computed(&self) -> bool {
        matches!(self.mode, Mode::Computed | Mode::OptionalComputed)
    }

    /// The cty type of its value.
    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttributeKind::Type(ty) => ty.clone(),
            AttributeKind::Nested {
                nesting,
                attributes,
            } => {
                let object =
                    Type::object(attributes.iter().map(|a| (a.name.clone(), a.value_type())));
                match nesting {
                    ObjectNesting::Single => object,
                    ObjectNesting::List => Type::list(object),
                    ObjectNesting::Set => Type::set(object),
                    ObjectNesting::Map => Type::map(object),
                }
            }
        }
    }
}

/// A block type nested in another block (`timeouts { ... }`).
#[derive(Clone, Debug)]
pub struct NestedBlock {
    /// Its name in HCL.
    pub type_name: String,
    /// Its content.
    pub block: Block,
    /// How several blocks are grouped.
    pub nesting: BlockNesting,
    /// Fewest blocks allowed (0: none).
    pub min_items: i64,
    /// Most blocks allowed (0: no limit).
    pub max_items: i64,
}

impl NestedBlock {
    /// A block type.
    pub fn new(type_name: impl Into<String>, nesting: BlockNesting, block: Block) -> Self {
        Self {
            type_name: type_name.into(),
            block,
            nesting,
            min_items: 0,
            max_items: 0,
        }
    }

    /// Sets the fewest blocks allowed.
    #[must_use]
    pub fn min_items(mut self, n: i64) -> Self {
        self.min_items = n;
        self
    }

    /// Sets the most blocks allowed.
    #[must_use]
    pub fn max_items(mut self, n: i64) -> Self {
        self.max_items = n;
        self
    }

    /// The cty type of its value.
    pub fn value_type(&self) -> Type {
        let object = self.block.value_type();
        match self.nesting {
            BlockNesting::Single | BlockNesting::Group => object,
            BlockNesting::List => Type::list(object),
            BlockNesting::Set => Type::set(object),
            BlockNesting::Map => Type::map(object),
        }
    }
}

/// A block: attributes and nested block types.
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// Attributes.
    pub attributes: Vec<Attribute>,
    /// Nested block types.
    pub blocks: Vec<NestedBlock>,
    /// Markdown description.
    pub description: String,
    /// Deprecated.
    pub deprecated: bool,
}

impl Block {
    /// An empty block with a description.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            ..Self::default()
        }
    }

    /// Adds an attribute.
    #[must_use]
    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Adds a nested block type.
    #[must_use]
    pub fn block(mut self, block: NestedBlock) -> Self {
        self.blocks.push(block);
        self
    }

    /// The object type of its value.
    pub fn value_type(&self) -> Type {
        Type::object(
            self.attributes
                .iter()
                .map(|a| (a.name.clone(), a.value_type()))
                .chain(
                    self.blocks
                        .iter()
                        .map(|b| (b.type_name.clone(), b.value_type())),
                ),
        )
    }

    /// Every attribute inside `value` (a value of this block's type), with its path and
    /// value, parents before children. Set elements have no stable address: attributes
    /// inside them are reported at the set's own path with `in_set`, or left out when
    /// `include_sets` is false.
    pub fn attribute_values<'s, 'v>(
        &'s self,
        value: &'v Value,
        include_sets: bool,
    ) -> Vec<AttributeAt<'s, 'v>> {
        let mut walker = Walker {
            include_sets,
            out: Vec::new(),
        };
        walker.walk(
            &self.attributes,
            &self.blocks,
            value,
            &AttributePath::root(),
            None,
        );
        walker.out
    }
}

/// One attribute found inside a value by [`Block::attribute_values`].
#[derive(Debug)]
pub struct AttributeAt<'s, 'v> {
    /// Its schema.
    pub attribute: &'s Attribute,
    /// Where it is (the enclosing set's path when inside a set).
    pub path: AttributePath,
    /// Its value.
    pub value: &'v Value,
    /// Whether it sits inside a set element.
    pub in_set: bool,
}

struct Walker<'s, 'v> {
    include_sets: bool,
    out: Vec<AttributeAt<'s, 'v>>,
}

impl<'s, 'v> Walker<'s, 'v> {
    fn walk(
        &mut self,
        attributes: &'s [Attribute],
        blocks: &'s [NestedBlock],
        value: &'v Value,
        path: &AttributePath,
        set_path: Option<&AttributePath>,
    ) {
        for attr in attributes {
            let attr_path = path.clone().attribute(&attr.name);
            let v = value.attribute(&attr.name);
            self.out.push(AttributeAt {
                attribute: attr,
                path: set_path.cloned().unwrap_or_else(|| attr_path.clone()),
                value: v,
                in_set: set_path.is_some(),
            });
            if let AttributeKind::Nested {
                nesting,
                attributes: inner,
            } = &attr.kind
            {
                let grouping = match nesting {
                    ObjectNesting::Single => BlockNesting::Single,
                    ObjectNesting::List => BlockNesting::List,
                    ObjectNesting::Set => BlockNesting::Set,
                    ObjectNesting::Map => BlockNesting::Map,
                };
                self.grouped(inner, &[], grouping, v, &attr_path, set_path);
            }
        }
        for nested in blocks {
            let block_path = path.clone().attribute(&nested.type_name);
            let v = value.attribute(&nested.type_name);
            let b = &nested.block;
            self.grouped(
                &b.attributes,
                &b.blocks,
                nested.nesting,
                v,
                &block_path,
                set_path,
            );
        }
    }

    fn grouped(
        &mut self,
        attributes: &'s [Attribute],
        blocks: &'s [NestedBlock],
        nesting: BlockNesting,
        value: &'v Value,
        path: &AttributePath,
        set_path: Option<&AttributePath>,
    ) {
        let is_set = nesting == BlockNesting::Set;
        if is_set && !self.include_sets {
            return;
        }
        match (nesting, value.unwrap_dynamic()) {
            (BlockNesting::Single | BlockNesting::Group, Value::Object(_)) => {
                self.walk(attributes, blocks, value, path, set_path);
            }
            (BlockNesting::List | BlockNesting::Set, Value::List(elems) | Value::Set(elems)) => {
                for (i, elem) in elems.iter().enumerate() {
                    let sp = if is_set {
                        Some(set_path.unwrap_or(path))
                    } else {
                        set_path
                    };
                    self.walk(attributes, blocks, elem, &path.clone().index(i as i64), sp);
                }
            }
            (BlockNesting::Map, Value::Map(entries)) => {
                for (k, elem) in entries {
                    self.walk(attributes, blocks, elem, &path.clone().key(k), set_path);
                }
            }
            _ => {}
        }
    }
}

/// The schema of a provider, resource or data source.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// Version of the state layout, for state upgrades.
    pub version: i64,
    /// The top-level block.
    pub block: Block,
}

impl Schema {
    /// A schema of version 0.
    pub fn new(block: Block) -> Self {
        Self { version: 0, block }
    }

    /// Sets the version.
    #[must_use]
    pub fn version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    /// The object type of its values.
    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }

    /// An object of this schema's type with every attribute null.
    pub fn null_object(&self) -> Value {
        Value::null_object_of(&self.value_type())
    }

    /// Mistakes in the schema itself, in words (empty when it is sound): bad or duplicate
    /// names, names Terraform reserves, missing descriptions, write-only attributes that
    /// are computed or outside a managed resource, impossible block counts.
    pub fn problems(&self, kind: SchemaKind) -> Vec<String> {
        let mut out = Vec::new();
        let reserved: &[&str] = match kind {
            SchemaKind::Provider => &["alias", "version"],
            SchemaKind::Resource => &[
                "count",
                "for_each",
                "depends_on",
                "lifecycle",
                "provider",
                "provisioner",
                "connection",
            ],
            SchemaKind::EphemeralResource => {
                &["count", "for_each", "depends_on", "lifecycle", "provider"]
            }
        };
        let root = self
            .block
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .chain(self.block.blocks.iter().map(|b| b.type_name.as_str()));
        for name in root.filter(|n| reserved.contains(n)) {
            out.push(format!("{name}: reserved by Terraform"));
        }
        check_block(&self.block, "", kind, &mut out);
        out
    }
}

/// What a schema describes, for [`Schema::problems`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaKind {
    /// The `provider` block.
    Provider,
    /// A managed resource.
    Resource,
    /// An ephemeral resource.
    EphemeralResource,
}

fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_attributes(
    attributes: &[Attribute],
    prefix: &str,
    kind: SchemaKind,
    out: &mut Vec<String>,
) {
    for a in attributes {
        let at = format!("{prefix}{}", a.name);
        if a.description.trim().is_empty() {
            out.push(format!("{at}: no description"));
        }
        if a.write_only && a.is_computed() {
            out.push(format!("{at}: write-only attributes cannot be computed"));
        }
        if a.write_only && kind != SchemaKind::Resource {
            out.push(format!(
                "{at}: write-only attributes exist only in managed resources"
            ));
        }
        if let AttributeKind::Nested { attributes, .. } = &a.kind {
            check_names(attributes.iter().map(|n| n.name.as_str()), &at, out);
            check_attributes(attributes, &format!("{at}."), kind, out);
        }
    }
}

fn check_names<'a>(names: impl Iterator<Item = &'a str>, at: &str, out: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if !valid_name(name) {
            out.push(format!(
                "{at}: {name:?} is not a valid name (lowercase letters, digits, _)"
            ));
        }
        if !seen.insert(name) {
            out.push(format!("{at}: {name:?} is defined twice"));
        }
    }
}

fn check_block(block: &Block, prefix: &str, kind: SchemaKind, out: &mut Vec<String>) {
    let at = if prefix.is_empty() {
        "schema"
    } else {
        prefix.trim_end_matches('.')
    };
    let names = block
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .chain(block.blocks.iter().map(|b| b.type_name.as_str()));
    check_names(names, at, out);
    check_attributes(&block.attributes, prefix, kind, out);
    for nested in &block.blocks {
        let at = format!("{prefix}{}", nested.type_name);
        if nested.block.description.trim().is_empty() {
            out.push(format!("{at}: no description"));
        }
        if nested.max_items > 0 && nested.min_items > nested.max_items {
            out.push(format!("{at}: min_items above max_items"));
        }
        check_block(&nested.block, &format!("{at}."), kind, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sound_schema_has_no_problems() {
        let schema = Schema::new(
            Block::new("A thing.")
                .attribute(
                    Attribute::string("name")
                        .required()
                        .description("Its name."),
                )
                .attribute(
                    Attribute::string("password_wo")
                        .optional()
                        .write_only()
                        .description("Never stored."),
                )
                .block(crate::tf::timeouts::block(&["create"])),
        );
        assert_eq!(schema.problems(SchemaKind::Resource), Vec::<String>::new());
    }

    #[test]
    fn schema_mistakes_are_named() {
        let schema = Schema::new(
            Block::new("A thing.")
                .attribute(
                    Attribute::string("count")
                        .required()
                        .description("Reserved."),
                )
                .attribute(
                    Attribute::string("Name")
                        .required()
                        .description("Uppercase."),
                )
                .attribute(Attribute::string("dup").optional().description("One."))
                .attribute(Attribute::string("dup").optional().description("Two."))
                .attribute(
                    Attribute::string("secret")
                        .computed()
                        .write_only()
                        .description("Computed."),
                )
                .attribute(
                    Attribute::single_nested("inner", vec![Attribute::bool("flag").optional()])
                        .optional()
                        .description("Nested."),
                )
                .block(
                    NestedBlock::new("rule", BlockNesting::List, Block::new("Rules."))
                        .min_items(3)
                        .max_items(1),
                ),
        );
        let problems = schema.problems(SchemaKind::Resource);
        for expected in [
            "count: reserved by Terraform",
            "schema: \"Name\" is not a valid name (lowercase letters, digits, _)",
            "schema: \"dup\" is defined twice",
            "secret: write-only attributes cannot be computed",
            "inner.flag: no description",
            "rule: min_items above max_items",
        ] {
            assert!(
                problems.iter().any(|p| p == expected),
                "{expected:?} not in {problems:?}"
            );
        }
        let provider = Schema::new(
            Block::new("P.").attribute(
                Attribute::string("p_wo")
                    .optional()
                    .write_only()
                    .description("W."),
            ),
        );
        assert_eq!(
            provider.problems(SchemaKind::Provider),
            ["p_wo: write-only attributes exist only in managed resources"]
        );
    }
}
