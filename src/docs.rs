//! Reference pages in the Terraform Registry layout, rendered from the schema descriptions.
//!
//! `terraform-provider-redis docs <out-dir>` writes `index.md` (the provider block) and
//! `resources/<short name>.md` per resource type and `ephemeral-resources/<short name>.md`
//! per ephemeral resource type, embedding the HCL under `examples/` (`provider/provider.tf`,
//! `resources/<type>/resource.tf` and `import.sh`,
//! `ephemeral-resources/<type>/ephemeral-resource.tf`) when present.
//! The output depends on the schemas and examples only: same input, same bytes.
//! Hand-written guides live beside them in `guides/<name>.md`; [`differences`] accepts
//! them (with their front matter) and `write` leaves them alone.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::tf::schema::{Attribute, AttributeKind, Block, BlockNesting, Mode, NestedBlock};
use crate::tf::{ObjectNesting, Provider, Schema, Type};

/// How to call the `docs` subcommand.
pub const USAGE: &str = "usage: terraform-provider-redis docs <out-dir> [--examples <dir>]\n\
     Writes <out-dir>/index.md and <out-dir>/resources/<name>.md from the provider's schema,\n\
     embedding the HCL under <dir> (default: ./examples).";

/// Where write-only arguments are explained.
const WRITE_ONLY_LINK: &str =
    "https://developer.hashicorp.com/terraform/language/resources/ephemeral#write-only-arguments";

/// The hand-written guides under `guides/`, as `(file stem, title)`: the provider page
/// links each, and [`differences`] insists that exactly these exist.
pub const GUIDES: &[(&str, &str)] = &[
    ("rbac", "Least-privilege RBAC and object ownership"),
    ("ci", "terraform plan in CI"),
];

/// A failure to render or write the docs.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// The command line is not `docs <out-dir> [--examples <dir>]`.
    #[error("{0}\n{USAGE}")]
    Usage(String),
    /// The examples directory does not exist.
    #[error(
        "no examples directory at {0} (run from the repository root or pass --examples <dir>)"
    )]
    NoExamples(PathBuf),
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory could not be written or removed.
    #[error("cannot write {path}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// One rendered page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Its path under the docs directory, `/`-separated (`index.md`, `resources/deployment.md`).
    pub path: String,
    /// Its Markdown.
    pub text: String,
}

/// The `docs` subcommand's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Where the pages go.
    pub out_dir: PathBuf,
    /// Where the example HCL is.
    pub examples: PathBuf,
}

impl Command {
    /// Reads the arguments after `docs`.
    pub fn parse(args: &[String]) -> Result<Self, DocsError> {
        let mut out_dir = None;
        let mut examples = None;
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--examples" => match rest.next() {
                    Some(dir) => examples = Some(PathBuf::from(dir)),
                    None => return Err(DocsError::Usage("--examples needs a directory".into())),
                },
                "-h" | "--help" => return Err(DocsError::Usage("help".into())),
                flag if flag.starts_with('-') => {
                    return Err(DocsError::Usage(format!("unknown option {flag:?}")))
                }
                dir if out_dir.is_none() => out_dir = Some(PathBuf::from(dir)),
                extra => return Err(DocsError::Usage(format!("unexpected argument {extra:?}"))),
            }
        }
        Ok(Self {
            out_dir: out_dir.ok_or_else(|| DocsError::Usage("no output directory".into()))?,
            examples: examples.unwrap_or_else(|| PathBuf::from("examples")),
        })
    }

    /// Renders the pages of `provider` and writes them; returns the files written.
    pub fn run(&self, provider: &dyn Provider) -> Result<Vec<PathBuf>, DocsError> {
        let pages = render(provider, &self.examples)?;
        write(&pages, &self.out_dir)
    }
}

