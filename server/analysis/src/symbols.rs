//! The symbol table of a workspace: every type, method and mapper statement, with the lookups
//! the later passes need (type names through imports, interface implementations, Spring bean
//! names, constant and enum values).
//!
//! Built once from the index and the parsed Java files; read-only afterwards. Lookups never
//! guess: a name that does not resolve through the file's package and imports is not resolved.

use std::collections::HashMap;

use tree_sitter::Tree;

use super::generated;
use super::sql::{SqlSummary, summarise};
use super::syntax::{FileFacts, Literal, MethodFacts, TypeFacts, TypeKind, decapitalize};
use acdp_index::Symbol;
use acdp_index::{ChunkId, ChunkKind, IndexedFile, WorkspaceIndex};

pub type TypeId = usize;
pub type MethodId = usize;
pub type StatementId = usize;

/// A parsed Java file.
pub struct JavaFile {
    /// Index into [`WorkspaceIndex::files`].
    pub file: usize,
    pub tree: Tree,
    pub facts: FileFacts,
    pub generated: bool,
}

pub struct TypeEntry {
    /// Index into [`Symbols::files`].
    pub file: usize,
    /// Index into that file's [`FileFacts::types`].
    pub index: usize,
    pub generated: bool,
    /// The Spring bean name: the stereotype's value, or the decapitalised class name.
    pub bean_name: String,
    /// Annotated as a Spring component (service, controller, repository, configuration ...).
    pub component: bool,
    pub chunk_id: Option<ChunkId>,
    pub methods: Vec<MethodId>,
}

pub struct MethodEntry {
    pub ty: TypeId,
    /// Index into the type's [`TypeFacts::methods`].
    pub index: usize,
    /// The chunk symbol (`pkg.Type.name(Param,...)`).
    pub symbol: String,
    pub chunk_id: Option<ChunkId>,
}

/// A MyBatis mapper statement (`namespace.id`).
pub struct Statement {
    pub symbol: String,
    pub namespace: String,
    pub id: String,
    /// Index into [`WorkspaceIndex::files`].
    pub file: usize,
    pub chunk_id: ChunkId,
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: usize,
    pub end_byte: usize,
    pub summary: SqlSummary,
    pub generated: bool,
}

/// Spring stereotypes that make a class a bean whose methods are flow steps.
const COMPONENTS: &[&str] = &[
    "Service",
    "Component",
    "Repository",
    "Controller",
    "RestController",
    "Configuration",
    "Mapper",
];

pub struct Symbols<'a> {
    pub index: &'a WorkspaceIndex,
    pub files: Vec<JavaFile>,
    pub types: Vec<TypeEntry>,
    pub methods: Vec<MethodEntry>,
    pub statements: Vec<Statement>,
    by_fqn: HashMap<String, TypeId>,
    impls: HashMap<TypeId, Vec<TypeId>>,
    statement_by_symbol: HashMap<String, StatementId>,
    /// Simple names of the project's own Bean Validation constraints: annotation types
    /// annotated `@Constraint` (`@FlagValidator`).
    pub custom_constraints: std::collections::HashSet<String>,
}

