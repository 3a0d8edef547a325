//! The call graph: every method invocation in a method body, resolved to project methods or
//! mapper statements.
//!
//! Resolution follows what Spring and MyBatis do at run time, as far as the source says it:
//! the receiver's declared type (local variable, parameter, field, `this`, a resolved call's
//! return type, a class name for static calls), injected interface fields to their single
//! implementation or to the bean named by `@Qualifier`/`@Resource(name)`/the field name,
//! interface calls with several candidate implementations to all of them (marked), and mapper
//! interface methods to the `namespace.id` statement of their mapper XML. A call whose receiver
//! type is outside the project (JDK, libraries) is *external*; one whose receiver type cannot
//! be told is *unresolved*. Neither is guessed.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;
use tree_sitter::Node;

use super::symbols::{MethodId, StatementId, Symbols, TypeId};
use super::syntax::{TypeKind, first_string_literal, node_text, simple_type_name};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Method(MethodId),
    Statement(StatementId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Resolved,
    External,
    Unresolved,
}

#[derive(Clone, Debug)]
pub struct CallSite {
    pub start: usize,
    pub end: usize,
    pub name: String,
    pub targets: Vec<Target>,
    pub resolution: Resolution,
    /// The targets are every implementation of an interface picked at run time.
    pub all_impls: bool,
    /// Byte ranges of the arguments.
    pub args: Vec<(usize, usize)>,
}

/// What is known about one method body.
#[derive(Clone, Debug, Default)]
pub struct MethodBody {
    /// Parameters and local variables with their simple type names.
    pub locals: HashMap<String, String>,
    /// Calls in evaluation order (receiver and arguments before the call).
    pub calls: Vec<CallSite>,
}

impl MethodBody {
    pub fn call_at(&self, start: usize) -> Option<&CallSite> {
        self.calls.iter().find(|c| c.start == start)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CallGraphStats {
    pub call_sites: usize,
    /// Calls to project methods or mapper statements.
    pub resolved: usize,
    /// Calls on types outside the project (JDK, libraries).
    pub external: usize,
    /// Calls whose receiver type could not be determined.
    pub unresolved: usize,
    /// Calls fanned out to every implementation of an interface.
    pub to_all_implementations: usize,
    pub to_mapper_statements: usize,
}

pub struct CallGraph {
    /// One per method, indexed by [`MethodId`].
    pub bodies: Vec<MethodBody>,
    pub callers: HashMap<MethodId, Vec<MethodId>>,
    pub stats: CallGraphStats,
}

pub fn build(symbols: &Symbols<'_>) -> CallGraph {
    let bodies: Vec<MethodBody> = (0..symbols.methods.len())
        .into_par_iter()
        .map(|m| read_body(symbols, m))
        .collect();
    let mut stats = CallGraphStats::default();
    let mut callers: HashMap<MethodId, Vec<MethodId>> = HashMap::new();
    for (m, body) in bodies.iter().enumerate() {
        for call in &body.calls {
            stats.call_sites += 1;
            match call.resolution {
                Resolution::Resolved => stats.resolved += 1,
                Resolution::External => stats.external += 1,
                Resolution::Unresolved => stats.unresolved += 1,
            }
            stats.to_all_implementations += usize::from(call.all_impls);
            for target in &call.targets {
                match *target {
                    Target::Method(callee) => {
                        let list = callers.entry(callee).or_default();
                        if !list.contains(&m) {
                            list.push(m);
                        }
                    }
                    Target::Statement(_) => stats.to_mapper_statements += 1,
                }
            }
        }
    }
    CallGraph {
        bodies,
        callers,
        stats,
    }
}

/// Finds the syntax node of a method of the symbol table.
pub fn method_node<'t>(symbols: &'t Symbols<'_>, m: MethodId) -> Option<Node<'t>> {
    let facts = symbols.method_facts(m);
    let ty = symbols.methods[m].ty;
    let root = symbols.tree(ty).root_node();
    let mut node = root.descendant_for_byte_range(facts.start_byte, facts.end_byte)?;
    while node.start_byte() != facts.start_byte
        || node.end_byte() != facts.end_byte
        || !node.kind().contains("declaration")
    {
        node = node.parent()?;
    }
    Some(node)
}

fn read_body(symbols: &Symbols<'_>, m: MethodId) -> MethodBody {
    let facts = symbols.method_facts(m);
    let mut body = MethodBody::default();
    for p in &facts.params {
        body.locals.insert(p.name.clone(), p.ty.clone());
    }
    let Some(node) = method_node(symbols, m) else {
        return body;
    };
    let Some(block) = node.child_by_field_name("body") else {
        return body;
    };
    let ty = symbols.methods[m].ty;
    let text = symbols.text(ty);
    collect_locals(block, text, &mut body.locals);
    let resolver = Resolver {
        symbols,
        ty,
        text,
        locals: &body.locals,
    };
    let mut calls = Vec::new();
    resolver.collect_calls(block, &mut calls);
    body.calls = calls;
    body
}

fn collect_locals(node: Node<'_>, text: &str, locals: &mut HashMap<String, String>) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        match n.kind() {
            "local_variable_declaration" => {
                if let Some(ty) = n.child_by_field_name("type") {
                    let ty = simple_type_name(node_text(ty, text));
                    let mut cursor = n.walk();
                    for d in n.children_by_field_name("declarator", &mut cursor) {
                        if let Some(name) = d.child_by_field_name("name") {
                            locals
                                .entry(node_text(name, text).to_owned())
                                .or_insert_with(|| ty.clone());
                        }
                    }
                }
            }
            "enhanced_for_statement" | "catch_formal_parameter" | "resource" => {
                if let (Some(ty), Some(name)) =
                    (n.child_by_field_name("type"), n.child_by_field_name("name"))
                {
                    locals
                        .entry(node_text(name, text).to_owned())
                        .or_insert_with(|| simple_type_name(node_text(ty, text)));
                }
            }
            _ => {}
        }
        let mut cursor = n.walk();
        for child in n.named_children(&mut cursor) {
            stack.push(child);
        }
    }
}