/// Renders every page of `provider`, with the example HCL found under `examples`.
pub fn render(provider: &dyn Provider, examples: &Path) -> Result<Vec<Page>, DocsError> {
    if !examples.is_dir() {
        return Err(DocsError::NoExamples(examples.to_owned()));
    }
    let provider_name = provider.type_name().to_owned();
    let mut resources: Vec<(String, Schema)> = provider
        .resources()
        .iter()
        .map(|r| (r.type_name().to_owned(), r.schema()))
        .collect();
    resources.sort_by(|a, b| a.0.cmp(&b.0));

    let mut ephemeral: Vec<(String, Schema)> = provider
        .ephemeral_resources()
        .iter()
        .map(|r| (r.type_name().to_owned(), r.schema()))
        .collect();
    ephemeral.sort_by(|a, b| a.0.cmp(&b.0));

    let names: Vec<&str> = resources.iter().map(|(n, _)| n.as_str()).collect();
    let mut provider_text = provider_page(
        &provider_name,
        &provider.schema(),
        read_optional(&examples.join("provider").join("provider.tf"))?.as_deref(),
        &names,
    );
    if !ephemeral.is_empty() {
        let names: Vec<&str> = ephemeral.iter().map(|(n, _)| n.as_str()).collect();
        provider_text = with_ephemeral_list(&provider_name, provider_text, &names);
    }
    let mut pages = vec![Page {
        path: "index.md".into(),
        text: provider_text,
    }];
    for (type_name, schema) in &resources {
        let dir = examples.join("resources").join(type_name);
        pages.push(Page {
            path: format!("resources/{}.md", short_name(&provider_name, type_name)),
            text: resource_page(
                &provider_name,
                type_name,
                schema,
                read_optional(&dir.join("resource.tf"))?.as_deref(),
                read_optional(&dir.join("import.sh"))?.as_deref(),
            ),
        });
    }
    for (type_name, schema) in &ephemeral {
        let dir = examples.join(EPHEMERAL_DIR).join(type_name);
        pages.push(Page {
            path: format!(
                "{EPHEMERAL_DIR}/{}.md",
                short_name(&provider_name, type_name)
            ),
            text: ephemeral_resource_page(
                &provider_name,
                type_name,
                schema,
                read_optional(&dir.join("ephemeral-resource.tf"))?.as_deref(),
            ),
        });
    }
    Ok(pages)
}

/// Where ephemeral resource pages (and their examples) go, as in the Registry layout.
pub const EPHEMERAL_DIR: &str = "ephemeral-resources";

/// Whether `rel` is a rendered reference page of a (managed or ephemeral) resource type.
fn is_type_page(rel: &str) -> bool {
    (rel.starts_with("resources/") || rel.starts_with("ephemeral-resources/"))
        && rel.ends_with(".md")
}

