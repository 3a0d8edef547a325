//! Facts read off one Java syntax tree: types, their annotations, fields, methods, parameters,
//! enum constants and literal constant values.
//!
//! This is a declaration-level view: it does not look inside method bodies (that is the job of
//! [`super::call_graph`] and [`super::rules`], which walk bodies with the symbol table at hand).
//! It depends only on tree-sitter-java's node kinds.

use acdp_index::java::{self, TYPE_DECLARATIONS};
use tree_sitter::Node;

/// What kind of type a declaration declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeKind {
    Class,
    Interface,
    Enum,
    Record,
    Annotation,
}

/// An annotation as written: `@Name`, `@Name(x)`, `@Name(key = x, ...)`.
#[derive(Clone, Debug, Default)]
pub struct Annotation {
    /// Simple name (`Transactional` for `@org.springframework...Transactional`).
    pub name: String,
    /// The whole annotation, verbatim.
    pub text: String,
    /// Arguments: `None` key for a positional value; values verbatim.
    pub args: Vec<(Option<String>, String)>,
}

impl Annotation {
    /// The value of `key`, or of the positional argument when `key` is `value`.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| match k {
                Some(k) => k == key,
                None => key == "value",
            })
            .map(|(_, v)| v.as_str())
    }

    /// The first string literal of `key` (`"x"` or `{"x", "y"}`), unquoted.
    pub fn string_arg(&self, key: &str) -> Option<String> {
        first_string_literal(self.arg(key)?)
    }
}

/// A literal value a constant or argument holds, as far as it can be read without running code.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Int(i64),
    Str(String),
    /// A decimal number written as text (`new BigDecimal("99")`, `0.5`).
    Decimal(String),
    Bool(bool),
    /// A reference to another constant (`OTHER`, `Type.OTHER`), resolved later.
    Ref(String),
}

