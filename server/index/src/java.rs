//! Cuts a Java syntax tree into chunks: one per type header, method and constructor.
//!
//! Works on any tree tree-sitter-java produces, broken ones included: declarations inside
//! `ERROR` nodes are still found, and each syntax error becomes a [`SyntaxWarning`] with its
//! line. Bodies of methods are not entered, so local and anonymous classes stay part of the
//! method that contains them, which is what a reader of that method expects as evidence.

use std::rc::Rc;

use tree_sitter::{Node, Parser, Tree, TreeCursor};

use super::SyntaxWarning;
use super::chunk::{Chunk, ChunkDraft, ChunkId, ChunkKind, ChunkSink};

/// Kinds of tree-sitter-java nodes that declare a named type.
pub const TYPE_DECLARATIONS: &[&str] = &[
    "class_declaration",
    "interface_declaration",
    "enum_declaration",
    "record_declaration",
    "annotation_type_declaration",
];

/// Creates a parser for Java. A parser is cheap to keep and not `Sync`: keep one per thread.
pub fn new_parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_java::LANGUAGE.into())
        .expect("tree-sitter-java is built against a compatible tree-sitter ABI");
    parser
}

/// Parses `text` (reusing `old_tree` after [`Tree::edit`] when given).
pub fn parse(parser: &mut Parser, text: &str, old_tree: Option<&Tree>) -> Tree {
    // A UTF-8 byte order mark is not Java; three spaces keep every byte offset the same.
    let tree = if let Some(rest) = text.strip_prefix('\u{feff}') {
        let masked = format!("   {rest}");
        parser.parse(&masked, old_tree)
    } else {
        parser.parse(text, old_tree)
    };
    // `parse` only returns None when a timeout, cancellation flag or no language is set.
    tree.expect("parser has a language and no timeout")
}

/// Chunks of one parsed Java file, in source order, and its syntax warnings.
pub fn chunk_java(path: &str, text: &str, tree: &Tree) -> (Vec<Chunk>, Vec<SyntaxWarning>) {
    let root = tree.root_node();
    let mut walker = Walker {
        text,
        sink: ChunkSink::new(path, text),
        package: package_name(root, text),
    };
    walker.walk(root);
    let warnings = if root.has_error() {
        syntax_warnings(path, root)
    } else {
        Vec::new()
    };
    (walker.sink.finish(), warnings)
}

/// The type a member belongs to while walking.
#[derive(Clone)]
struct TypeScope {
    symbol: String,
    simple_name: String,
    chunk_id: ChunkId,
}

/// A node whose children the walk is going through, with the comments seen since the last
/// declaration and the type its members belong to.
struct Container<'tree> {
    cursor: TreeCursor<'tree>,
    started: bool,
    comments: Vec<Node<'tree>>,
    scope: Option<Rc<TypeScope>>,
}

impl<'tree> Container<'tree> {
    fn new(node: Node<'tree>, scope: Option<Rc<TypeScope>>) -> Self {
        Container {
            cursor: node.walk(),
            started: false,
            comments: Vec::new(),
            scope,
        }
    }

    fn next_child(&mut self) -> Option<Node<'tree>> {
        let moved = if self.started {
            self.cursor.goto_next_sibling()
        } else {
            self.started = true;
            self.cursor.goto_first_child()
        };
        moved.then(|| self.cursor.node())
    }
}

struct Walker<'a> {
    text: &'a str,
    sink: ChunkSink<'a>,
    package: Option<String>,
}