/// Writes `pages` under `out_dir` and removes pages under `out_dir/resources` that are no
/// longer rendered (a resource type that went away); returns the files written.
pub fn write(pages: &[Page], out_dir: &Path) -> Result<Vec<PathBuf>, DocsError> {
    let resources = out_dir.join("resources");
    std::fs::create_dir_all(&resources).map_err(|source| DocsError::Write {
        path: resources.clone(),
        source,
    })?;
    let mut written = Vec::new();
    for page in pages {
        let path = out_dir.join(&page.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| DocsError::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, &page.text).map_err(|source| DocsError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    let wanted: BTreeSet<&str> = pages.iter().map(|p| p.path.as_str()).collect();
    for rel in files_under(out_dir)? {
        if is_type_page(&rel) && !wanted.contains(rel.as_str()) {
            let path = out_dir.join(&rel);
            std::fs::remove_file(&path).map_err(|source| DocsError::Write { path, source })?;
        }
    }
    Ok(written)
}

/// How the files under `dir` differ from `pages`, one line each (empty when they match):
/// pages missing or different, and files that are not rendered pages.
pub fn differences(pages: &[Page], dir: &Path) -> Result<Vec<String>, DocsError> {
    let mut out = Vec::new();
    let on_disk: BTreeSet<String> = if dir.is_dir() {
        files_under(dir)?.into_iter().collect()
    } else {
        BTreeSet::new()
    };
    for page in pages {
        if !on_disk.contains(&page.path) {
            out.push(format!("{}: missing", page.path));
            continue;
        }
        let path = dir.join(&page.path);
        let found = std::fs::read_to_string(&path).map_err(|source| DocsError::Read {
            path: path.clone(),
            source,
        })?;
        if found != page.text {
            out.push(format!(
                "{}: {}",
                page.path,
                first_difference(&page.text, &found)
            ));
        }
    }
    let rendered: BTreeSet<&str> = pages.iter().map(|p| p.path.as_str()).collect();
    for extra in on_disk.iter().filter(|f| !rendered.contains(f.as_str())) {
        if is_guide(extra)
            && !GUIDES
                .iter()
                .any(|(stem, _)| *extra == format!("guides/{stem}.md"))
        {
            out.push(format!("{extra}: a guide not listed in docs::GUIDES"));
        } else if is_guide(extra) {
            let path = dir.join(extra);
            let text = std::fs::read_to_string(&path)
                .map_err(|source| DocsError::Read { path, source })?;
            if !text.starts_with("---\npage_title: ") {
                out.push(format!(
                    "{extra}: a guide starts with front matter: ---, page_title: ..."
                ));
            }
        } else {
            out.push(format!("{extra}: not a rendered page"));
        }
    }
    Ok(out)
}

/// Whether `path` (relative to the docs directory) is a hand-written guide, which the
/// Registry layout keeps beside the rendered pages: `guides/<name>.md`.
pub fn is_guide(path: &str) -> bool {
    path.strip_prefix("guides/")
        .and_then(|name| name.strip_suffix(".md"))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

fn first_difference(wanted: &str, found: &str) -> String {
    let mut wanted_lines = wanted.lines();
    let mut found_lines = found.lines();
    let mut line = 0;
    loop {
        line += 1;
        match (wanted_lines.next(), found_lines.next()) {
            (Some(w), Some(f)) if w == f => {}
            (None, None) => return "differs in line endings".into(),
            (w, f) => {
                return format!(
                    "differs at line {line}: rendered {:?}, found {:?}",
                    w.unwrap_or("<end>"),
                    f.unwrap_or("<end>")
                )
            }
        }
    }
}

/// Files under `dir`, relative and `/`-separated, sorted.
fn files_under(dir: &Path) -> Result<Vec<String>, DocsError> {
    let mut out = Vec::new();
    let mut todo = vec![(dir.to_owned(), String::new())];
    while let Some((path, prefix)) = todo.pop() {
        let entries = std::fs::read_dir(&path).map_err(|source| DocsError::Read {
            path: path.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| DocsError::Read {
                path: path.clone(),
                source,
            })?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                todo.push((entry.path(), format!("{name}/")));
            } else {
                out.push(name);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_optional(path: &Path) -> Result<Option<String>, DocsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DocsError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// `redis_deployment` -> `deployment`.
pub fn short_name<'a>(provider: &str, type_name: &'a str) -> &'a str {
    type_name
        .strip_prefix(provider)
        .and_then(|rest| rest.strip_prefix('_'))
        .unwrap_or(type_name)
}

// ---------------------------------------------------------------------------
// pages

/// The page of the provider block (`index.md`).
pub fn provider_page(
    provider: &str,
    schema: &Schema,
    example: Option<&str>,
    resources: &[&str],
) -> String {
    let mut out = front_matter(&format!("{provider} Provider"), &schema.block.description);
    let _ = writeln!(out, "# {provider} Provider\n");
    push_paragraph(&mut out, &schema.block.description);
    if let Some(hcl) = example {
        out.push_str("## Example Usage\n\n");
        push_code(&mut out, "terraform", hcl);
    }
    if !resources.is_empty() {
        out.push_str(&type_list("Resources", "resources", provider, resources));
    }
    if !GUIDES.is_empty() {
        out.push_str("## Guides\n\n");
        for (stem, title) in GUIDES {
            let _ = writeln!(out, "- [{title}](guides/{stem}.md)");
        }
        out.push('\n');
    }
    push_schema(&mut out, &schema.block);
    finish(out)
}

/// The page of one resource type (`resources/<short name>.md`).
pub fn resource_page(
    provider: &str,
    type_name: &str,
    schema: &Schema,
    example: Option<&str>,
    import: Option<&str>,
) -> String {
    type_page("Resource", provider, type_name, schema, example, import)
}

/// The page of one type of `kind` (`Resource`, `Ephemeral Resource`).
fn type_page(
    kind: &str,
    provider: &str,
    type_name: &str,
    schema: &Schema,
    example: Option<&str>,
    import: Option<&str>,
) -> String {
    let mut out = front_matter(
        &format!("{type_name} {kind} - {provider}"),
        &schema.block.description,
    );
    let _ = writeln!(out, "# {type_name} ({kind})\n");
    push_paragraph(&mut out, &schema.block.description);
    if let Some(hcl) = example {
        out.push_str("## Example Usage\n\n");
        push_code(&mut out, "terraform", hcl);
    }
    push_schema(&mut out, &schema.block);
    if let Some(shell) = import {
        out.push_str("## Import\n\nImport is supported using the following syntax:\n\n");
        push_code(&mut out, "shell", shell);
    }
    finish(out)
}

/// A `## <heading>` section linking the page of each type in `names` under `dir`.
fn type_list(heading: &str, dir: &str, provider: &str, names: &[&str]) -> String {
    let mut list = format!("## {heading}\n\n");
    for name in names {
        let _ = writeln!(
            list,
            "- [`{name}`]({dir}/{}.md)",
            short_name(provider, name)
        );
    }
    list.push('\n');
    list
}

/// The provider page with a list of the ephemeral resource types after its resources.
fn with_ephemeral_list(provider: &str, page: String, names: &[&str]) -> String {
    let list = type_list("Ephemeral Resources", EPHEMERAL_DIR, provider, names);
    let at = ["## Guides\n", "## Schema\n"]
        .iter()
        .find_map(|h| page.find(h))
        .unwrap_or(page.len());
    let mut out = page;
    out.insert_str(at, &list);
    out
}

/// The page of one ephemeral resource type (`ephemeral-resources/<short name>.md`).
pub fn ephemeral_resource_page(
    provider: &str,
    type_name: &str,
    schema: &Schema,
    example: Option<&str>,
) -> String {
    type_page(
        "Ephemeral Resource",
        provider,
        type_name,
        schema,
        example,
        None,
    )
}

fn front_matter(title: &str, description: &str) -> String {
    let mut out = format!("---\npage_title: \"{title}\"\nsubcategory: \"\"\ndescription: |-\n");
    for line in description.trim().lines() {
        let _ = writeln!(out, "  {}", line.trim_end());
    }
    out.push_str("---\n\n");
    out
}

fn push_paragraph(out: &mut String, text: &str) {
    let text = text.trim();
    if !text.is_empty() {
        let _ = writeln!(out, "{text}\n");
    }
}

fn push_code(out: &mut String, language: &str, code: &str) {
    let _ = writeln!(out, "```{language}\n{}\n```\n", code.trim_end());
}

/// One trailing newline, no trailing spaces.
fn finish(out: String) -> String {
    let mut text: String = out
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    text.truncate(text.trim_end().len());
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------
// schema sections

/// What a nested section documents.
enum Nested<'s> {
    /// Nested attributes.
    Attributes(&'s [Attribute]),
    /// A nested block.
    Block(&'s Block),
    /// The attributes of an object type; `computed` when set by the provider.
    Object(&'s BTreeMap<String, Type>, &'s BTreeSet<String>, bool),
}

/// A nested section waiting to be written: its anchor, dotted path and content.
struct Section<'s> {
    anchor: String,
    path: String,
    content: Nested<'s>,
}

/// The group an entry is listed under.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Required,
    Optional,
    ReadOnly,
}

impl Group {
    fn of(mode: Mode) -> Self {
        match mode {
            Mode::Required => Group::Required,
            Mode::Optional | Mode::OptionalComputed => Group::Optional,
            Mode::Computed => Group::ReadOnly,
        }
    }

    fn heading(self) -> &'static str {
        match self {
            Group::Required => "Required",
            Group::Optional => "Optional",
            Group::ReadOnly => "Read-Only",
        }
    }
}

/// One line of a group: name, group, rendered text, and the nested section it points to.
struct Entry<'s> {
    name: String,
    group: Group,
    line: String,
    section: Option<Section<'s>>,
}

/// Writes `## Schema`: the top-level groups, then every nested section, parents first.
fn push_schema(out: &mut String, block: &Block) {
    out.push_str("## Schema\n\n");
    let mut queue = VecDeque::new();
    push_groups(out, block_entries(block, "", ""), true, &mut queue);
    while let Some(section) = queue.pop_front() {
        let _ = writeln!(
            out,
            "<a id=\"{}\"></a>\n### Nested Schema for `{}`\n",
            section.anchor, section.path
        );
        let entries = match section.content {
            Nested::Attributes(attributes) => {
                attribute_entries(attributes, &section.anchor, &section.path)
            }
            Nested::Block(block) => block_entries(block, &section.anchor, &section.path),
            Nested::Object(fields, optional, computed) => {
                object_entries(fields, optional, computed, &section.anchor, &section.path)
            }
        };
        push_groups(out, entries, false, &mut queue);
    }
}

/// Writes the entries by group, in name order; their nested sections join the queue in
/// that order.
fn push_groups<'s>(
    out: &mut String,
    mut entries: Vec<Entry<'s>>,
    top: bool,
    queue: &mut VecDeque<Section<'s>>,
) {
    entries.sort_by(|a, b| (a.group, &a.name).cmp(&(b.group, &b.name)));
    for group in [Group::Required, Group::Optional, Group::ReadOnly] {
        let lines: Vec<&Entry> = entries.iter().filter(|e| e.group == group).collect();
        if lines.is_empty() {
            continue;
        }
        if top {
            let _ = writeln!(out, "### {}\n", group.heading());
        } else {
            let _ = writeln!(out, "{}:\n", group.heading());
        }
        for entry in lines {
            let _ = writeln!(out, "{}", entry.line);
        }
        out.push('\n');
    }
    queue.extend(entries.into_iter().filter_map(|e| e.section));
}

fn child(anchor: &str, kind: &str, path: &str, name: &str) -> (String, String) {
    if path.is_empty() {
        (format!("{kind}--{name}"), name.to_owned())
    } else {
        (
            format!("{kind}{}--{name}", anchor_rest(anchor)),
            format!("{path}.{name}"),
        )
    }
}

/// `nestedatt--auth--existing_secret` -> `--auth--existing_secret`.
fn anchor_rest(anchor: &str) -> &str {
    anchor.find("--").map_or("", |i| &anchor[i..])
}

fn block_entries<'s>(block: &'s Block, anchor: &str, path: &str) -> Vec<Entry<'s>> {
    let mut entries = attribute_entries(&block.attributes, anchor, path);
    for nested in &block.blocks {
        entries.push(block_entry(nested, anchor, path));
    }
    entries
}