impl<'a> Symbols<'a> {
    pub fn build(
        index: &'a WorkspaceIndex,
        files: Vec<JavaFile>,
        generated_globs: &generated::GeneratedGlobs,
    ) -> Symbols<'a> {
        // Models with a MyBatis Generator criteria class next to them are generated too, even
        // when the generator was told to write no marker comments.
        let criteria_models: std::collections::HashSet<String> = index
            .files
            .iter()
            .filter(|f| generated::is_criteria_file(&f.path, &f.text))
            .filter_map(|f| {
                let name = f.path.rsplit('/').next()?.strip_suffix("Example.java")?;
                Some(name.to_owned())
            })
            .collect();
        let mut types = Vec::new();
        let mut methods = Vec::new();
        let mut by_fqn = HashMap::new();
        for (f, file) in files.iter().enumerate() {
            let indexed = &index.files[file.file];
            let chunk_at = |kind: ChunkKind, start: usize| {
                indexed
                    .chunks
                    .iter()
                    .find(|c| c.kind == kind && c.start_byte == start)
            };
            for (t, ty) in file.facts.types.iter().enumerate() {
                let stereotype = ty
                    .annotations
                    .iter()
                    .find(|a| COMPONENTS.contains(&a.name.as_str()));
                let bean_name = stereotype
                    .and_then(|a| a.string_arg("value"))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| decapitalize(&ty.simple_name));
                let generated = file.generated
                    || generated_globs.matches(&indexed.path)
                    || (ty.outer.is_none() && criteria_models.contains(&ty.simple_name))
                    || generated::is_generated_mapper(ty)
                    || generated::is_example_class(ty, &file.facts.types)
                    || ty.outer.is_some_and(|o| {
                        generated::is_example_class(&file.facts.types[o], &file.facts.types)
                    });
                let type_id = types.len();
                let mut method_ids = Vec::new();
                for (m, method) in ty.methods.iter().enumerate() {
                    let kind = if method.is_constructor {
                        ChunkKind::Constructor
                    } else {
                        ChunkKind::Method
                    };
                    let chunk = chunk_at(kind, method.start_byte);
                    let symbol = chunk.map(|c| c.symbol.clone()).unwrap_or_else(|| {
                        let params: Vec<&str> =
                            method.params.iter().map(|p| p.ty.as_str()).collect();
                        format!("{}.{}({})", ty.symbol, method.name, params.join(","))
                    });
                    method_ids.push(methods.len());
                    methods.push(MethodEntry {
                        ty: type_id,
                        index: m,
                        symbol,
                        chunk_id: chunk.map(|c| c.chunk_id.clone()),
                    });
                }
                by_fqn.insert(ty.symbol.clone(), type_id);
                types.push(TypeEntry {
                    file: f,
                    index: t,
                    generated,
                    bean_name,
                    component: stereotype.is_some(),
                    chunk_id: chunk_at(ChunkKind::TypeHeader, ty.start_byte)
                        .map(|c| c.chunk_id.clone()),
                    methods: method_ids,
                });
            }
        }

        let mut statements = Vec::new();
        for (f, file) in index.files.iter().enumerate() {
            for chunk in &file.chunks {
                if chunk.kind != ChunkKind::MapperStatement {
                    continue;
                }
                let text = chunk.text(&file.text);
                let tag: String = text
                    .trim_start_matches('<')
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                let Some((namespace, id)) = chunk.symbol.rsplit_once('.') else {
                    continue;
                };
                statements.push(Statement {
                    symbol: chunk.symbol.clone(),
                    namespace: namespace.to_owned(),
                    id: id.to_owned(),
                    file: f,
                    chunk_id: chunk.chunk_id.clone(),
                    start_line: chunk.start_line,
                    end_line: chunk.end_line,
                    start_byte: chunk.start_byte,
                    end_byte: chunk.end_byte,
                    summary: summarise(&tag, text),
                    generated: generated::has_generated_marker(text)
                        || generated::is_generated_mapper_xml(&file.text)
                        || generated_globs.matches(&file.path),
                });
            }
        }
        let statement_by_symbol = statements
            .iter()
            .enumerate()
            .map(|(i, s)| (s.symbol.clone(), i))
            .collect();

        let mut symbols = Symbols {
            index,
            files,
            types,
            methods,
            statements,
            by_fqn,
            impls: HashMap::new(),
            statement_by_symbol,
            custom_constraints: Default::default(),
        };
        let mut impls: HashMap<TypeId, Vec<TypeId>> = HashMap::new();
        for t in 0..symbols.types.len() {
            let facts = symbols.type_facts(t);
            if facts.kind == TypeKind::Interface {
                continue;
            }
            let mut supers: Vec<TypeId> = Vec::new();
            for name in &facts.interfaces {
                if let Some(i) = symbols.resolve_type(t, name) {
                    supers.push(i);
                }
            }
            // Interfaces extended by those interfaces are implemented too.
            let mut k = 0;
            while k < supers.len() {
                let i = supers[k];
                for name in &symbols.type_facts(i).interfaces {
                    if let Some(parent) = symbols.resolve_type(i, name)
                        && !supers.contains(&parent)
                    {
                        supers.push(parent);
                    }
                }
                k += 1;
            }
            for i in supers {
                impls.entry(i).or_default().push(t);
            }
        }
        for list in impls.values_mut() {
            list.sort_by(|&a, &b| {
                symbols
                    .type_facts(a)
                    .simple_name
                    .cmp(&symbols.type_facts(b).simple_name)
            });
        }
        symbols.impls = impls;
        symbols.custom_constraints = (0..symbols.types.len())
            .map(|t| symbols.type_facts(t))
            .filter(|f| f.kind == TypeKind::Annotation && f.annotation("Constraint").is_some())
            .map(|f| f.simple_name.clone())
            .collect();
        symbols
    }

    pub fn type_facts(&self, t: TypeId) -> &TypeFacts {
        let entry = &self.types[t];
        &self.files[entry.file].facts.types[entry.index]
    }

    pub fn file_facts(&self, t: TypeId) -> &FileFacts {
        &self.files[self.types[t].file].facts
    }

    pub fn indexed_file(&self, t: TypeId) -> &IndexedFile {
        &self.index.files[self.files[self.types[t].file].file]
    }

    pub fn text(&self, t: TypeId) -> &str {
        &self.indexed_file(t).text
    }

    pub fn path(&self, t: TypeId) -> &str {
        &self.indexed_file(t).path
    }

    pub fn tree(&self, t: TypeId) -> &Tree {
        &self.files[self.types[t].file].tree
    }

    pub fn method_facts(&self, m: MethodId) -> &MethodFacts {
        let entry = &self.methods[m];
        &self.type_facts(entry.ty).methods[entry.index]
    }

    /// `Type.method`, how statements name a method.
    pub fn short_name(&self, m: MethodId) -> String {
        format!(
            "{}.{}",
            self.type_facts(self.methods[m].ty).simple_name,
            self.method_facts(m).name
        )
    }

    pub fn type_by_fqn(&self, fqn: &str) -> Option<TypeId> {
        self.by_fqn.get(fqn).copied()
    }

    pub fn statement(&self, symbol: &str) -> Option<StatementId> {
        self.statement_by_symbol.get(symbol).copied()
    }

    /// Classes implementing an interface (directly or through sub-interfaces), by simple name.
    pub fn implementations(&self, t: TypeId) -> &[TypeId] {
        self.impls.get(&t).map_or(&[], Vec::as_slice)
    }

    /// Resolves a type name as written in the file of `context`: nested types, single-type
    /// imports, the package, wildcard imports, then qualified names.
    pub fn resolve_type(&self, context: TypeId, name: &str) -> Option<TypeId> {
        let name = name.trim_end_matches("[]").trim_end_matches("...");
        if name.is_empty() {
            return None;
        }
        let (first, rest) = match name.split_once('.') {
            Some((first, rest)) => (first, Some(rest)),
            None => (name, None),
        };
        let head = self.resolve_simple(context, first);
        match (head, rest) {
            (Some(t), None) => Some(t),
            (Some(t), Some(rest)) => {
                self.type_by_fqn(&format!("{}.{rest}", self.type_facts(t).symbol))
            }
            (None, Some(_)) => self.type_by_fqn(name),
            (None, None) => None,
        }
    }

    fn resolve_simple(&self, context: TypeId, name: &str) -> Option<TypeId> {
        let file = self.file_facts(context);
        // The type itself, its nested types and those of its outer types.
        let mut scope = Some(self.types[context].index);
        while let Some(s) = scope {
            let facts = &file.types[s];
            if facts.simple_name == name {
                return self.type_by_fqn(&facts.symbol);
            }
            if let Some(t) = self.type_by_fqn(&format!("{}.{name}", facts.symbol)) {
                return Some(t);
            }
            scope = facts.outer;
        }
        for import in &file.imports {
            if import.rsplit('.').next() == Some(name) {
                return self.type_by_fqn(import);
            }
        }
        let local = if file.package.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", file.package)
        };
        if let Some(t) = self.type_by_fqn(&local) {
            return Some(t);
        }
        file.wildcard_imports
            .iter()
            .find_map(|pkg| self.type_by_fqn(&format!("{pkg}.{name}")))
    }

    /// The supertypes of a type that are in the project, nearest first.
    pub fn superclasses(&self, t: TypeId) -> Vec<TypeId> {
        let mut out = Vec::new();
        let mut current = t;
        while let Some(name) = &self.type_facts(current).superclass {
            match self.resolve_type(current, name) {
                Some(parent) if !out.contains(&parent) && parent != t => {
                    out.push(parent);
                    current = parent;
                }
                _ => break,
            }
        }
        out
    }

    /// Every project supertype of `t` (superclasses and interfaces, transitively), nearest
    /// first: the types whose declarations a method or class inherits annotations from.
    pub fn supertypes(&self, t: TypeId) -> Vec<TypeId> {
        let mut out: Vec<TypeId> = Vec::new();
        let mut queue = std::collections::VecDeque::from([t]);
        while let Some(current) = queue.pop_front() {
            let facts = self.type_facts(current);
            let names = facts.superclass.iter().chain(facts.interfaces.iter());
            for name in names {
                if let Some(parent) = self.resolve_type(current, name)
                    && parent != t
                    && !out.contains(&parent)
                {
                    out.push(parent);
                    queue.push_back(parent);
                }
            }
        }
        out
    }

    /// The methods of project supertypes that `m` overrides or implements: same name and the
    /// same parameter types as written (simple names), nearest type first.
    pub fn overridden(&self, m: MethodId) -> Vec<MethodId> {
        let facts = self.method_facts(m);
        if facts.is_constructor || facts.is_static || facts.is_private {
            return Vec::new();
        }
        let signature = member_signature(&self.methods[m].symbol);
        self.supertypes(self.methods[m].ty)
            .into_iter()
            .flat_map(|t| self.types[t].methods.iter().copied())
            .filter(|&other| member_signature(&self.methods[other].symbol) == signature)
            .collect()
    }

    /// An annotation as Spring finds it for a method: on the method, on its class, on the
    /// methods it overrides or implements (interface methods), then on those supertypes.
    /// Spring's proxies do not apply annotations to private or static methods: none then.
    pub fn effective_annotation(&self, m: MethodId, name: &str) -> Option<AnnotationSite<'_>> {
        let facts = self.method_facts(m);
        // Not even the method's own: a proxy never sees a private or static method.
        if facts.is_private || facts.is_static || facts.is_constructor {
            return None;
        }
        if let Some(a) = facts.annotation(name) {
            return Some(AnnotationSite {
                annotation: a,
                on: AnnotatedDeclaration::Method(m),
            });
        }
        let ty = self.methods[m].ty;
        if let Some(a) = self.type_facts(ty).annotation(name) {
            return Some(AnnotationSite {
                annotation: a,
                on: AnnotatedDeclaration::Type(ty),
            });
        }
        let overridden = self.overridden(m);
        if let Some((a, over)) = overridden
            .iter()
            .find_map(|&o| self.method_facts(o).annotation(name).map(|a| (a, o)))
        {
            return Some(AnnotationSite {
                annotation: a,
                on: AnnotatedDeclaration::Method(over),
            });
        }
        self.supertypes(ty).into_iter().find_map(|t| {
            self.type_facts(t).annotation(name).map(|a| AnnotationSite {
                annotation: a,
                on: AnnotatedDeclaration::Type(t),
            })
        })
    }

    /// Methods named `name` taking `arity` arguments, declared in `t` or inherited from project
    /// superclasses and interfaces.
    pub fn find_methods(&self, t: TypeId, name: &str, arity: usize) -> Vec<MethodId> {
        let mut chain = vec![t];
        chain.extend(self.superclasses(t));
        for &ty in &chain {
            let found: Vec<MethodId> = self.types[ty]
                .methods
                .iter()
                .copied()
                .filter(|&m| {
                    let facts = self.method_facts(m);
                    !facts.is_constructor && facts.name == name && arity_matches(facts, arity)
                })
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        for &ty in &chain {
            for iface in &self.type_facts(ty).interfaces {
                if let Some(i) = self.resolve_type(ty, iface)
                    && i != t
                {
                    let found = self.find_methods(i, name, arity);
                    if !found.is_empty() {
                        return found;
                    }
                }
            }
        }
        Vec::new()
    }

    /// The value of a constant reference written in the code of `context` (`MAX`,
    /// `Type.MAX`, `Type.CONST` of an enum), following references between constants.
    pub fn constant_value(&self, context: TypeId, reference: &str) -> Option<Literal> {
        self.constant_value_depth(context, reference, 0)
    }

    fn constant_value_depth(
        &self,
        context: TypeId,
        reference: &str,
        depth: u32,
    ) -> Option<Literal> {
        if depth > 4 {
            return None;
        }
        let (owner, name) = match reference.rsplit_once('.') {
            Some((ty, name)) => (self.resolve_type(context, ty)?, name),
            None => (self.constant_owner(context, reference)?, reference),
        };
        let facts = self.type_facts(owner);
        if let Some(constant) = facts.enum_constants.iter().find(|c| c.name == name) {
            return constant.int_value().map(Literal::Int);
        }
        let field = facts
            .field(name)
            .filter(|f| f.is_static || facts.kind == TypeKind::Interface)?;
        match field.value.as_ref()? {
            Literal::Ref(r) => self.constant_value_depth(owner, r, depth + 1),
            value => Some(value.clone()),
        }
    }

    /// The type (context, its outer types or superclasses) that declares an unqualified
    /// constant.
    fn constant_owner(&self, context: TypeId, name: &str) -> Option<TypeId> {
        let mut candidates = vec![context];
        candidates.extend(self.superclasses(context));
        let file = self.file_facts(context);
        let mut outer = self.type_facts(context).outer;
        while let Some(o) = outer {
            if let Some(t) = self.type_by_fqn(&file.types[o].symbol) {
                candidates.push(t);
            }
            outer = file.types[o].outer;
        }
        candidates.into_iter().find(|&t| {
            let facts = self.type_facts(t);
            facts.field(name).is_some() || facts.enum_constants.iter().any(|c| c.name == name)
        })
    }

    /// The project type a statement namespace names (the mapper interface).
    pub fn mapper_statement(&self, t: TypeId, method: &str) -> Option<StatementId> {
        self.statement(&format!("{}.{method}", self.type_facts(t).symbol))
    }
}

/// Where an annotation that applies to a method is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnotatedDeclaration {
    Method(MethodId),
    Type(TypeId),
}

#[derive(Clone, Copy, Debug)]
pub struct AnnotationSite<'s> {
    pub annotation: &'s super::syntax::Annotation,
    pub on: AnnotatedDeclaration,
}

/// `name(P1,P2)` of a method symbol `pkg.Type.name(P1,P2)`.
pub fn member_signature(symbol: &str) -> &str {
    Symbol::parse(symbol).signature()
}

fn arity_matches(method: &MethodFacts, arity: usize) -> bool {
    let varargs = method.params.last().is_some_and(|p| p.ty.ends_with("..."));
    method.params.len() == arity || (varargs && arity + 1 >= method.params.len())
}