impl Literal {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Literal::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// How a statement shows the value.
    pub fn display(&self) -> String {
        match self {
            Literal::Int(v) => v.to_string(),
            Literal::Str(s) => format!("\"{s}\""),
            Literal::Decimal(d) => d.clone(),
            Literal::Bool(b) => b.to_string(),
            Literal::Ref(r) => r.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FieldFacts {
    pub name: String,
    /// Simple type name without generic arguments (`List` for `List<Long>`).
    pub ty: String,
    pub annotations: Vec<Annotation>,
    pub is_static: bool,
    pub is_final: bool,
    pub value: Option<Literal>,
    pub doc: Option<String>,
    /// The declaration, annotations included.
    pub start_byte: usize,
    pub end_byte: usize,
    pub start_line: u32,
    pub end_line: u32,
}

#[derive(Clone, Debug)]
pub struct ParamFacts {
    pub name: String,
    pub ty: String,
    pub annotations: Vec<Annotation>,
    pub start_byte: usize,
    pub end_byte: usize,
    pub start_line: u32,
    pub end_line: u32,
}

#[derive(Clone, Debug)]
pub struct MethodFacts {
    pub name: String,
    pub params: Vec<ParamFacts>,
    /// Simple return type without generic arguments; `None` for constructors.
    pub return_type: Option<String>,
    pub annotations: Vec<Annotation>,
    pub is_private: bool,
    pub is_static: bool,
    pub is_constructor: bool,
    /// Byte range of the whole declaration (annotations included): the chunk's range.
    pub start_byte: usize,
    pub end_byte: usize,
    /// The body block, when there is one.
    pub body: Option<(usize, usize)>,
    pub start_line: u32,
    pub end_line: u32,
    pub doc: Option<String>,
}

impl MethodFacts {
    pub fn annotation(&self, name: &str) -> Option<&Annotation> {
        self.annotations.iter().find(|a| a.name == name)
    }

    /// A getter or setter: `getX()`/`isX()` with no parameter, `setX(v)` with one, and a body of
    /// at most one statement.
    pub fn is_accessor(&self, text: &str) -> bool {
        let named = |prefix: &str| {
            self.name.len() > prefix.len()
                && self.name.starts_with(prefix)
                && self.name[prefix.len()..].starts_with(|c: char| c.is_ascii_uppercase())
        };
        let shape = ((named("get") || named("is")) && self.params.is_empty())
            || (named("set") && self.params.len() == 1);
        let small = self.body.is_none_or(|(start, end)| {
            let body = &text[start..end];
            body.matches(';').count() <= 1
        });
        shape && small
    }
}

#[derive(Clone, Debug)]
pub struct EnumConstant {
    pub name: String,
    pub args: Vec<Option<Literal>>,
    pub doc: Option<String>,
}

impl EnumConstant {
    /// The value a status-like enum stands for: its first integer argument.
    pub fn int_value(&self) -> Option<i64> {
        self.args.iter().flatten().find_map(Literal::as_int)
    }

    /// Its first string argument (usually a description).
    pub fn description(&self) -> Option<&str> {
        self.args.iter().flatten().find_map(|a| match a {
            Literal::Str(s) => Some(s.as_str()),
            _ => None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct TypeFacts {
    /// Qualified name: `pkg.Outer.Inner`, the symbol of its type-header chunk.
    pub symbol: String,
    pub simple_name: String,
    pub kind: TypeKind,
    pub annotations: Vec<Annotation>,
    /// Simple name of the superclass.
    pub superclass: Option<String>,
    /// Simple names of implemented (or, for interfaces, extended) interfaces.
    pub interfaces: Vec<String>,
    pub fields: Vec<FieldFacts>,
    pub methods: Vec<MethodFacts>,
    pub enum_constants: Vec<EnumConstant>,
    pub doc: Option<String>,
    pub start_byte: usize,
    pub start_line: u32,
    pub end_line: u32,
    /// Index (in [`FileFacts::types`]) of the enclosing type.
    pub outer: Option<usize>,
}

impl TypeFacts {
    pub fn annotation(&self, name: &str) -> Option<&Annotation> {
        self.annotations.iter().find(|a| a.name == name)
    }

    pub fn field(&self, name: &str) -> Option<&FieldFacts> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Everything declared in one Java file.
#[derive(Clone, Debug, Default)]
pub struct FileFacts {
    pub package: String,
    /// Single-type imports, qualified.
    pub imports: Vec<String>,
    /// Packages (or types) imported with `.*`.
    pub wildcard_imports: Vec<String>,
    /// `import static a.b.C.m;` as `a.b.C.m` (and `a.b.C.*`).
    pub static_imports: Vec<String>,
    pub types: Vec<TypeFacts>,
}

/// Whether a syntax tree is more than `limit` nodes deep. Iterative, and it stops at the first
/// node past the limit, so it is safe and cheap on any tree.
pub fn deeper_than(root: Node<'_>, limit: usize) -> bool {
    let mut cursor = root.walk();
    let mut depth = 1;
    loop {
        if cursor.goto_first_child() {
            depth += 1;
            if depth > limit {
                return true;
            }
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return false;
            }
            depth -= 1;
        }
    }
}

/// Reads the declarations of a parsed file.
pub fn read_file(root: Node<'_>, text: &str) -> FileFacts {
    let mut facts = FileFacts::default();
    let mut cursor = root.walk();
    for child in root.named_children(&mut cursor) {
        match child.kind() {
            "package_declaration" => {
                let mut c = child.walk();
                if let Some(name) = child
                    .named_children(&mut c)
                    .find(|n| matches!(n.kind(), "scoped_identifier" | "identifier"))
                {
                    facts.package = compact(node_text(name, text));
                }
            }
            "import_declaration" => {
                let written = node_text(child, text);
                let body = written
                    .trim_start_matches("import")
                    .trim()
                    .trim_end_matches(';')
                    .trim();
                if let Some(rest) = body.strip_prefix("static ") {
                    facts.static_imports.push(compact(rest));
                } else if let Some(pkg) = body.strip_suffix(".*") {
                    facts.wildcard_imports.push(compact(pkg));
                } else {
                    facts.imports.push(compact(body));
                }
            }
            _ => {}
        }
    }
    let package = facts.package.clone();
    visit_container(root, text, &package, None, &mut facts.types);
    facts
}

fn visit_container(
    node: Node<'_>,
    text: &str,
    package: &str,
    outer: Option<usize>,
    out: &mut Vec<TypeFacts>,
) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        if TYPE_DECLARATIONS.contains(&child.kind()) {
            read_type(child, text, package, outer, out);
        } else if child.is_error() || (outer.is_some() && child.kind() == "enum_body_declarations")
        {
            visit_container(child, text, package, outer, out);
        }
    }
}

fn read_type(
    node: Node<'_>,
    text: &str,
    package: &str,
    outer: Option<usize>,
    out: &mut Vec<TypeFacts>,
) {
    let Some(name) = node.child_by_field_name("name") else {
        return;
    };
    let simple_name = node_text(name, text).to_owned();
    let symbol = match outer {
        Some(o) => format!("{}.{simple_name}", out[o].symbol),
        None if package.is_empty() => simple_name.clone(),
        None => format!("{package}.{simple_name}"),
    };
    let kind = match node.kind() {
        "interface_declaration" => TypeKind::Interface,
        "enum_declaration" => TypeKind::Enum,
        "record_declaration" => TypeKind::Record,
        "annotation_type_declaration" => TypeKind::Annotation,
        _ => TypeKind::Class,
    };
    let mut facts = TypeFacts {
        symbol,
        simple_name: simple_name.clone(),
        kind,
        annotations: modifiers_of(node)
            .map(|m| annotations(m, text))
            .unwrap_or_default(),
        superclass: None,
        interfaces: Vec::new(),
        fields: Vec::new(),
        methods: Vec::new(),
        enum_constants: Vec::new(),
        doc: doc_above(node, text),
        start_byte: node.start_byte(),
        start_line: line_of(node),
        end_line: node.end_position().row as u32 + 1,
        outer,
    };
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "superclass" => {
                let mut c = child.walk();
                facts.superclass = child
                    .named_children(&mut c)
                    .next()
                    .map(|t| type_name(t, text));
            }
            "super_interfaces" | "extends_interfaces" => {
                let mut c = child.walk();
                for list in child.named_children(&mut c) {
                    let mut c2 = list.walk();
                    for ty in list.named_children(&mut c2) {
                        facts.interfaces.push(type_name(ty, text));
                    }
                }
            }
            _ => {}
        }
    }
    let index = out.len();
    out.push(facts);
    let Some(body) = node.child_by_field_name("body") else {
        return;
    };
    read_body(body, text, package, index, &simple_name, out);
}

fn read_body(
    body: Node<'_>,
    text: &str,
    package: &str,
    index: usize,
    simple_name: &str,
    out: &mut Vec<TypeFacts>,
) {
    let mut cursor = body.walk();
    for member in body.named_children(&mut cursor) {
        match member.kind() {
            k if TYPE_DECLARATIONS.contains(&k) => {
                read_type(member, text, package, Some(index), out)
            }
            "field_declaration" | "constant_declaration" => {
                let fields = read_fields(member, text);
                out[index].fields.extend(fields);
            }
            "method_declaration" | "annotation_type_element_declaration" => {
                if let Some(m) = read_method(member, text, None) {
                    out[index].methods.push(m);
                }
            }
            "constructor_declaration" | "compact_constructor_declaration" => {
                if let Some(m) = read_method(member, text, Some(simple_name)) {
                    out[index].methods.push(m);
                }
            }
            "enum_constant" => {
                let name = member
                    .child_by_field_name("name")
                    .map(|n| node_text(n, text).to_owned())
                    .unwrap_or_default();
                let args = member
                    .child_by_field_name("arguments")
                    .map(|a| {
                        let mut c = a.walk();
                        a.named_children(&mut c)
                            .map(|arg| literal_of(arg, text))
                            .collect()
                    })
                    .unwrap_or_default();
                out[index].enum_constants.push(EnumConstant {
                    name,
                    args,
                    doc: doc_above(member, text),
                });
            }
            "enum_body_declarations" | "ERROR" => {
                read_body(member, text, package, index, simple_name, out)
            }
            _ => {}
        }
    }
}

fn read_fields(node: Node<'_>, text: &str) -> Vec<FieldFacts> {
    let modifiers = modifiers_of(node);
    let modifier_text = modifiers.map(|m| node_text(m, text)).unwrap_or("");
    let anns = modifiers.map(|m| annotations(m, text)).unwrap_or_default();
    let ty = node
        .child_by_field_name("type")
        .map(|t| type_name(t, text))
        .unwrap_or_default();
    let doc = doc_above(node, text);
    let mut out = Vec::new();
    let mut cursor = node.walk();
    for declarator in node.children_by_field_name("declarator", &mut cursor) {
        let Some(name) = declarator.child_by_field_name("name") else {
            continue;
        };
        out.push(FieldFacts {
            name: node_text(name, text).to_owned(),
            ty: ty.clone(),
            annotations: anns.clone(),
            is_static: has_word(modifier_text, "static"),
            is_final: has_word(modifier_text, "final"),
            value: declarator
                .child_by_field_name("value")
                .and_then(|v| literal_of(v, text)),
            doc: doc.clone(),
            start_byte: node.start_byte(),
            end_byte: node.end_byte(),
            start_line: line_of(node),
            end_line: node.end_position().row as u32 + 1,
        });
    }
    out
}

fn read_method(node: Node<'_>, text: &str, constructor_of: Option<&str>) -> Option<MethodFacts> {
    let name = match constructor_of {
        Some(name) => name.to_owned(),
        None => node_text(node.child_by_field_name("name")?, text).to_owned(),
    };
    let modifiers = modifiers_of(node);
    let modifier_text = modifiers.map(|m| node_text(m, text)).unwrap_or("");
    let mut params = Vec::new();
    if let Some(list) = node.child_by_field_name("parameters") {
        let mut cursor = list.walk();
        for param in list.named_children(&mut cursor) {
            if !matches!(param.kind(), "formal_parameter" | "spread_parameter") {
                continue;
            }
            let mut c = param.walk();
            let pname = param
                .child_by_field_name("name")
                .or_else(|| {
                    param
                        .named_children(&mut c)
                        .find(|n| n.kind() == "variable_declarator")
                        .and_then(|d| d.child_by_field_name("name"))
                })
                .map(|n| node_text(n, text).to_owned())
                .unwrap_or_default();
            let mut c = param.walk();
            let ty = param
                .child_by_field_name("type")
                .or_else(|| {
                    param
                        .named_children(&mut c)
                        .find(|n| !matches!(n.kind(), "modifiers" | "variable_declarator"))
                })
                .map(|t| type_name(t, text))
                .unwrap_or_default();
            params.push(ParamFacts {
                name: pname,
                ty,
                annotations: modifiers_of(param)
                    .map(|m| annotations(m, text))
                    .unwrap_or_default(),
                start_byte: param.start_byte(),
                end_byte: param.end_byte(),
                start_line: line_of(param),
                end_line: param.end_position().row as u32 + 1,
            });
        }
    }
    Some(MethodFacts {
        name,
        params,
        return_type: node.child_by_field_name("type").map(|t| type_name(t, text)),
        annotations: modifiers.map(|m| annotations(m, text)).unwrap_or_default(),
        is_private: has_word(modifier_text, "private"),
        is_static: has_word(modifier_text, "static"),
        is_constructor: constructor_of.is_some(),
        start_byte: node.start_byte(),
        end_byte: node.end_byte(),
        body: node
            .child_by_field_name("body")
            .map(|b| (b.start_byte(), b.end_byte())),
        start_line: line_of(node),
        end_line: node.end_position().row as u32 + 1,
        doc: doc_above(node, text),
    })
}

fn modifiers_of(node: Node<'_>) -> Option<Node<'_>> {
    let mut cursor = node.walk();
    node.children(&mut cursor).find(|c| c.kind() == "modifiers")
}

fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .any(|w| w == word)
}

/// Annotations among the children of a `modifiers` node.
pub fn annotations(modifiers: Node<'_>, text: &str) -> Vec<Annotation> {
    let mut out = Vec::new();
    let mut cursor = modifiers.walk();
    for child in modifiers.named_children(&mut cursor) {
        if let Some(annotation) = annotation_of(child, text) {
            out.push(annotation);
        }
    }
    out
}

pub fn annotation_of(node: Node<'_>, text: &str) -> Option<Annotation> {
    if !matches!(node.kind(), "annotation" | "marker_annotation") {
        return None;
    }
    let name = node.child_by_field_name("name")?;
    let name = node_text(name, text);
    let name = name.rsplit('.').next().unwrap_or(name).trim().to_owned();
    let mut args = Vec::new();
    if let Some(list) = node.child_by_field_name("arguments") {
        let mut cursor = list.walk();
        for arg in list.named_children(&mut cursor) {
            match arg.kind() {
                "element_value_pair" => {
                    let key = arg.child_by_field_name("key").map(|k| node_text(k, text));
                    let value = arg
                        .child_by_field_name("value")
                        .map(|v| node_text(v, text))
                        .unwrap_or("");
                    args.push((key.map(str::to_owned), value.to_owned()));
                }
                "line_comment" | "block_comment" => {}
                _ => args.push((None, node_text(arg, text).to_owned())),
            }
        }
    }
    Some(Annotation {
        name,
        text: node_text(node, text).to_owned(),
        args,
    })
}

/// The literal value of a constant initializer or argument, when it has one.
pub fn literal_of(node: Node<'_>, text: &str) -> Option<Literal> {
    match node.kind() {
        "decimal_integer_literal"
        | "hex_integer_literal"
        | "octal_integer_literal"
        | "binary_integer_literal" => parse_int(node_text(node, text)).map(Literal::Int),
        "decimal_floating_point_literal" => Some(Literal::Decimal(
            node_text(node, text)
                .trim_end_matches(['d', 'D', 'f', 'F'])
                .to_owned(),
        )),
        "string_literal" => Some(Literal::Str(unquote(node_text(node, text)))),
        "true" => Some(Literal::Bool(true)),
        "false" => Some(Literal::Bool(false)),
        "parenthesized_expression" => literal_of(node.named_child(0)?, text),
        "unary_expression" => {
            let op = node.child_by_field_name("operator")?;
            let operand = literal_of(node.child_by_field_name("operand")?, text)?;
            match (node_text(op, text), operand) {
                ("-", Literal::Int(v)) => Some(Literal::Int(-v)),
                ("-", Literal::Decimal(d)) => Some(Literal::Decimal(format!("-{d}"))),
                ("+", v) => Some(v),
                _ => None,
            }
        }
        "binary_expression" => {
            let left = literal_of(node.child_by_field_name("left")?, text)?.as_int()?;
            let right = literal_of(node.child_by_field_name("right")?, text)?.as_int()?;
            let op = node_text(node.child_by_field_name("operator")?, text);
            match op {
                "*" => left.checked_mul(right),
                "+" => left.checked_add(right),
                "-" => left.checked_sub(right),
                "/" if right != 0 => Some(left / right),
                _ => None,
            }
            .map(Literal::Int)
        }
        // `new BigDecimal("99")`, `new BigDecimal(10)`, `BigDecimal.valueOf(5)`.
        "object_creation_expression" | "method_invocation" => {
            let args = node.child_by_field_name("arguments")?;
            if args.named_child_count() != 1 {
                return None;
            }
            let written = node_text(node, text);
            if !(written.contains("BigDecimal") || written.contains("valueOf")) {
                return None;
            }
            match literal_of(args.named_child(0)?, text)? {
                Literal::Str(s) if s.parse::<f64>().is_ok() => Some(Literal::Decimal(s)),
                Literal::Int(v) => Some(Literal::Int(v)),
                Literal::Decimal(d) => Some(Literal::Decimal(d)),
                _ => None,
            }
        }
        "identifier" | "field_access" => Some(Literal::Ref(compact(node_text(node, text)))),
        _ => None,
    }
}

fn parse_int(written: &str) -> Option<i64> {
    let cleaned: String = written
        .trim_end_matches(['l', 'L'])
        .chars()
        .filter(|&c| c != '_')
        .collect();
    if let Some(hex) = cleaned
        .strip_prefix("0x")
        .or_else(|| cleaned.strip_prefix("0X"))
    {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(bin) = cleaned
        .strip_prefix("0b")
        .or_else(|| cleaned.strip_prefix("0B"))
    {
        return i64::from_str_radix(bin, 2).ok();
    }
    cleaned.parse().ok()
}

/// A string literal's content, without quotes and with the common escapes read.
pub fn unquote(literal: &str) -> String {
    let inner = literal
        .strip_prefix("\"\"\"")
        .and_then(|s| s.strip_suffix("\"\"\""))
        .or_else(|| literal.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
        .unwrap_or(literal);
    inner
        .replace("\\\"", "\"")
        .replace("\\n", "\n")
        .replace("\\\\", "\\")
}

/// The first `"..."` inside some source text, unquoted.
pub fn first_string_literal(written: &str) -> Option<String> {
    let start = written.find('"')?;
    let rest = &written[start + 1..];
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(unquote(&format!("\"{}\"", &rest[..i]))),
            _ => escaped = false,
        }
    }
    None
}

/// A type's simple name: generic arguments, annotations and package removed (`List` for
/// `java.util.List<Long>`), array dimensions kept.
pub fn type_name(node: Node<'_>, text: &str) -> String {
    let written = node_text(node, text);
    simple_type_name(written)
}

pub fn simple_type_name(written: &str) -> String {
    let mut stripped = String::with_capacity(written.len());
    let mut depth = 0usize;
    for c in written.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => stripped.push(c),
            _ => {}
        }
    }
    // Annotations inside a type (`@NonNull String`) come before the name.
    let last = stripped.split_whitespace().last().unwrap_or("");
    match last.rfind('.') {
        Some(dot) if !last.ends_with("...") => last[dot + 1..].to_owned(),
        _ => last.to_owned(),
    }
}

pub fn node_text<'a>(node: Node<'_>, text: &'a str) -> &'a str {
    &text[node.byte_range()]
}

/// Text with every run of whitespace turned into one space.
pub fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

pub fn line_of(node: Node<'_>) -> u32 {
    node.start_position().row as u32 + 1
}

/// The comments directly above a node (no blank line between), markers stripped.
pub fn doc_above(node: Node<'_>, text: &str) -> Option<String> {
    let mut lines = Vec::new();
    let mut next_row = node.start_position().row;
    let mut prev = node.prev_sibling();
    while let Some(comment) = prev {
        if !matches!(comment.kind(), "line_comment" | "block_comment")
            || comment.end_position().row + 1 < next_row
        {
            break;
        }
        lines.push(clean_comment(node_text(comment, text)));
        next_row = comment.start_position().row;
        prev = comment.prev_sibling();
    }
    lines.reverse();
    let doc = lines.join("\n").trim().to_owned();
    (!doc.is_empty()).then_some(doc)
}

/// A comment's prose: its lines ([`java::comment_lines`]) without Javadoc tags (`@param`
/// ...) and `<pre>` markers, which name things rather than say what the code does.
pub fn clean_comment(comment: &str) -> String {
    java::comment_lines(comment)
        .filter(|line| !line.starts_with('@') && *line != "<pre>" && *line != "</pre>")
        .collect::<Vec<_>>()
        .join("\n")
}

/// `lowerCamel` of a getter or setter name: `getPayAmount` -> `payAmount`.
pub fn property_of_accessor(name: &str) -> Option<String> {
    let rest = name
        .strip_prefix("get")
        .or_else(|| name.strip_prefix("set"))
        .or_else(|| name.strip_prefix("is"))?;
    let mut chars = rest.chars();
    let first = chars.next()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    Some(first.to_ascii_lowercase().to_string() + chars.as_str())
}

/// `use_status` -> `useStatus`.
pub fn camel_case(column: &str) -> String {
    let mut out = String::with_capacity(column.len());
    let mut upper = false;
    for c in column.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `OmsOrderService` -> `omsOrderService`.
pub fn decapitalize(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_limit_counts_nesting() {
        let mut parser = acdp_index::java::new_parser();
        let text = format!(
            "class A {{ int x = {}1{}; }}",
            "(".repeat(50),
            ")".repeat(50)
        );
        let tree = acdp_index::java::parse(&mut parser, &text, None);
        assert!(deeper_than(tree.root_node(), 50));
        assert!(!deeper_than(tree.root_node(), 100));
    }
    use acdp_index::java;

    fn facts(src: &str) -> FileFacts {
        let mut parser = java::new_parser();
        let tree = java::parse(&mut parser, src, None);
        read_file(tree.root_node(), src)
    }

    #[test]
    fn reads_types_fields_methods_and_annotations() {
        let f = facts(
            r#"package p;
import a.B;
import c.*;
/** doc */
@Service("svc")
public class S extends Base implements I, J<X> {
    /** the limit */
    private static final BigDecimal LIMIT = new BigDecimal("99");
    private static final int MAX = 60 * 60;
    @Autowired @Qualifier("x") private List<Long> ids;
    @Transactional(rollbackFor = Exception.class)
    private int run(@NotNull(message = "m") Long id, List<String> names) { return 1; }
}
enum E { A(0, "zero"), B(1, "one"); private final int v; E(int v, String d) { this.v = v; } }
"#,
        );
        assert_eq!(f.package, "p");
        assert_eq!(f.imports, ["a.B"]);
        assert_eq!(f.wildcard_imports, ["c"]);
        let s = &f.types[0];
        assert_eq!(s.symbol, "p.S");
        assert_eq!(
            s.annotation("Service")
                .unwrap()
                .string_arg("value")
                .as_deref(),
            Some("svc")
        );
        assert_eq!(s.superclass.as_deref(), Some("Base"));
        assert_eq!(s.interfaces, ["I", "J"]);
        assert_eq!(s.fields[0].value, Some(Literal::Decimal("99".into())));
        assert_eq!(s.fields[0].doc.as_deref(), Some("the limit"));
        assert_eq!(s.fields[1].value, Some(Literal::Int(3600)));
        assert_eq!(s.fields[2].ty, "List");
        assert_eq!(s.fields[2].annotations.len(), 2);
        let m = &s.methods[0];
        assert!(m.is_private);
        assert_eq!(m.params[0].ty, "Long");
        assert_eq!(
            m.params[0].annotations[0].string_arg("message").as_deref(),
            Some("m")
        );
        assert_eq!(m.params[1].ty, "List");
        assert_eq!(
            m.annotation("Transactional").unwrap().arg("rollbackFor"),
            Some("Exception.class")
        );
        let e = &f.types[1];
        assert_eq!(e.kind, TypeKind::Enum);
        assert_eq!(e.enum_constants[1].int_value(), Some(1));
        assert_eq!(e.enum_constants[1].description(), Some("one"));
        assert!(e.methods[0].is_constructor);
    }

    #[test]
    fn names() {
        assert_eq!(simple_type_name("java.util.List<Map<K, V>>"), "List");
        assert_eq!(
            property_of_accessor("getPayAmount").as_deref(),
            Some("payAmount")
        );
        assert_eq!(property_of_accessor("getter"), None);
        assert_eq!(camel_case("use_status"), "useStatus");
        assert_eq!(
            first_string_literal("{\"/a\", \"/b\"}").as_deref(),
            Some("/a")
        );
    }
}