fn block_entry<'s>(nested: &'s NestedBlock, anchor: &str, path: &str) -> Entry<'s> {
    let (child_anchor, child_path) = child(anchor, "nestedblock", path, &nested.type_name);
    let mut kind = match nested.nesting {
        BlockNesting::Single | BlockNesting::Group => "Block".to_owned(),
        BlockNesting::List => "Block List".to_owned(),
        BlockNesting::Set => "Block Set".to_owned(),
        BlockNesting::Map => "Block Map".to_owned(),
    };
    if nested.min_items > 0 {
        let _ = write!(kind, ", Min: {}", nested.min_items);
    }
    if nested.max_items > 0 {
        let _ = write!(kind, ", Max: {}", nested.max_items);
    }
    if nested.block.deprecated {
        kind.push_str(", Deprecated");
    }
    let line = entry_line(
        &nested.type_name,
        &kind,
        &nested.block.description,
        &[],
        Some(&child_anchor),
    );
    Entry {
        name: nested.type_name.clone(),
        group: if nested.min_items > 0 {
            Group::Required
        } else {
            Group::Optional
        },
        line,
        section: Some(Section {
            anchor: child_anchor,
            path: child_path,
            content: Nested::Block(&nested.block),
        }),
    }
}

fn attribute_entries<'s>(attributes: &'s [Attribute], anchor: &str, path: &str) -> Vec<Entry<'s>> {
    attributes
        .iter()
        .map(|a| attribute_entry(a, anchor, path))
        .collect()
}