impl<'a> Walker<'a> {
    /// Walks the program and, in source order, every type body, enum body and `ERROR` node in
    /// it, handing each declaration the comments right before it (its doc comment candidates).
    /// Collecting them here, rather than asking each declaration for its previous sibling,
    /// matters: tree-sitter answers `prev_sibling` by descending from the root, which made
    /// indexing quadratic in nesting. The walk keeps its own stack of open containers instead
    /// of recursing: generated code nests types thousands deep, which overflowed the 2 MB
    /// stack of an indexing thread.
    fn walk<'tree>(&mut self, root: Node<'tree>) {
        let mut open = vec![Container::new(root, None)];
        while let Some(container) = open.last_mut() {
            let Some(child) = container.next_child() else {
                open.pop();
                continue;
            };
            if matches!(child.kind(), "line_comment" | "block_comment") {
                container.comments.push(child);
                continue;
            }
            let nested = if child.is_named() {
                self.visit_member(child, container.scope.as_ref(), &container.comments)
            } else {
                None
            };
            container.comments.clear();
            if let Some((node, scope)) = nested {
                open.push(Container::new(node, scope));
            }
        }
    }

    /// Chunks `node` if it is a declaration; returns the container to walk next, if any (a
    /// type's body with the type as its scope, an enum's declarations, an `ERROR` node).
    fn visit_member<'tree>(
        &mut self,
        node: Node<'tree>,
        scope: Option<&Rc<TypeScope>>,
        comments: &[Node<'_>],
    ) -> Option<(Node<'tree>, Option<Rc<TypeScope>>)> {
        let kind = node.kind();
        if TYPE_DECLARATIONS.contains(&kind) {
            return self.visit_type(node, scope.map(|s| &**s), comments);
        }
        match scope {
            Some(scope) => match kind {
                "method_declaration" | "annotation_type_element_declaration" => {
                    self.push_callable(node, scope, ChunkKind::Method, comments);
                    None
                }
                "constructor_declaration" | "compact_constructor_declaration" => {
                    self.push_callable(node, scope, ChunkKind::Constructor, comments);
                    None
                }
                // Enum constants and members of an enum live one level down.
                "enum_body_declarations" | "ERROR" => Some((node, Some(scope.clone()))),
                _ => None,
            },
            None => node.is_error().then_some((node, None)),
        }
    }

    /// Pushes the type's header chunk; returns its body with the type as scope.
    fn visit_type<'tree>(
        &mut self,
        node: Node<'tree>,
        outer: Option<&TypeScope>,
        comments: &[Node<'_>],
    ) -> Option<(Node<'tree>, Option<Rc<TypeScope>>)> {
        let name = self.node_text(node.child_by_field_name("name")?);
        let symbol = match (outer, &self.package) {
            (Some(outer), _) => format!("{}.{name}", outer.symbol),
            (None, Some(package)) => format!("{package}.{name}"),
            (None, None) => name.to_owned(),
        };
        let body = node.child_by_field_name("body");
        let (header_end, header_end_row) = body
            .map_or((node.end_byte(), node.end_position().row), |body| {
                header_end(node, body)
            });
        let chunk_id = self.sink.push(ChunkDraft {
            kind: ChunkKind::TypeHeader,
            symbol: symbol.clone(),
            parent: outer.map(|o| o.chunk_id.clone()),
            start_line: line_of(node),
            end_line: header_end_row as u32 + 1,
            start_byte: node.start_byte(),
            end_byte: header_end,
            doc: doc_comment(node, comments, self.text),
        });
        let scope = TypeScope {
            symbol,
            simple_name: name.to_owned(),
            chunk_id,
        };
        body.map(|body| (body, Some(Rc::new(scope))))
    }

    fn push_callable(
        &mut self,
        node: Node<'_>,
        scope: &TypeScope,
        kind: ChunkKind,
        comments: &[Node<'_>],
    ) {
        let name = match kind {
            ChunkKind::Constructor => scope.simple_name.clone(),
            _ => match node.child_by_field_name("name") {
                Some(name) => self.node_text(name).to_owned(),
                None => return,
            },
        };
        let params = node
            .child_by_field_name("parameters")
            .map(|params| parameter_types(params, self.text))
            .unwrap_or_default();
        self.sink.push(ChunkDraft {
            kind,
            symbol: format!("{}.{name}({})", scope.symbol, params.join(",")),
            parent: Some(scope.chunk_id.clone()),
            start_line: line_of(node),
            end_line: node.end_position().row as u32 + 1,
            start_byte: node.start_byte(),
            end_byte: node.end_byte(),
            doc: doc_comment(node, comments, self.text),
        });
    }

    fn node_text(&self, node: Node<'_>) -> &'a str {
        &self.text[node.byte_range()]
    }
}

fn line_of(node: Node<'_>) -> u32 {
    node.start_position().row as u32 + 1
}

/// End of a type's header: the declaration up to its body's `{`, then every field, constant
/// and enum constant before the first method, constructor, initializer or nested type. With no
/// such member the whole declaration is the header. Returns the end byte and its 0-based row.
fn header_end(node: Node<'_>, body: Node<'_>) -> (usize, usize) {
    let mut end = (body.start_byte() + 1, body.start_position().row);
    let mut cursor = body.walk();
    for member in body.named_children(&mut cursor) {
        match member.kind() {
            "field_declaration" | "constant_declaration" | "enum_constant" => {
                end = (member.end_byte(), member.end_position().row);
            }
            "enum_body_declarations" => {
                let mut inner = member.walk();
                for member in member.named_children(&mut inner) {
                    match member.kind() {
                        "field_declaration" => end = (member.end_byte(), member.end_position().row),
                        "line_comment" | "block_comment" => {}
                        _ => return end,
                    }
                }
            }
            "line_comment" | "block_comment" => {}
            _ => return end,
        }
    }
    (node.end_byte(), node.end_position().row)
}

/// Parameter types as written, generic arguments and annotations removed, varargs as `T...`.
fn parameter_types(params: Node<'_>, text: &str) -> Vec<String> {
    let mut types = Vec::new();
    let mut cursor = params.walk();
    for param in params.named_children(&mut cursor) {
        match param.kind() {
            "formal_parameter" => {
                let Some(ty) = param.child_by_field_name("type") else {
                    continue;
                };
                let mut written = type_text(ty, text);
                // `String args[]`: dimensions written after the name.
                if let Some(dims) = param.child_by_field_name("dimensions") {
                    written.push_str(&type_text(dims, text));
                }
                types.push(written);
            }
            "spread_parameter" => {
                let mut cursor = param.walk();
                let ty = param
                    .named_children(&mut cursor)
                    .find(|n| !matches!(n.kind(), "modifiers" | "variable_declarator"));
                if let Some(ty) = ty {
                    types.push(format!("{}...", type_text(ty, text)));
                }
            }
            _ => {}
        }
    }
    types
}

fn type_text(node: Node<'_>, text: &str) -> String {
    let mut out = String::new();
    append_type_text(node, text, &mut out);
    out
}

/// Appends the leaves of a type as written, skipping generic arguments, annotations and
/// comments. Iterative: a qualified name of thousands of segments nests that deep.
fn append_type_text(node: Node<'_>, text: &str, out: &mut String) {
    let mut pending = vec![node];
    while let Some(node) = pending.pop() {
        match node.kind() {
            "type_arguments" | "annotation" | "marker_annotation" | "line_comment"
            | "block_comment" => {}
            _ if node.child_count() == 0 => out.push_str(&text[node.byte_range()]),
            _ => {
                let mut cursor = node.walk();
                let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
                pending.extend(children.into_iter().rev());
            }
        }
    }
}

fn package_name(root: Node<'_>, text: &str) -> Option<String> {
    let mut cursor = root.walk();
    let package = root
        .named_children(&mut cursor)
        .find(|n| n.kind() == "package_declaration")?;
    let mut cursor = package.walk();
    let name = package
        .named_children(&mut cursor)
        .find(|n| matches!(n.kind(), "scoped_identifier" | "identifier"))?;
    Some(text[name.byte_range()].split_whitespace().collect())
}

/// The comments directly above a declaration (no blank line between), markers stripped.
/// `comments` are the comment siblings right before `node`, in source order.
fn doc_comment(node: Node<'_>, comments: &[Node<'_>], text: &str) -> Option<String> {
    let mut lines = Vec::new();
    let mut next_row = node.start_position().row;
    for comment in comments.iter().rev() {
        if comment.end_position().row + 1 < next_row {
            break;
        }
        lines.push(clean_comment(&text[comment.byte_range()]));
        next_row = comment.start_position().row;
    }
    lines.reverse();
    let doc = lines.join("\n").trim().to_owned();
    (!doc.is_empty()).then_some(doc)
}

