//! Flows: from each entry point (HTTP endpoint, `@Scheduled` job, message listener) the ordered
//! steps through services down to mapper statements.
//!
//! Steps are the project methods of Spring components (and their private helpers) and the
//! mapper statements reached, depth-first in evaluation order, each at its first occurrence.
//! Calls to several implementations of an interface list each implementation (alphabetical)
//! followed by its own steps. Getters and setters, static helpers of non-component classes,
//! enums and library calls are not steps.

use serde::Serialize;

use super::call_graph::{CallGraph, Target};
use super::domain_assignment::DomainAssignment;
use super::paths::{Context, MethodPaths, Path};
use super::symbols::{MethodId, Symbols, TypeId};
use super::syntax::{Annotation, first_string_literal};
use acdp_index::ChunkId;
use acdp_index::Symbol;

#[derive(Clone, Debug, Serialize)]
pub struct FlowEntry {
    /// `http`, `scheduled` or `listener`.
    pub kind: String,
    pub verb: Option<String>,
    pub path: Option<String>,
    pub symbol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<String>,
    /// Listener destinations (queues, topics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    pub chunk_id: Option<ChunkId>,
    /// Access-control annotations that apply to the entry (on the method, its class or what it
    /// implements), as written: `@PreAuthorize("hasAuthority('pms:brand:create')")`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<String>,
    /// The chunks those annotations are written in, when not the entry's own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_chunks: Vec<ChunkId>,
    /// The object an HTTP handler binds from the request (`@RequestBody`, or a parameter it
    /// asks to validate), when its type is declared in the project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<BoundBody>,
    /// Whether the handler's class is annotated `@Validated` (Spring's method validation checks
    /// the constraints on its parameters before it runs); `None` when only a supertype is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_validation: Option<bool>,
}

/// A handler parameter bound from the request, and whether Spring validates it on binding.
#[derive(Clone, Debug, Serialize)]
pub struct BoundBody {
    /// The parameter's type, fully qualified.
    pub type_symbol: String,
    pub parameter: String,
    /// `@RequestBody` (JSON body) rather than form or query binding.
    pub request_body: bool,
    /// `@Valid` or `@Validated` on the parameter: Spring MVC checks the type's constraints
    /// before the handler runs; without it they are not checked on binding. `None` when the
    /// handler's class has supertypes, whose declarations of the parameter Spring also reads,
    /// or when a `BindingResult` parameter takes the violations (the handler then runs).
    pub validated: Option<bool>,
    /// The annotation that asks for it, as written (`Valid` or `Validated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validated_by: Option<String>,
    /// `@Validated(Group.class)`: only the constraints of those groups are checked.
    pub groups: bool,
}

/// Access-control annotations of Spring Security, Jakarta, Shiro and Sa-Token.
const SECURITY: &[&str] = &[
    "PreAuthorize",
    "PostAuthorize",
    "Secured",
    "RolesAllowed",
    "PermitAll",
    "DenyAll",
    "RequiresPermissions",
    "RequiresRoles",
    "RequiresAuthentication",
    "RequiresUser",
    "RequiresGuest",
    "SaCheckPermission",
    "SaCheckRole",
    "SaCheckLogin",
];