fn attribute_entry<'s>(attribute: &'s Attribute, anchor: &str, path: &str) -> Entry<'s> {
    let (mut kind, section) = match &attribute.kind {
        AttributeKind::Nested {
            nesting,
            attributes,
        } => {
            let (anchor, path) = child(anchor, "nestedatt", path, &attribute.name);
            let kind = match nesting {
                ObjectNesting::Single => "Attributes",
                ObjectNesting::List => "Attributes List",
                ObjectNesting::Set => "Attributes Set",
                ObjectNesting::Map => "Attributes Map",
            };
            let content = Nested::Attributes(attributes);
            (
                kind.to_owned(),
                Some(Section {
                    anchor,
                    path,
                    content,
                }),
            )
        }
        AttributeKind::Type(ty) => {
            let section = object_of(ty).map(|(fields, optional)| {
                let (anchor, path) = child(anchor, "nestedobjatt", path, &attribute.name);
                let computed = attribute.mode == Mode::Computed;
                let content = Nested::Object(fields, optional, computed);
                Section {
                    anchor,
                    path,
                    content,
                }
            });
            (type_name(ty), section)
        }
    };
    if attribute.sensitive {
        kind.push_str(", Sensitive");
    }
    if attribute.write_only {
        let _ = write!(kind, ", [Write-only]({WRITE_ONLY_LINK})");
    }
    if attribute.deprecated {
        kind.push_str(", Deprecated");
    }
    let checks: Vec<String> = attribute
        .validators
        .iter()
        .map(|v| v.description())
        .collect();
    Entry {
        name: attribute.name.clone(),
        group: Group::of(attribute.mode),
        line: entry_line(
            &attribute.name,
            &kind,
            &attribute.description,
            &checks,
            section.as_ref().map(|s| s.anchor.as_str()),
        ),
        section,
    }
}