/// The lines of a comment without its markers (`/**`, `/*`, `*/`, `//`, leading `*`) and
/// blank lines: the one reading of a comment, for chunk docs here and for the analysis.
pub fn comment_lines(comment: &str) -> impl Iterator<Item = &str> {
    let body = comment
        .strip_prefix("/**")
        .or_else(|| comment.strip_prefix("/*"))
        .map(|c| c.strip_suffix("*/").unwrap_or(c))
        .unwrap_or(comment);
    body.lines()
        .map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("//").unwrap_or(line);
            let line = line.strip_prefix('*').unwrap_or(line);
            line.trim()
        })
        .filter(|line| !line.is_empty())
}

fn clean_comment(comment: &str) -> String {
    comment_lines(comment).collect::<Vec<_>>().join("\n")
}

/// At most this many syntax errors are reported per file; one broken brace can cascade.
const MAX_WARNINGS_PER_FILE: usize = 5;

fn syntax_warnings(path: &str, root: Node<'_>) -> Vec<SyntaxWarning> {
    let mut warnings = Vec::new();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if warnings.len() == MAX_WARNINGS_PER_FILE {
            break;
        }
        if node.is_error() || node.is_missing() {
            let message = if node.is_missing() {
                format!("syntax error: missing `{}`", node.kind())
            } else {
                "syntax error: code here could not be parsed; chunks around it are kept".to_owned()
            };
            warnings.push(SyntaxWarning {
                path: path.to_owned(),
                line: line_of(node),
                message,
            });
            continue;
        }
        if node.has_error() {
            let mut cursor = node.walk();
            let children: Vec<_> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }
    warnings.sort_by_key(|w| w.line);
    // A missing token and the error node it causes sit on the same line: report the line once.
    warnings.dedup_by_key(|w| w.line);
    warnings
}