/// The access-control annotations Spring applies to `m`, with the chunk of each declaration
/// other than `m`'s own.
fn security_of(symbols: &Symbols<'_>, m: MethodId) -> (Vec<String>, Vec<ChunkId>) {
    use super::symbols::AnnotatedDeclaration;
    let mut texts = Vec::new();
    let mut chunks = Vec::new();
    for name in SECURITY {
        let Some(site) = symbols.effective_annotation(m, name) else {
            continue;
        };
        texts.push(site.annotation.text.clone());
        let chunk = match site.on {
            AnnotatedDeclaration::Method(o) if o == m => None,
            AnnotatedDeclaration::Method(o) => symbols.methods[o].chunk_id.clone(),
            AnnotatedDeclaration::Type(t) => symbols.types[t].chunk_id.clone(),
        };
        if let Some(c) = chunk
            && !chunks.contains(&c)
        {
            chunks.push(c);
        }
    }
    (texts, chunks)
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowStep {
    pub symbol: String,
    /// `method` or `statement`.
    pub kind: String,
    /// Call depth below the entry point (1 = called by the entry).
    pub depth: u32,
    pub path: String,
    pub chunk_id: Option<ChunkId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_columns: Vec<String>,
    /// Reached through one of several implementations picked at run time.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub alternative: bool,
    /// The method whose body makes this call.
    pub called_from: String,
    /// Where in that body the call is: the conditions under which it happens (an `if` arm, a
    /// ternary arm, after guards) and its context (a loop, a `catch`, work handed to another
    /// thread, an `@Async` method). Unconditional calls have no conditions and no context.
    #[serde(skip_serializing_if = "Path::is_plain")]
    pub when: Path,
    /// What must hold for `called_from` itself to run, accumulated over the call sites from the
    /// entry point down to it (conditions and context in the callers above).
    #[serde(skip_serializing_if = "Path::is_plain")]
    pub outer: Path,
    /// Other methods that call this step too (it is listed once, at its first call): a trace
    /// that lists it once must say it runs again from there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_called_from: Vec<String>,
}

impl FlowStep {
    /// Runs on every run of the flow that gets this far: no condition here or above.
    pub fn is_unconditional(&self) -> bool {
        self.when.is_unconditional() && self.outer.is_unconditional()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Flow {
    /// `f` + 12 hex digits of blake3 of the entry symbol.
    pub flow_id: String,
    pub domain: String,
    pub entry: FlowEntry,
    pub steps: Vec<FlowStep>,
    /// The entry's path and symbol, repeated for uniform records.
    pub path: String,
    pub symbol: String,
    /// The entry chunk and every step's chunk, in order.
    pub chunk_ids: Vec<ChunkId>,
    /// Calls on the way whose target could not be told (`Caller.method: name`): what the flow
    /// does there is unknown, so "the flow never writes X" holds only when this is empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unresolved_calls: Vec<String>,
}

const MAPPINGS: &[(&str, Option<&str>)] = &[
    ("GetMapping", Some("GET")),
    ("PostMapping", Some("POST")),
    ("PutMapping", Some("PUT")),
    ("DeleteMapping", Some("DELETE")),
    ("PatchMapping", Some("PATCH")),
    ("RequestMapping", None),
];
const LISTENERS: &[&str] = &[
    "RabbitListener",
    "KafkaListener",
    "JmsListener",
    "SqsListener",
    "StreamListener",
    "EventListener",
];

pub fn extract(symbols: &Symbols<'_>, graph: &CallGraph, domains: &DomainAssignment) -> Vec<Flow> {
    let mut flows = Vec::new();
    for (m, entry) in symbols.methods.iter().enumerate() {
        let t = entry.ty;
        let facts = symbols.method_facts(m);
        let ty = symbols.type_facts(t);
        let kind_entry = if let Some((verb, path)) = http_mapping(symbols, t, &facts.annotations) {
            Some(FlowEntry {
                kind: "http".into(),
                verb: Some(verb),
                path: Some(path),
                symbol: entry.symbol.clone(),
                timing: None,
                destination: None,
                chunk_id: entry.chunk_id.clone(),
                security: Vec::new(),
                security_chunks: Vec::new(),
                body: bound_body(symbols, t, &facts.params),
                method_validation: if symbols.type_facts(t).annotation("Validated").is_some() {
                    Some(true)
                } else if symbols
                    .supertypes(t)
                    .into_iter()
                    .any(|ty| symbols.type_facts(ty).annotation("Validated").is_some())
                {
                    // Inherited from a supertype: not shown by the class's own code.
                    None
                } else {
                    Some(false)
                },
            })
        } else if let Some(a) = facts
            .annotation("Scheduled")
            // Spring schedules only beans: a class whose `@Component` is commented out never runs.
            .filter(|_| symbols.types[t].component)
        {
            let timing = a
                .arg("cron")
                .and_then(first_string_literal)
                .unwrap_or_else(|| {
                    a.args
                        .iter()
                        .map(|(k, v)| k.as_ref().map_or(v.clone(), |k| format!("{k} = {v}")))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
            Some(FlowEntry {
                kind: "scheduled".into(),
                verb: None,
                path: None,
                symbol: entry.symbol.clone(),
                timing: Some(timing),
                destination: None,
                chunk_id: entry.chunk_id.clone(),
                security: Vec::new(),
                security_chunks: Vec::new(),
                body: None,
                method_validation: None,
            })
        } else {
            let listener = facts
                .annotations
                .iter()
                .find(|a| LISTENERS.contains(&a.name.as_str()))
                .or_else(|| {
                    // Class-level listeners (`@RocketMQMessageListener`, `@RabbitListener` on the
                    // class with `@RabbitHandler` methods) call `onMessage` / handler methods.
                    ty.annotations
                        .iter()
                        .find(|a| a.name.ends_with("MessageListener") || a.name == "RabbitListener")
                        .filter(|_| {
                            facts.name == "onMessage" || facts.annotation("RabbitHandler").is_some()
                        })
                });
            listener
                .filter(|_| symbols.types[t].component)
                .map(|a| FlowEntry {
                    kind: "listener".into(),
                    verb: None,
                    path: None,
                    symbol: entry.symbol.clone(),
                    timing: None,
                    destination: ["queues", "topics", "destination", "topic", "value"]
                        .iter()
                        .find_map(|k| a.arg(k))
                        .map(str::to_owned),
                    chunk_id: entry.chunk_id.clone(),
                    security: Vec::new(),
                    security_chunks: Vec::new(),
                    body: None,
                    method_validation: None,
                })
        };
        let Some(mut flow_entry) = kind_entry else {
            continue;
        };
        (flow_entry.security, flow_entry.security_chunks) = security_of(symbols, m);
        let mut steps = Vec::new();
        let mut seen = vec![m];
        let start = Route {
            depth: 1,
            alternative: false,
            outer: Path {
                complete: true,
                ..Path::default()
            },
        };
        let mut unresolved_calls = Vec::new();
        walk(
            symbols,
            graph,
            m,
            &start,
            &mut seen,
            &mut steps,
            &mut unresolved_calls,
        );
        settle_outer_paths(&entry.symbol, &mut steps);
        let mut chunk_ids: Vec<ChunkId> = flow_entry.chunk_id.iter().cloned().collect();
        for s in &steps {
            if let Some(c) = &s.chunk_id
                && !chunk_ids.contains(c)
            {
                chunk_ids.push(c.clone());
            }
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"acdp-flow-v1\0");
        hasher.update(entry.symbol.as_bytes());
        flows.push((
            facts.start_line,
            Flow {
                flow_id: format!("f{}", &hasher.finalize().to_hex()[..12]),
                domain: domains.of_type[t].clone(),
                path: symbols.path(t).to_owned(),
                symbol: entry.symbol.clone(),
                entry: flow_entry,
                steps,
                chunk_ids,
                unresolved_calls,
            },
        ));
    }
    flows.sort_by_key(|(line, flow)| (flow.path.clone(), *line, flow.symbol.clone()));
    flows.into_iter().map(|(_, flow)| flow).collect()
}

/// Whether calls into this method are flow steps.
fn is_step(symbols: &Symbols<'_>, m: MethodId) -> bool {
    let t = symbols.methods[m].ty;
    let facts = symbols.method_facts(m);
    let entry = &symbols.types[t];
    let ty = symbols.type_facts(t);
    if facts.is_constructor {
        return false;
    }
    // Interface methods are targets only when no implementation exists (annotated mappers,
    // HTTP clients): they are the data access step.
    entry.component || ty.kind == super::syntax::TypeKind::Interface
}

/// How the walk got to a method: its call depth, whether through one of several
/// implementations, and the path of the call sites above it.
struct Route {
    depth: u32,
    alternative: bool,
    outer: Path,
}

fn walk(
    symbols: &Symbols<'_>,
    graph: &CallGraph,
    m: MethodId,
    route: &Route,
    seen: &mut Vec<MethodId>,
    steps: &mut Vec<FlowStep>,
    unresolved: &mut Vec<String>,
) {
    let Route {
        depth,
        alternative,
        ref outer,
    } = *route;
    if depth > 12 {
        return;
    }
    let paths = MethodPaths::new(symbols, graph, m);
    let caller = symbols.methods[m].symbol.clone();
    for call in &graph.bodies[m].calls {
        if call.resolution == crate::call_graph::Resolution::Unresolved {
            unresolved.push(format!("{}: {}", short_symbol(&caller), call.name));
        }
        let site = paths.as_ref().and_then(|p| {
            let node = p.call_node(call.start, call.end)?;
            Some(p.path_to(node))
        });
        let site = site.unwrap_or(Path {
            complete: false,
            ..Path::default()
        });
        for target in &call.targets {
            match *target {
                Target::Statement(s) => {
                    let st = &symbols.statements[s];
                    if let Some(step) = steps.iter_mut().find(|step| step.symbol == st.symbol) {
                        merge_site(step, &caller, &site, outer);
                        continue;
                    }
                    steps.push(FlowStep {
                        symbol: st.symbol.clone(),
                        kind: "statement".into(),
                        depth,
                        path: symbols.index.files[st.file].path.clone(),
                        chunk_id: Some(st.chunk_id.clone()),
                        table: st.summary.tables.first().cloned(),
                        operation: Some(st.summary.operation.as_str().to_owned()),
                        key_columns: st.summary.key_columns.clone(),
                        alternative: alternative || call.all_impls,
                        called_from: caller.clone(),
                        when: site.clone(),
                        outer: outer.clone(),
                        also_called_from: Vec::new(),
                    });
                }
                Target::Method(callee) => {
                    if !is_step(symbols, callee) {
                        continue;
                    }
                    if seen.contains(&callee) {
                        let symbol = &symbols.methods[callee].symbol;
                        if let Some(step) = steps.iter_mut().find(|step| &step.symbol == symbol) {
                            merge_site(step, &caller, &site, outer);
                        }
                        continue;
                    }
                    seen.push(callee);
                    let entry = &symbols.methods[callee];
                    let mut when = site.clone();
                    // Spring runs an `@Async` bean method on its task executor.
                    if symbols.effective_annotation(callee, "Async").is_some() && !when.is_async() {
                        when.context.push(Context::Async {
                            how: "@Async".to_owned(),
                        });
                    }
                    steps.push(FlowStep {
                        symbol: entry.symbol.clone(),
                        kind: "method".into(),
                        depth,
                        path: symbols.path(entry.ty).to_owned(),
                        chunk_id: entry.chunk_id.clone(),
                        table: None,
                        operation: None,
                        key_columns: Vec::new(),
                        alternative: alternative || call.all_impls,
                        called_from: caller.clone(),
                        when: when.clone(),
                        outer: outer.clone(),
                        also_called_from: Vec::new(),
                    });
                    let next = Route {
                        depth: depth + 1,
                        alternative: alternative || call.all_impls,
                        outer: then(outer, &when),
                    };
                    walk(symbols, graph, callee, &next, seen, steps, unresolved);
                }
            }
        }
    }
}

/// `Class.method` of a qualified method symbol.
fn short_symbol(symbol: &str) -> String {
    Symbol::parse(symbol).short()
}

/// A method step reached again from another call site after its callees were walked keeps
/// less; its callees' `outer` must not keep more than their caller now does. Parents come
/// before their callees in `steps`, so one pass in order settles every level.
fn settle_outer_paths(entry: &str, steps: &mut [FlowStep]) {
    for i in 0..steps.len() {
        if steps[i].called_from == entry {
            continue;
        }
        let Some(parent) = steps[..i]
            .iter()
            .position(|p| p.kind == "method" && p.symbol == steps[i].called_from)
        else {
            continue;
        };
        let through_parent = then(&steps[parent].outer, &steps[parent].when);
        steps[i].outer = common_path(&steps[i].outer, &through_parent);
    }
}

/// `outer` followed by `inner`: what must hold to get through both.
fn then(outer: &Path, inner: &Path) -> Path {
    let mut conditions = outer.conditions.clone();
    for c in &inner.conditions {
        if !conditions.contains(c) {
            conditions.push(c.clone());
        }
    }
    let mut context = outer.context.clone();
    context.extend(inner.context.iter().cloned());
    Path {
        conditions,
        context,
        complete: outer.complete && inner.complete,
    }
}

/// A step reached again from another call site: keep only what holds on both routes. The
/// local part stays local only when both sites are in the same caller.
fn merge_site(step: &mut FlowStep, caller: &str, site: &Path, outer: &Path) {
    if step.called_from != caller && !step.also_called_from.iter().any(|c| c == caller) {
        step.also_called_from.push(caller.to_owned());
    }
    if then(outer, site).is_unconditional() || step.is_unconditional() {
        step.when = Path {
            complete: true,
            ..Path::default()
        };
        step.outer = step.when.clone();
        return;
    }
    step.outer = common_path(&step.outer, outer);
    step.when = if step.called_from == caller {
        common_path(&step.when, site)
    } else if step.when.is_unconditional() && site.is_unconditional() {
        // Called unconditionally in both callers: nothing local to say.
        Path {
            complete: true,
            ..Path::default()
        }
    } else {
        // Conditions of two different methods cannot be stated as one.
        Path::default()
    };
}

/// What holds at both of two call sites of one step: the conditions and context they share. A
/// step called on two branches is not "called only when" either branch's condition.
fn common_path(a: &Path, b: &Path) -> Path {
    if a.is_unconditional() || b.is_unconditional() {
        return Path {
            complete: true,
            ..Path::default()
        };
    }
    let conditions: Vec<_> = a
        .conditions
        .iter()
        .filter(|c| b.conditions.contains(c))
        .cloned()
        .collect();
    let context: Vec<_> = a
        .context
        .iter()
        .filter(|c| b.context.contains(c))
        .cloned()
        .collect();
    // What each route has beyond the common part. The two arms of one `if` (`c` and `!c`)
    // together cover every run: nothing is left out then.
    let only_a: Vec<_> = a
        .conditions
        .iter()
        .filter(|c| !conditions.contains(c))
        .collect();
    let only_b: Vec<_> = b
        .conditions
        .iter()
        .filter(|c| !conditions.contains(c))
        .collect();
    let complementary = match (only_a.as_slice(), only_b.as_slice()) {
        ([x], [y]) => x.expr == y.expr && x.holds != y.holds,
        ([], []) => true,
        _ => false,
    };
    let complete = a.complete && b.complete && complementary;
    Path {
        conditions,
        context,
        complete,
    }
}

/// The first handler parameter bound from the request whose type the project declares: a
/// `@RequestBody`, or a parameter with `@Valid` / `@Validated` (form binding).
fn bound_body(
    symbols: &Symbols<'_>,
    t: TypeId,
    params: &[super::syntax::ParamFacts],
) -> Option<BoundBody> {
    params.iter().enumerate().find_map(|(i, p)| {
        // Spring MVC validates a parameter carrying `@Validated` or any annotation whose name
        // starts with "Valid" (`@Valid`, a project's `@ValidBody`).
        let asks = |a: &super::syntax::Annotation| a.name.starts_with("Valid");
        let request_body = p.annotations.iter().any(|a| a.name == "RequestBody");
        let validated_by = p.annotations.iter().find(|a| asks(a));
        if !request_body && validated_by.is_none() {
            return None;
        }
        let groups = p
            .annotations
            .iter()
            .any(|a| a.name == "Validated" && !a.args.is_empty());
        let facts = symbols.type_facts(t);
        let has_supertypes = facts.superclass.is_some() || !facts.interfaces.is_empty();
        // A `BindingResult` / `Errors` right after it receives the violations: Spring then
        // calls the handler anyway, and what happens is up to its code.
        let errors_taken = params
            .get(i + 1)
            .is_some_and(|next| matches!(next.ty.as_str(), "BindingResult" | "Errors"));
        let validated = validated_by.is_some();
        let ty = symbols.resolve_type(t, p.ty.split('<').next().unwrap_or(&p.ty))?;
        Some(BoundBody {
            type_symbol: symbols.type_facts(ty).symbol.clone(),
            parameter: p.name.clone(),
            request_body,
            validated: ((validated || !has_supertypes) && !errors_taken).then_some(validated),
            validated_by: validated_by.map(|a| a.name.clone()),
            groups,
        })
    })
}

/// HTTP verb and full path of a handler method, from class and method mappings.
fn http_mapping(
    symbols: &Symbols<'_>,
    t: TypeId,
    annotations: &[Annotation],
) -> Option<(String, String)> {
    let (annotation, fixed_verb) = annotations.iter().find_map(|a| {
        MAPPINGS
            .iter()
            .find(|(name, _)| *name == a.name)
            .map(|(_, verb)| (a, *verb))
    })?;
    let verb = match fixed_verb {
        Some(v) => v.to_owned(),
        None => annotation
            .arg("method")
            .and_then(|m| {
                m.split(['.', ',', '{', '}', ' ']).find(|p| {
                    matches!(
                        *p,
                        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS"
                    )
                })
            })
            .unwrap_or("ANY")
            .to_owned(),
    };
    let method_path = mapping_path(annotation).unwrap_or_default();
    // The class mapping, or that of an outer class / superclass.
    let mut class_path = String::new();
    let mut chain = vec![t];
    chain.extend(symbols.superclasses(t));
    for ty in chain {
        if let Some(a) = symbols.type_facts(ty).annotation("RequestMapping") {
            class_path = mapping_path(a).unwrap_or_default();
            break;
        }
    }
    Some((verb, join_paths(&class_path, &method_path)))
}

fn mapping_path(a: &Annotation) -> Option<String> {
    a.arg("value")
        .or_else(|| a.arg("path"))
        .and_then(first_string_literal)
}

fn join_paths(class: &str, method: &str) -> String {
    let class = class.trim_end_matches('/');
    let mut out = String::new();
    if !class.is_empty() {
        if !class.starts_with('/') {
            out.push('/');
        }
        out.push_str(class);
    }
    if !method.is_empty() {
        if !method.starts_with('/') {
            out.push('/');
        }
        out.push_str(method);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join() {
        assert_eq!(join_paths("/order", "/list"), "/order/list");
        assert_eq!(join_paths("order/", "list"), "/order/list");
        assert_eq!(join_paths("", ""), "/");
        assert_eq!(join_paths("/sku", "/{pid}"), "/sku/{pid}");
    }
}