fn object_entries<'s>(
    fields: &'s BTreeMap<String, Type>,
    optional: &'s BTreeSet<String>,
    computed: bool,
    anchor: &str,
    path: &str,
) -> Vec<Entry<'s>> {
    fields
        .iter()
        .map(|(name, ty)| {
            let section = object_of(ty).map(|(inner, inner_optional)| {
                let (anchor, path) = child(anchor, "nestedobjatt", path, name);
                let content = Nested::Object(inner, inner_optional, computed);
                Section {
                    anchor,
                    path,
                    content,
                }
            });
            let group = if computed {
                Group::ReadOnly
            } else if optional.contains(name) {
                Group::Optional
            } else {
                Group::Required
            };
            Entry {
                name: name.clone(),
                group,
                line: entry_line(
                    name,
                    &type_name(ty),
                    "",
                    &[],
                    section.as_ref().map(|s| s.anchor.as_str()),
                ),
                section,
            }
        })
        .collect()
}

/// The object type inside `ty` (itself, or the elements of collections of objects).
fn object_of(ty: &Type) -> Option<(&BTreeMap<String, Type>, &BTreeSet<String>)> {
    match ty {
        Type::Object {
            attributes,
            optional,
        } => Some((attributes, optional)),
        Type::List(e) | Type::Set(e) | Type::Map(e) => object_of(e),
        _ => None,
    }
}

/// `list(string)` -> `List of String`, as the Registry writes types.
pub fn type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "Boolean".into(),
        Type::Number => "Number".into(),
        Type::String => "String".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object { .. } => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

