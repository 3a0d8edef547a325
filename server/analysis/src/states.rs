//! State machines: status fields, their values and the transitions between them.
//!
//! A transition is a write of a status value that the code guards on the current value:
//! - in Java: `x.setStatus(V)` on an entity, then a mapper write of `x`; the guard is the
//!   `if`s on `getStatus()` before the write (evaluated for each known value to get the
//!   from-set). A private helper that writes is attributed to each caller (`via`);
//! - as an argument: a compare-and-set statement (`... WHERE status = #{fromStatus}`) called
//!   with a constant `fromStatus`;
//! - in SQL: `UPDATE t SET status = 1 WHERE ... AND status = 0`.
//!
//! Inserts with a status are creations. A field becomes a machine only when at least one of its
//! transitions is guarded on its own current value, which separates real life-cycles from
//! flags that are merely set (`deleteStatus = 1`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use tree_sitter::Node;

use super::call_graph::{CallGraph, MethodBody, Target, method_node};
use super::paths::{MethodPaths, Path};
use super::sql::SqlOperation;
use super::symbols::{MethodId, StatementId, Symbols, TypeId};
use super::syntax::{TypeKind, camel_case, compact, node_text, property_of_accessor};
use super::values::{eval_status_condition, is_status_name, value_of};
use acdp_index::ChunkId;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StateValue {
    pub value: i64,
    pub name: Option<String>,
    pub meaning: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Transition {
    /// Values the entity may be in before; empty for a creation or an unguarded write.
    pub from: Vec<i64>,
    /// The write is an insert: the entity starts in `to`.
    pub creation: bool,
    pub to: i64,
    /// The method holding the guard.
    pub method: String,
    /// The guard's source text (`None` for creations).
    pub guard: Option<String>,
    /// `java`, `sql` or `argument`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard_in: Option<String>,
    /// The helper that performs the write, when it is not `method`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// The mapper statement that writes the new value.
    pub statement: Option<String>,
    pub chunk_ids: Vec<ChunkId>,
    pub path: String,
    pub line: u32,
    /// Where in `method` the write happens: the conditions and context of its call site (the
    /// status guard among them), from method entry.
    #[serde(skip_serializing_if = "Path::is_plain")]
    pub when: Path,
}

/// What holds when a Java write stores its value: the setter's path and the mapper call's.
fn write_path(symbols: &Symbols<'_>, graph: &CallGraph, w: &Write) -> Path {
    let setter = call_path(symbols, graph, w.method, w.setter_start);
    let write = call_path(symbols, graph, w.method, w.call_start);
    let mut conditions = setter.conditions;
    for c in write.conditions {
        if !conditions.contains(&c) {
            conditions.push(c);
        }
    }
    let mut context = setter.context;
    for c in write.context {
        if !context.contains(&c) {
            context.push(c);
        }
    }
    Path {
        conditions,
        context,
        complete: setter.complete && write.complete,
    }
}

/// The path to the call that starts at `position` in `m` (unknown: an empty, incomplete path).
fn call_path(symbols: &Symbols<'_>, graph: &CallGraph, m: MethodId, position: usize) -> Path {
    let unknown = Path {
        complete: false,
        ..Path::default()
    };
    let Some(paths) = MethodPaths::new(symbols, graph, m) else {
        return unknown;
    };
    let Some(call) = graph.bodies[m].call_at(position) else {
        return unknown;
    };
    match paths.call_node(call.start, call.end) {
        Some(node) => paths.path_to(node),
        None => unknown,
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StateMachine {
    pub entity: String,
    pub table: Option<String>,
    pub field: String,
    /// The enum or constants class that names the values.
    pub constants: Option<String>,
    pub values: Vec<StateValue>,
    pub transitions: Vec<Transition>,
    /// The entity's file and qualified name.
    pub path: String,
    pub symbol: String,
    pub chunk_ids: Vec<ChunkId>,
}

/// A machine being built: its entity, the machine, and the constants class of each write.
type MachineDraft = (TypeId, StateMachine, Vec<Option<TypeId>>);

/// One status write found in the code, before guards are attached.
struct Write {
    method: MethodId,
    entity: TypeId,
    field: String,
    to: i64,
    statement: StatementId,
    /// Start of the mapper call.
    call_start: usize,
    /// Start of the setter call that puts the value in the entity.
    setter_start: usize,
    /// Constants classes the value came from.
    constants: Option<TypeId>,
}

/// What a set of guards allows.
struct Guard {
    from: Vec<i64>,
    text: String,
    line: u32,
}

pub fn extract(symbols: &Symbols<'_>, graph: &CallGraph) -> Vec<StateMachine> {
    let mut writes = Vec::new();
    for m in 0..symbols.methods.len() {
        let ty = symbols.methods[m].ty;
        if symbols.types[ty].generated || symbols.type_facts(ty).kind == TypeKind::Enum {
            continue;
        }
        java_writes(symbols, &graph.bodies, m, &mut writes);
    }

    // (entity, field) -> machine under construction.
    let mut machines: BTreeMap<(String, String), MachineDraft> = BTreeMap::new();
    let mut pending: Vec<(TypeId, String, Transition, Option<TypeId>)> = Vec::new();
    for w in &writes {
        let domain = domain_values(symbols, w.entity, &w.field, w.constants);
        let values: Vec<i64> = domain.iter().map(|v| v.value).collect();
        let st = &symbols.statements[w.statement];
        let method_symbol = symbols.methods[w.method].symbol.clone();
        let mut chunk_ids: Vec<ChunkId> =
            symbols.methods[w.method].chunk_id.iter().cloned().collect();
        chunk_ids.push(st.chunk_id.clone());
        if st.summary.operation == SqlOperation::Insert {
            pending.push((
                w.entity,
                w.field.clone(),
                Transition {
                    from: Vec::new(),
                    creation: true,
                    to: w.to,
                    method: method_symbol,
                    guard: None,
                    guard_in: None,
                    via: None,
                    statement: Some(st.symbol.clone()),
                    chunk_ids,
                    path: symbols.path(symbols.methods[w.method].ty).to_owned(),
                    line: line_at(symbols, w.method, w.call_start),
                    when: write_path(symbols, graph, w),
                },
                w.constants,
            ));
            continue;
        }
        // A compare-and-set statement guards the write itself: a constant from-value passed
        // as its argument, or written in its WHERE clause (`... WHERE status = 0`).
        let argument = argument_guard(symbols, graph, w)
            .map(|g| (g, "argument"))
            .or_else(|| {
                sql_literal_guard(st, &snake_case(&w.field)).map(|(from, text)| {
                    let guard = Guard {
                        from: vec![from],
                        text,
                        line: line_at(symbols, w.method, w.call_start),
                    };
                    (guard, "sql")
                })
            });
        let facts = symbols.method_facts(w.method);
        let callers: Vec<MethodId> = graph
            .callers
            .get(&w.method)
            .map(|c| {
                c.iter()
                    .copied()
                    .filter(|&c| symbols.methods[c].ty == symbols.methods[w.method].ty)
                    .collect()
            })
            .unwrap_or_default();
        // A private helper's guard is in its callers.
        let holders: Vec<(MethodId, usize, Option<MethodId>)> =
            if facts.is_private && !callers.is_empty() {
                callers
                    .iter()
                    .filter_map(|&c| {
                        let call = graph.bodies[c]
                            .calls
                            .iter()
                            .find(|call| call.targets.contains(&Target::Method(w.method)))?;
                        Some((c, call.start, Some(w.method)))
                    })
                    .collect()
            } else {
                vec![(w.method, w.call_start, None)]
            };
        for (holder, position, via) in holders {
            let java = java_guard(
                symbols, graph, holder, position, w.entity, &w.field, &values,
            );
            let (from, guard, guard_in, line) = match (java, &argument) {
                (Some(g), _) => (g.from, Some(g.text), Some("java"), g.line),
                (None, Some((g, guard_in))) => (
                    g.from.clone(),
                    Some(g.text.clone()),
                    Some(*guard_in),
                    g.line,
                ),
                (None, None) => (Vec::new(), None, None, line_at(symbols, holder, position)),
            };
            let mut ids: Vec<ChunkId> = symbols.methods[holder].chunk_id.iter().cloned().collect();
            for id in &chunk_ids {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
            pending.push((
                w.entity,
                w.field.clone(),
                Transition {
                    from,
                    creation: false,
                    to: w.to,
                    method: symbols.methods[holder].symbol.clone(),
                    guard,
                    guard_in: guard_in.map(str::to_owned),
                    via: via.map(|v| symbols.methods[v].symbol.clone()),
                    statement: Some(st.symbol.clone()),
                    chunk_ids: ids,
                    path: symbols.path(symbols.methods[holder].ty).to_owned(),
                    line,
                    // The value is set on the setter's path and written on the mapper call's:
                    // both hold. Through a private helper, the caller's call site.
                    when: match via {
                        None => write_path(symbols, graph, w),
                        Some(_) => call_path(symbols, graph, holder, position),
                    },
                },
                w.constants,
            ));
        }
    }
    pending.extend(sql_transitions(symbols, graph));

    for (entity, field, transition, constants) in pending {
        let facts = symbols.type_facts(entity);
        let key = (facts.simple_name.clone(), field.clone());
        let entry = machines.entry(key).or_insert_with(|| {
            (
                entity,
                StateMachine {
                    entity: facts.simple_name.clone(),
                    table: None,
                    field: field.clone(),
                    constants: None,
                    values: Vec::new(),
                    transitions: Vec::new(),
                    path: symbols.path(entity).to_owned(),
                    symbol: facts.symbol.clone(),
                    chunk_ids: symbols.types[entity].chunk_id.iter().cloned().collect(),
                },
                Vec::new(),
            )
        });
        if entry.1.table.is_none()
            && let Some(s) = transition
                .statement
                .as_deref()
                .and_then(|s| symbols.statement(s))
        {
            entry.1.table = symbols.statements[s].summary.tables.first().cloned();
        }
        entry.2.push(constants);
        let duplicate = entry.1.transitions.iter_mut().find(|t| {
            t.from == transition.from
                && t.to == transition.to
                && t.method == transition.method
                && t.via == transition.via
        });
        match duplicate {
            // The same change made on two paths: only what holds on both is said, and the
            // path no longer reads as the only one.
            Some(kept) if kept.when != transition.when => {
                kept.when = Path {
                    conditions: kept
                        .when
                        .conditions
                        .iter()
                        .filter(|c| transition.when.conditions.contains(c))
                        .cloned()
                        .collect(),
                    context: kept
                        .when
                        .context
                        .iter()
                        .filter(|c| transition.when.context.contains(c))
                        .cloned()
                        .collect(),
                    complete: false,
                };
            }
            Some(_) => {}
            None => entry.1.transitions.push(transition),
        }
    }

    let mut out = Vec::new();
    for (_, (entity, mut machine, constants)) in machines {
        if !machine.transitions.iter().any(|t| t.guard.is_some()) {
            continue;
        }
        let constants = most_common(&constants);
        machine.values = domain_values(symbols, entity, &machine.field, constants);
        if let Some(c) = constants {
            machine.constants = Some(symbols.type_facts(c).symbol.clone());
            if let Some(id) = &symbols.types[c].chunk_id {
                machine.chunk_ids.push(id.clone());
            }
        }
        machine
            .transitions
            .sort_by(|a, b| (a.to, &a.from, &a.method).cmp(&(b.to, &b.from, &b.method)));
        out.push(machine);
    }
    out
}

fn line_at(symbols: &Symbols<'_>, m: MethodId, byte: usize) -> u32 {
    let text = symbols.text(symbols.methods[m].ty);
    text[..byte.min(text.len())].matches('\n').count() as u32 + 1
}

fn most_common(items: &[Option<TypeId>]) -> Option<TypeId> {
    let mut counts: BTreeMap<TypeId, usize> = BTreeMap::new();
    for t in items.iter().flatten() {
        *counts.entry(*t).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(t, n)| (*n, std::cmp::Reverse(*t)))
        .map(|(t, _)| t)
}

/// `x.setStatus(V)` followed by a mapper write that takes `x`.
fn java_writes(
    symbols: &Symbols<'_>,
    graph_bodies: &[MethodBody],
    m: MethodId,
    out: &mut Vec<Write>,
) {
    let body = &graph_bodies[m];
    let ty = symbols.methods[m].ty;
    let text = symbols.text(ty);
    let Some(node) = method_node(symbols, m) else {
        return;
    };
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        let mut cursor = n.walk();
        for child in n.named_children(&mut cursor) {
            stack.push(child);
        }
        if n.kind() != "method_invocation" {
            continue;
        }
        let name = n
            .child_by_field_name("name")
            .map(|x| node_text(x, text))
            .unwrap_or("");
        let Some(field) =
            property_of_accessor(name).filter(|f| name.starts_with("set") && is_status_name(f))
        else {
            continue;
        };
        let (Some(receiver), Some(args)) = (
            n.child_by_field_name("object"),
            n.child_by_field_name("arguments"),
        ) else {
            continue;
        };
        if receiver.kind() != "identifier" || args.named_child_count() != 1 {
            continue;
        }
        let var = node_text(receiver, text);
        let Some(entity) = body
            .locals
            .get(var)
            .and_then(|t| symbols.resolve_type(ty, t))
        else {
            continue;
        };
        if symbols.type_facts(entity).field(&field).is_none() {
            continue;
        }
        let Some(arg) = args.named_child(0) else {
            continue;
        };
        let Some(to) = value_of(symbols, ty, arg, text).and_then(|v| v.as_int()) else {
            continue;
        };
        let constants = constants_type(symbols, ty, arg, text);
        let write = body
            .calls
            .iter()
            .filter(|c| c.start > n.start_byte())
            .find_map(|c| {
                let passes_var = c.args.iter().any(|&(s, e)| text[s..e].trim() == var);
                if !passes_var {
                    return None;
                }
                c.targets.iter().find_map(|t| match *t {
                    Target::Statement(s) if symbols.statements[s].summary.operation.writes() => {
                        Some((s, c.start))
                    }
                    // A project method that hands the entity to a mapper write
                    // (`orderService.updateWithOptimisticLocker(order)`).
                    Target::Method(callee) => {
                        let index = c.args.iter().position(|&(s, e)| text[s..e].trim() == var)?;
                        let param = &symbols.method_facts(callee).params.get(index)?.name;
                        let callee_text = symbols.text(symbols.methods[callee].ty);
                        graph_bodies[callee].calls.iter().find_map(|inner| {
                            inner
                                .args
                                .iter()
                                .any(|&(s, e)| callee_text[s..e].trim() == param)
                                .then_some(())?;
                            inner.targets.iter().find_map(|t| match *t {
                                Target::Statement(s)
                                    if symbols.statements[s].summary.operation.writes() =>
                                {
                                    Some((s, c.start))
                                }
                                _ => None,
                            })
                        })
                    }
                    _ => None,
                })
            });
        if let Some((statement, call_start)) = write {
            out.push(Write {
                method: m,
                entity,
                field,
                to,
                statement,
                call_start,
                setter_start: n.start_byte(),
                constants,
            });
        }
    }
}

/// The enum or constants class a value expression names (`OrderStatus.WAIT_PAY.getValue()`).
fn constants_type(symbols: &Symbols<'_>, ty: TypeId, node: Node<'_>, text: &str) -> Option<TypeId> {
    let written = node_text(node, text);
    let head: String = written
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    let mut parts: Vec<&str> = head.split('.').collect();
    while !parts.is_empty() {
        let candidate = parts.join(".");
        if let Some(t) = symbols.resolve_type(ty, &candidate) {
            return Some(t);
        }
        parts.pop();
    }
    None
}

/// The from-set the `if`s of `m` before `position` allow for the status `field`.
fn java_guard(
    symbols: &Symbols<'_>,
    graph: &CallGraph,
    m: MethodId,
    position: usize,
    entity: TypeId,
    field: &str,
    domain: &[i64],
) -> Option<Guard> {
    let ty = symbols.methods[m].ty;
    let text = symbols.text(ty);
    let paths = MethodPaths::new(symbols, graph, m)?;
    let node = paths.declaration();
    let getter = format!("get{}{}", field[..1].to_ascii_uppercase(), &field[1..]);
    // `order.getStatus(` for every variable of the entity's type: another entity's status is
    // not a guard of this one.
    let reads: Vec<String> = graph.bodies[m]
        .locals
        .iter()
        .filter(|(_, t)| symbols.resolve_type(ty, t) == Some(entity))
        .map(|(name, _)| format!("{name}.{getter}("))
        .collect();
    let domain: Vec<i64> = if domain.is_empty() {
        (0..10).collect()
    } else {
        domain.to_vec()
    };
    let mut allowed = domain.clone();
    let mut guard: Option<Guard> = None;
    let mut stack = vec![node];
    let mut ifs = Vec::new();
    while let Some(n) = stack.pop() {
        if n.start_byte() > position {
            continue;
        }
        if n.kind() == "if_statement" {
            ifs.push(n);
        }
        let mut cursor = n.walk();
        for child in n.named_children(&mut cursor) {
            stack.push(child);
        }
    }
    ifs.sort_by_key(|n| n.start_byte());
    for if_node in ifs {
        let (Some(condition), Some(then)) = (
            if_node.child_by_field_name("condition"),
            if_node.child_by_field_name("consequence"),
        ) else {
            continue;
        };
        let written = node_text(condition, text);
        if !reads.iter().any(|r| written.contains(r.as_str())) {
            continue;
        }
        let inside = |branch: Option<Node<'_>>| {
            branch.is_some_and(|b| b.start_byte() <= position && position < b.end_byte())
        };
        let keep_when: Option<bool> = if inside(Some(then)) {
            Some(true)
        } else if inside(if_node.child_by_field_name("alternative"))
            || if_node.end_byte() <= position && paths.always_exits(then)
        {
            Some(false)
        } else {
            None
        };
        let Some(keep_when) = keep_when else { continue };
        let next: Vec<i64> = allowed
            .iter()
            .copied()
            .filter(|&v| {
                eval_status_condition(symbols, ty, condition, text, v)
                    .is_none_or(|r| r == keep_when)
            })
            .collect();
        if next != allowed {
            allowed = next;
            guard = Some(Guard {
                from: allowed.clone(),
                text: compact(node_text(unwrap_parens(condition), text)),
                line: if_node.start_position().row as u32 + 1,
            });
        }
    }
    guard
}

fn unwrap_parens(mut node: Node<'_>) -> Node<'_> {
    while node.kind() == "parenthesized_expression" {
        match node.named_child(0) {
            Some(inner) => node = inner,
            None => break,
        }
    }
    node
}

/// A constant `fromStatus` argument of a compare-and-set statement.
fn argument_guard(symbols: &Symbols<'_>, graph: &CallGraph, w: &Write) -> Option<Guard> {
    let st = &symbols.statements[w.statement];
    let column = snake_case(&w.field);
    static PREDICATE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:\w+\.)?(\w+)\s*=\s*#\{\s*(\w+)").unwrap());
    let param = st.summary.predicates.iter().find_map(|p| {
        let c = PREDICATE.captures(p)?;
        (c[1].eq_ignore_ascii_case(&column)).then(|| c[2].to_owned())
    })?;
    let mapper = symbols.type_by_fqn(&st.namespace)?;
    let method = *symbols
        .find_methods(mapper, &st.id, usize::MAX)
        .first()
        .or_else(|| {
            symbols.types[mapper]
                .methods
                .iter()
                .find(|&&m| symbols.method_facts(m).name == st.id)
        })?;
    let index = symbols.method_facts(method).params.iter().position(|p| {
        p.name == param
            || p.annotations.iter().any(|a| {
                a.name == "Param" && a.string_arg("value").as_deref() == Some(param.as_str())
            })
    })?;
    let body = &graph.bodies[w.method];
    let call = body.call_at(w.call_start)?;
    let &(start, end) = call.args.get(index)?;
    let ty = symbols.methods[w.method].ty;
    let text = symbols.text(ty);
    let node = symbols
        .tree(ty)
        .root_node()
        .descendant_for_byte_range(start, end)?;
    let value = value_of(symbols, ty, node, text)?.as_int()?;
    let call_text = &text[call.start..call.end];
    // `portalOrderDao.updateOrderStatus(record, 2)` -> `updateOrderStatus(record, 2)`.
    let short = call_text
        .rfind(&format!("{}(", st.id))
        .map_or(call_text, |i| &call_text[i..]);
    Some(Guard {
        from: vec![value],
        text: compact(short),
        line: line_at(symbols, w.method, call.start),
    })
}

fn snake_case(field: &str) -> String {
    let mut out = String::new();
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `column = <integer>` in a statement's WHERE clause: the value and the predicate as written.
fn sql_literal_guard(st: &super::symbols::Statement, column: &str) -> Option<(i64, String)> {
    static LITERAL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:\w+\.)?(\w+)\s*=\s*(-?\d+)$").unwrap());
    st.summary.predicates.iter().find_map(|p| {
        let c = LITERAL.captures(p.trim())?;
        if !c[1].eq_ignore_ascii_case(column) {
            return None;
        }
        Some((c[2].parse::<i64>().ok()?, p.clone()))
    })
}

/// `UPDATE t SET status = 1 WHERE ... status = 0`, attributed to each Java caller.
fn sql_transitions(
    symbols: &Symbols<'_>,
    graph: &CallGraph,
) -> Vec<(TypeId, String, Transition, Option<TypeId>)> {
    let mut out = Vec::new();
    for (s, st) in symbols.statements.iter().enumerate() {
        if st.generated || st.summary.operation != SqlOperation::Update {
            continue;
        }
        let Some(table) = st.summary.tables.first() else {
            continue;
        };
        for (column, value) in &st.summary.set {
            if !is_status_name(&camel_case(column)) {
                continue;
            }
            let Ok(to) = value.trim().parse::<i64>() else {
                continue;
            };
            let Some((from, guard_text)) = sql_literal_guard(st, column) else {
                continue;
            };
            let field = camel_case(column);
            let Some(entity) = entity_of_table(symbols, table, &field) else {
                continue;
            };
            let callers: Vec<MethodId> = (0..symbols.methods.len())
                .filter(|&m| {
                    graph.bodies[m]
                        .calls
                        .iter()
                        .any(|c| c.targets.contains(&Target::Statement(s)))
                })
                .collect();
            for m in callers {
                let position = graph.bodies[m]
                    .calls
                    .iter()
                    .find(|c| c.targets.contains(&Target::Statement(s)))
                    .map_or(0, |c| c.start);
                let mut chunk_ids: Vec<ChunkId> =
                    symbols.methods[m].chunk_id.iter().cloned().collect();
                chunk_ids.push(st.chunk_id.clone());
                out.push((
                    entity,
                    field.clone(),
                    Transition {
                        from: vec![from],
                        creation: false,
                        to,
                        method: symbols.methods[m].symbol.clone(),
                        guard: Some(guard_text.clone()),
                        guard_in: Some("sql".into()),
                        via: None,
                        statement: Some(st.symbol.clone()),
                        chunk_ids,
                        path: symbols.path(symbols.methods[m].ty).to_owned(),
                        line: st.start_line,
                        when: call_path(symbols, graph, m, position),
                    },
                    None,
                ));
            }
        }
    }
    out
}

/// The project class a table's rows are read into (a `select` from it with a `resultType` or
/// `resultMap` of a class that has the field).
fn entity_of_table(symbols: &Symbols<'_>, table: &str, field: &str) -> Option<TypeId> {
    let mut candidates: Vec<TypeId> = symbols
        .statements
        .iter()
        .filter(|st| st.summary.tables.first().map(String::as_str) == Some(table))
        .filter_map(|st| {
            st.summary
                .result_type
                .as_deref()
                .or(st.summary.parameter_type.as_deref())
        })
        .filter_map(|t| symbols.type_by_fqn(t))
        .filter(|&t| symbols.type_facts(t).field(field).is_some())
        .collect();
    candidates.sort();
    candidates.dedup();
    candidates.first().copied()
}

/// Known values of a status field: the constants class's values, else `0->x；1->y` in the
/// field's comment.
fn domain_values(
    symbols: &Symbols<'_>,
    entity: TypeId,
    field: &str,
    constants: Option<TypeId>,
) -> Vec<StateValue> {
    static PAIR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(-?\d+)\s*(?:->|-&gt;|→|=>|：|:|=|-)\s*([^；;，,、。\s)）]+)").unwrap()
    });
    let mut values = Vec::new();
    if let Some(c) = constants {
        let facts = symbols.type_facts(c);
        for constant in &facts.enum_constants {
            if let Some(v) = constant.int_value() {
                values.push(StateValue {
                    value: v,
                    name: Some(constant.name.clone()),
                    meaning: constant
                        .description()
                        .map(str::to_owned)
                        .or_else(|| constant.doc.clone()),
                });
            }
        }
        for f in &facts.fields {
            if f.is_static
                && let Some(v) = f.value.as_ref().and_then(|v| v.as_int())
            {
                values.push(StateValue {
                    value: v,
                    name: Some(f.name.clone()),
                    meaning: f.doc.clone(),
                });
            }
        }
    }
    // The field's comment, or its documentation annotation (`@ApiModelProperty("0->x;...")`).
    let doc = symbols.type_facts(entity).field(field).and_then(|f| {
        f.doc.clone().or_else(|| {
            f.annotations
                .iter()
                .filter(|a| matches!(a.name.as_str(), "ApiModelProperty" | "Schema" | "ApiParam"))
                .find_map(|a| {
                    a.string_arg("value")
                        .or_else(|| a.string_arg("description"))
                })
        })
    });
    if let Some(doc) = doc {
        for cap in PAIR.captures_iter(&doc) {
            let Ok(v) = cap[1].parse::<i64>() else {
                continue;
            };
            match values.iter_mut().find(|x| x.value == v) {
                Some(existing) if existing.meaning.is_none() => {
                    existing.meaning = Some(cap[2].to_owned())
                }
                Some(_) => {}
                None if constants.is_none() => values.push(StateValue {
                    value: v,
                    name: None,
                    meaning: Some(cap[2].to_owned()),
                }),
                None => {}
            }
        }
    }
    values.sort_by_key(|v| v.value);
    values.dedup_by_key(|v| v.value);
    values
}