/// The static type of an expression, as far as it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ExprType {
    Project(TypeId),
    External,
    Unknown,
}

struct Resolver<'s, 'a> {
    symbols: &'s Symbols<'a>,
    ty: TypeId,
    text: &'s str,
    locals: &'s HashMap<String, String>,
}

impl Resolver<'_, '_> {
    fn collect_calls(&self, node: Node<'_>, out: &mut Vec<CallSite>) {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            // Local and anonymous classes have their own `this`.
            if child.kind() == "class_body" {
                continue;
            }
            self.collect_calls(child, out);
        }
        if node.kind() == "method_invocation" {
            out.push(self.resolve_call(node));
        }
    }

    fn resolve_call(&self, node: Node<'_>) -> CallSite {
        let name = node
            .child_by_field_name("name")
            .map(|n| node_text(n, self.text).to_owned())
            .unwrap_or_default();
        let args: Vec<(usize, usize)> = node
            .child_by_field_name("arguments")
            .map(|a| {
                let mut c = a.walk();
                a.named_children(&mut c)
                    .filter(|n| !n.is_extra())
                    .map(|n| (n.start_byte(), n.end_byte()))
                    .collect()
            })
            .unwrap_or_default();
        let mut site = CallSite {
            start: node.start_byte(),
            end: node.end_byte(),
            name: name.clone(),
            targets: Vec::new(),
            resolution: Resolution::Unresolved,
            all_impls: false,
            args,
        };
        let arity = site.args.len();
        let receiver = node.child_by_field_name("object");
        let (receiver_type, qualifier) = match receiver {
            None => {
                // Own methods, inherited ones, then those of enclosing classes.
                let own = self.symbols.find_methods(self.ty, &name, arity);
                if !own.is_empty() {
                    site.targets = own.into_iter().take(1).map(Target::Method).collect();
                    site.resolution = Resolution::Resolved;
                    return site;
                }
                let file = self.symbols.file_facts(self.ty);
                let mut outer = self.symbols.type_facts(self.ty).outer;
                while let Some(o) = outer {
                    if let Some(t) = self.symbols.type_by_fqn(&file.types[o].symbol) {
                        let found = self.symbols.find_methods(t, &name, arity);
                        if let Some(&first) = found.first() {
                            site.targets = vec![Target::Method(first)];
                            site.resolution = Resolution::Resolved;
                            return site;
                        }
                    }
                    outer = file.types[o].outer;
                }
                if let Some(import) = file
                    .static_imports
                    .iter()
                    .find(|i| i.rsplit('.').next() == Some(name.as_str()))
                    && let Some((owner, _)) = import.rsplit_once('.')
                {
                    match self.symbols.type_by_fqn(owner) {
                        Some(t) => (ExprType::Project(t), None),
                        None => (ExprType::External, None),
                    }
                } else if self.symbols.type_facts(self.ty).superclass.is_some()
                    && self.symbols.superclasses(self.ty).is_empty()
                {
                    // Inherited from a library superclass (e.g. a MyBatis-Plus ServiceImpl).
                    (ExprType::External, None)
                } else {
                    (ExprType::Unknown, None)
                }
            }
            Some(receiver) => (self.expr_type(receiver), self.qualifier_of(receiver)),
        };
        match receiver_type {
            ExprType::External => site.resolution = Resolution::External,
            ExprType::Unknown => site.resolution = Resolution::Unresolved,
            ExprType::Project(t) => {
                self.resolve_on_type(&mut site, t, qualifier.as_deref(), receiver)
            }
        }
        site
    }

    fn resolve_on_type(
        &self,
        site: &mut CallSite,
        t: TypeId,
        qualifier: Option<&str>,
        receiver: Option<Node<'_>>,
    ) {
        let symbols = self.symbols;
        let facts = symbols.type_facts(t);
        if facts.kind == TypeKind::Interface {
            if let Some(statement) = symbols.mapper_statement(t, &site.name) {
                site.targets = vec![Target::Statement(statement)];
                site.resolution = Resolution::Resolved;
                return;
            }
            let declared = symbols.find_methods(t, &site.name, site.args.len());
            if declared.is_empty() {
                // Inherited from a library interface (`BaseMapper`, `JpaRepository` ...).
                site.resolution = Resolution::External;
                return;
            }
            let impls = symbols.implementations(t);
            let chosen: Vec<_> = match qualifier.and_then(|q| {
                impls
                    .iter()
                    .copied()
                    .find(|&i| symbols.types[i].bean_name == q)
            }) {
                Some(one) => vec![one],
                None => impls.to_vec(),
            };
            let mut targets = Vec::new();
            for i in &chosen {
                if let Some(&m) = symbols
                    .find_methods(*i, &site.name, site.args.len())
                    .first()
                {
                    targets.push(Target::Method(m));
                }
            }
            if targets.is_empty() {
                // No implementation in the project: the interface method itself (a mapper
                // with annotated SQL, a Feign client ...).
                targets.push(Target::Method(declared[0]));
            }
            site.all_impls = targets.len() > 1;
            site.targets = targets;
            site.resolution = Resolution::Resolved;
            let _ = receiver;
            return;
        }
        let found = symbols.find_methods(t, &site.name, site.args.len());
        match found.first() {
            Some(&m) => {
                site.targets = vec![Target::Method(m)];
                site.resolution = Resolution::Resolved;
            }
            None => {
                // Enum built-ins and methods inherited from library classes.
                site.resolution = Resolution::External;
            }
        }
    }

    /// The bean name a field receiver asks for: `@Qualifier("x")`, `@Resource(name = "x")`,
    /// or else the field name (Spring's fallback when several beans match).
    fn qualifier_of(&self, receiver: Node<'_>) -> Option<String> {
        let name = match receiver.kind() {
            "identifier" => node_text(receiver, self.text),
            "field_access"
                if receiver
                    .child_by_field_name("object")
                    .is_some_and(|o| o.kind() == "this") =>
            {
                node_text(receiver.child_by_field_name("field")?, self.text)
            }
            _ => return None,
        };
        if self.locals.contains_key(name) {
            return None;
        }
        let field = self.field(name)?;
        for a in &field.annotations {
            match a.name.as_str() {
                "Qualifier" => return a.arg("value").and_then(first_string_literal),
                "Resource" => {
                    if let Some(n) = a.arg("name").and_then(first_string_literal) {
                        return Some(n);
                    }
                }
                _ => {}
            }
        }
        Some(field.name.clone())
    }

    fn field(&self, name: &str) -> Option<&super::syntax::FieldFacts> {
        let mut chain = vec![self.ty];
        chain.extend(self.symbols.superclasses(self.ty));
        let file = self.symbols.file_facts(self.ty);
        let mut outer = self.symbols.type_facts(self.ty).outer;
        while let Some(o) = outer {
            if let Some(t) = self.symbols.type_by_fqn(&file.types[o].symbol) {
                chain.push(t);
            }
            outer = file.types[o].outer;
        }
        chain
            .into_iter()
            .find_map(|t| self.symbols.type_facts(t).field(name))
    }

    fn type_named(&self, name: &str) -> ExprType {
        // `var x = ...` (Java 10): the type is the initializer's, which is not read here; a
        // library type named `var` cannot exist, so it must not count as external.
        if name == "var" {
            return ExprType::Unknown;
        }
        match self.symbols.resolve_type(self.ty, name) {
            Some(t) => ExprType::Project(t),
            None => ExprType::External,
        }
    }

    fn expr_type(&self, node: Node<'_>) -> ExprType {
        match node.kind() {
            "identifier" => {
                let name = node_text(node, self.text);
                if let Some(ty) = self.locals.get(name) {
                    return self.type_named(ty);
                }
                if let Some(field) = self.field(name) {
                    return self.type_named(&field.ty);
                }
                if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    // A class name: a static call.
                    return self.type_named(name);
                }
                ExprType::Unknown
            }
            "this" => ExprType::Project(self.ty),
            "super" => match self.symbols.superclasses(self.ty).first() {
                Some(&t) => ExprType::Project(t),
                None => ExprType::External,
            },
            "field_access" => {
                let Some(object) = node.child_by_field_name("object") else {
                    return ExprType::Unknown;
                };
                let Some(field) = node.child_by_field_name("field") else {
                    return ExprType::Unknown;
                };
                let field = node_text(field, self.text);
                if object.kind() == "this" {
                    return match self.field(field) {
                        Some(f) => self.type_named(&f.ty),
                        None => ExprType::Unknown,
                    };
                }
                // `Type.CONSTANT` or `pkg.Type`.
                let written = node_text(node, self.text);
                if let Some(t) = self.symbols.resolve_type(self.ty, written) {
                    return ExprType::Project(t);
                }
                match self.expr_type(object) {
                    ExprType::Project(t) => {
                        let facts = self.symbols.type_facts(t);
                        if facts.enum_constants.iter().any(|c| c.name == field) {
                            return ExprType::Project(t);
                        }
                        match facts.field(field) {
                            Some(f) => self.type_named_in(t, &f.ty),
                            None => ExprType::Unknown,
                        }
                    }
                    other => other,
                }
            }
            "method_invocation" => {
                let site = self.resolve_call(node);
                match (site.resolution, site.targets.first()) {
                    (Resolution::Resolved, Some(Target::Method(m))) => {
                        let facts = self.symbols.method_facts(*m);
                        match &facts.return_type {
                            Some(ret) => self.type_named_in(self.symbols.methods[*m].ty, ret),
                            None => ExprType::Unknown,
                        }
                    }
                    (Resolution::Resolved, Some(Target::Statement(_))) => ExprType::External,
                    (Resolution::External, _) => ExprType::External,
                    _ => ExprType::Unknown,
                }
            }
            "object_creation_expression" => match node.child_by_field_name("type") {
                Some(ty) => self.type_named(&simple_type_name(node_text(ty, self.text))),
                None => ExprType::Unknown,
            },
            "string_literal" => ExprType::External,
            "parenthesized_expression" => match node.named_child(0) {
                Some(inner) => self.expr_type(inner),
                None => ExprType::Unknown,
            },
            "cast_expression" => match node.child_by_field_name("type") {
                Some(ty) => self.type_named(&simple_type_name(node_text(ty, self.text))),
                None => ExprType::Unknown,
            },
            "array_access" => ExprType::Unknown,
            _ => ExprType::Unknown,
        }
    }

    /// A type name as written in another type's file (a field or return type).
    fn type_named_in(&self, context: TypeId, name: &str) -> ExprType {
        if matches!(
            name,
            "void" | "int" | "long" | "boolean" | "double" | "float" | "char" | "byte" | "short"
        ) {
            return ExprType::External;
        }
        match self.symbols.resolve_type(context, name) {
            Some(t) => ExprType::Project(t),
            None => ExprType::External,
        }
    }
}