/// `- `name` (Kind) Description. Value: checks. (see below for nested schema)`
fn entry_line(
    name: &str,
    kind: &str,
    description: &str,
    checks: &[String],
    see: Option<&str>,
) -> String {
    let mut line = format!("- `{name}` ({kind})");
    let description = description.trim();
    if !description.is_empty() {
        let _ = write!(line, " {}", description.replace('\n', "\n  "));
    }
    if !checks.is_empty() {
        let _ = write!(line, " Value: {}.", checks.join("; "));
    }
    if let Some(anchor) = see {
        let _ = write!(line, " (see [below for nested schema](#{anchor}))");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::validate;

    fn schema() -> Schema {
        Schema::new(
            Block::new("A thing.")
                .attribute(
                    Attribute::string("name")
                        .required()
                        .description("Its name."),
                )
                .attribute(
                    Attribute::string("mode")
                        .optional()
                        .description("How.")
                        .validator(validate::one_of(&["a", "b"])),
                )
                .attribute(
                    Attribute::single_nested(
                        "auth",
                        vec![
                            Attribute::string("password_wo")
                                .optional()
                                .sensitive()
                                .write_only()
                                .description("Never stored."),
                            Attribute::single_nested(
                                "secret",
                                vec![Attribute::string("key").required().description("Key.")],
                            )
                            .optional()
                            .description("A Secret."),
                        ],
                    )
                    .optional()
                    .description("Password."),
                )
                .attribute(Attribute::string("id").computed().description("Its id."))
                .attribute(
                    Attribute::new(
                        "ref",
                        Type::object([("name", Type::String), ("key", Type::String)]),
                    )
                    .computed()
                    .description("A reference."),
                )
                .block(crate::tf::timeouts::block(&["create"])),
        )
    }

    #[test]
    fn attributes_are_grouped_required_optional_read_only_in_name_order() {
        let page = resource_page("redis", "redis_thing", &schema(), None, None);
        let required = page.find("### Required").expect("required");
        let optional = page.find("### Optional").expect("optional");
        let read_only = page.find("### Read-Only").expect("read-only");
        assert!(required < optional && optional < read_only, "{page}");
        let auth = page.find("- `auth` (Attributes)").expect("auth");
        let mode = page.find("- `mode` (String)").expect("mode");
        let timeouts = page.find("- `timeouts` (Block)").expect("timeouts");
        assert!(optional < auth && auth < mode && mode < timeouts, "{page}");
        assert!(page.contains("- `name` (String) Its name.\n"), "{page}");
        assert!(page.contains("- `id` (String) Its id.\n"), "{page}");
    }

    #[test]
    fn sensitive_and_write_only_attributes_are_flagged() {
        let page = resource_page("redis", "redis_thing", &schema(), None, None);
        assert!(
            page.contains(&format!(
                "- `password_wo` (String, Sensitive, [Write-only]({WRITE_ONLY_LINK})) Never stored."
            )),
            "{page}"
        );
    }

    #[test]
    fn nested_attributes_blocks_and_objects_get_sections_under_their_parent() {
        let page = resource_page("redis", "redis_thing", &schema(), None, None);
        for (anchor, title) in [
            ("nestedatt--auth", "`auth`"),
            ("nestedatt--auth--secret", "`auth.secret`"),
            ("nestedblock--timeouts", "`timeouts`"),
            ("nestedobjatt--ref", "`ref`"),
        ] {
            assert!(
                page.contains(&format!(
                    "<a id=\"{anchor}\"></a>\n### Nested Schema for {title}\n"
                )),
                "{anchor}\n{page}"
            );
            assert!(
                page.contains(&format!("(see [below for nested schema](#{anchor}))")),
                "{anchor}\n{page}"
            );
        }
        // Parents before children; each section's own groups.
        let auth = page.find("### Nested Schema for `auth`").expect("auth");
        let secret = page
            .find("### Nested Schema for `auth.secret`")
            .expect("secret");
        assert!(auth < secret);
        assert!(page[secret..].contains("Required:\n\n- `key` (String) Key."));
        let reference = page.find("### Nested Schema for `ref`").expect("ref");
        assert!(page[reference..].contains("Read-Only:\n\n- `key` (String)\n- `name` (String)"));
    }

    #[test]
    fn nested_sections_follow_the_order_of_the_lists_then_go_deeper() {
        let page = resource_page("redis", "redis_thing", &schema(), None, None);
        let titles: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("### Nested Schema for "))
            .collect();
        assert_eq!(
            titles,
            ["`auth`", "`timeouts`", "`ref`", "`auth.secret`"],
            "{page}"
        );
    }

    #[test]
    fn validator_descriptions_follow_the_description() {
        let page = resource_page("redis", "redis_thing", &schema(), None, None);
        assert!(
            page.contains("- `mode` (String) How. Value: one of \"a\", \"b\".\n"),
            "{page}"
        );
    }

    #[test]
    fn examples_and_import_are_embedded_when_given() {
        let page = resource_page(
            "redis",
            "redis_thing",
            &schema(),
            Some("resource \"redis_thing\" \"x\" {}\n\n"),
            Some("terraform import redis_thing.x a/b\n"),
        );
        assert!(page.starts_with(
            "---\npage_title: \"redis_thing Resource - redis\"\nsubcategory: \"\"\n\
             description: |-\n  A thing.\n---\n\n# redis_thing (Resource)\n\nA thing.\n\n"
        ));
        assert!(page.contains(
            "## Example Usage\n\n```terraform\nresource \"redis_thing\" \"x\" {}\n```\n\n## Schema"
        ));
        assert!(page.ends_with(
            "## Import\n\nImport is supported using the following syntax:\n\n\
             ```shell\nterraform import redis_thing.x a/b\n```\n"
        ));
        let bare = resource_page("redis", "redis_thing", &schema(), None, None);
        assert!(!bare.contains("## Example Usage") && !bare.contains("## Import"));
    }

    #[test]
    fn ephemeral_resources_get_their_own_page_and_a_list_on_the_provider_page() {
        let page = ephemeral_resource_page(
            "redis",
            "redis_thing",
            &schema(),
            Some("ephemeral \"redis_thing\" \"x\" {}\n"),
        );
        assert!(page.starts_with(
            "---\npage_title: \"redis_thing Ephemeral Resource - redis\"\nsubcategory: \"\"\n\
             description: |-\n  A thing.\n---\n\n# redis_thing (Ephemeral Resource)\n\nA thing.\n\n"
        ));
        assert!(page.contains("```terraform\nephemeral \"redis_thing\" \"x\" {}\n```\n\n## Schema"));
        assert!(!page.contains("## Import"));
        let provider = provider_page("redis", &Schema::new(Block::new("P.")), None, &["redis_a"]);
        let listed = with_ephemeral_list("redis", provider, &["redis_creds"]);
        let list = listed
            .find("## Ephemeral Resources\n\n- [`redis_creds`](ephemeral-resources/creds.md)\n\n")
            .expect("listed");
        assert!(listed.find("## Resources\n").expect("resources") < list);
        assert!(list < listed.find("## Schema\n").expect("schema"));
    }

    #[test]
    fn the_provider_page_lists_the_resources_and_the_provider_block() {
        let provider = Schema::new(
            Block::new("Runs things.").attribute(
                Attribute::single_nested(
                    "kubernetes",
                    vec![Attribute::string("token")
                        .optional()
                        .sensitive()
                        .description("Token.")],
                )
                .optional()
                .description("Cluster."),
            ),
        );
        let page = provider_page(
            "redis",
            &provider,
            Some("provider \"redis\" {}"),
            &["redis_thing"],
        );
        assert!(
            page.contains("# redis Provider\n\nRuns things.\n"),
            "{page}"
        );
        assert!(page.contains("- [`redis_thing`](resources/thing.md)\n"));
        assert!(page.contains("```terraform\nprovider \"redis\" {}\n```"));
        assert!(page.contains("### Nested Schema for `kubernetes`\n\nOptional:\n\n- `token` (String, Sensitive) Token.\n"));
    }

    #[test]
    fn blocks_with_a_minimum_are_required_and_show_their_limits() {
        let schema = Schema::new(
            Block::new("B.").block(
                NestedBlock::new(
                    "rule",
                    BlockNesting::List,
                    Block::new("Rules.").attribute(
                        Attribute::list("ports", Type::Number)
                            .required()
                            .description("Ports."),
                    ),
                )
                .min_items(1)
                .max_items(3),
            ),
        );
        let page = resource_page("redis", "redis_b", &schema, None, None);
        assert!(
            page.contains("### Required\n\n- `rule` (Block List, Min: 1, Max: 3) Rules."),
            "{page}"
        );
        assert!(page.contains("Required:\n\n- `ports` (List of Number) Ports.\n"));
    }

    #[test]
    fn rendering_twice_gives_the_same_bytes_without_trailing_spaces() {
        let a = resource_page("redis", "redis_thing", &schema(), Some("x  \n"), None);
        let b = resource_page("redis", "redis_thing", &schema(), Some("x  \n"), None);
        assert_eq!(a, b);
        assert!(a.lines().all(|l| l == l.trim_end()));
        assert!(a.ends_with("\n") && !a.ends_with("\n\n"));
    }

    #[test]
    fn type_names_read_like_the_registry() {
        assert_eq!(type_name(&Type::list(Type::String)), "List of String");
        assert_eq!(type_name(&Type::map(Type::Bool)), "Map of Boolean");
        assert_eq!(type_name(&Type::set(Type::Number)), "Set of Number");
        assert_eq!(short_name("redis", "redis_deployment"), "deployment");
        assert_eq!(short_name("redis", "other"), "other");
    }

    #[test]
    fn the_command_line_needs_an_output_directory() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            Command::parse(&args(&["out"])).expect("parses"),
            Command {
                out_dir: "out".into(),
                examples: "examples".into()
            }
        );
        assert_eq!(
            Command::parse(&args(&["--examples", "ex", "out"]))
                .expect("parses")
                .examples,
            PathBuf::from("ex")
        );
        for bad in [
            &[][..],
            &["a", "b"],
            &["--examples"],
            &["--frobnicate", "out"],
        ] {
            assert!(
                matches!(Command::parse(&args(bad)), Err(DocsError::Usage(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn writing_then_comparing_finds_no_differences_and_stale_pages_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pages = vec![
            Page {
                path: "index.md".into(),
                text: "# p\n".into(),
            },
            Page {
                path: "resources/thing.md".into(),
                text: "# t\n".into(),
            },
        ];
        std::fs::create_dir_all(dir.path().join("resources")).expect("mkdir");
        std::fs::write(dir.path().join("resources/gone.md"), "old").expect("write");
        write(&pages, dir.path()).expect("writes");
        assert_eq!(
            differences(&pages, dir.path()).expect("compares"),
            Vec::<String>::new()
        );
        std::fs::create_dir_all(dir.path().join("guides")).expect("mkdir");
        std::fs::write(
            dir.path().join("guides/rbac.md"),
            "---\npage_title: \"RBAC\"\n---\n",
        )
        .expect("write");
        write(&pages, dir.path()).expect("writes");
        assert!(
            dir.path().join("guides/rbac.md").exists(),
            "guides are kept"
        );
        assert_eq!(
            differences(&pages, dir.path()).expect("compares"),
            Vec::<String>::new(),
            "a guide is not a difference"
        );
        std::fs::write(dir.path().join("guides/rbac.md"), "# no front matter\n").expect("write");
        std::fs::write(
            dir.path().join("guides/other.md"),
            "---\npage_title: \"O\"\n---\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("guides/notes.txt"), "").expect("write");
        std::fs::write(dir.path().join("index.md"), "# q\n").expect("write");
        std::fs::write(dir.path().join("extra.md"), "").expect("write");
        std::fs::remove_file(dir.path().join("resources/thing.md")).expect("rm");
        assert_eq!(
            differences(&pages, dir.path()).expect("compares"),
            [
                "index.md: differs at line 1: rendered \"# p\", found \"# q\"",
                "resources/thing.md: missing",
                "extra.md: not a rendered page",
                "guides/notes.txt: not a rendered page",
                "guides/other.md: a guide not listed in docs::GUIDES",
                "guides/rbac.md: a guide starts with front matter: ---, page_title: ...",
            ]
        );
    }
}
