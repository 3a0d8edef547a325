//! Path facts: under which conditions a point of a method body runs, and how a branch ends.
//!
//! Every statement acdp makes about existing code ("fails with X when ...", "calls Y only when
//! ...", "runs asynchronously") is rendered from these facts, never from the nearest `if`:
//!
//! - [`MethodPaths::path_to`] walks from a node up to the method declaration and collects the
//!   conditions that hold whenever the node runs: enclosing `if`/`else` arms, the negation of
//!   earlier `else if` arms, the negation of earlier guards that leave the block (`if (x)
//!   return;`), assertions that passed (`Assert.notNull(x)`), `switch` cases, ternary arms and
//!   short-circuit operands; plus the context: loops, `catch`/`finally`, lambdas and work handed
//!   to an executor or thread (asynchronous). Conditions are *necessary*: each holds on every
//!   execution that reaches the node. When an earlier statement may leave the block in a way
//!   that cannot be written as a conjunction, the path is marked incomplete instead of guessed.
//! - [`MethodPaths::outcome`] classifies how a statement ends the method: throws, a failure
//!   result, a success result, another early return, `continue`/`break`.
//! - [`MethodPaths::assertion`] reads an assertion helper's polarity: which condition must hold
//!   for execution to go on. Library helpers (Spring `Assert`, Guava `Preconditions`, JDK
//!   `Objects.requireNonNull`, Apache `Validate`) by their documented semantics, project helpers
//!   by reading their body (`if (!expr) throw ...`).
//!
//! Pure: reads syntax trees and the call graph; no I/O.

use serde::Serialize;
use tree_sitter::Node;

use super::call_graph::{CallGraph, MethodBody, Target, method_node};
use super::symbols::{MethodId, Symbols, TypeId};
use super::syntax::{compact, node_text};

/// Where a condition comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionOrigin {
    /// An enclosing `if` arm (then or else).
    If,
    /// An earlier `if` whose branch leaves the block (guard clause).
    EarlyExit,
    /// An earlier assertion that passed.
    Assertion,
    /// An enclosing `switch` case.
    Switch,
    /// An enclosing arm of `c ? a : b`.
    Ternary,
    /// The right operand of `&&` / `||`.
    ShortCircuit,
}

/// One condition on the way to a point.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Condition {
    /// The tested expression as written, whitespace compacted, outer parentheses removed.
    pub expr: String,
    /// The point runs when `expr` is true (`false`: when it is false).
    pub holds: bool,
    pub origin: ConditionOrigin,
}

impl Condition {
    /// The condition as a Java-like expression that is true on the path: `a != b` for the
    /// negation of `a == b`, `!(a && b)` for a compound one.
    pub fn as_expression(&self) -> String {
        if self.holds {
            return self.expr.clone();
        }
        negate(&self.expr)
    }
}

/// Negates a compacted Java expression in its simplest readable form.
pub fn negate(expr: &str) -> String {
    let trimmed = expr.trim();
    if let Some(inner) = trimmed.strip_prefix('!')
        && is_atomic(inner)
    {
        return strip_parens(inner).to_owned();
    }
    if !has_top_level(trimmed, &["&&", "||", "?"]) {
        for (op, inverse) in [
            ("==", "!="),
            ("!=", "=="),
            ("<=", ">"),
            (">=", "<"),
            ("<", ">="),
            (">", "<="),
        ] {
            if let Some((left, right)) = split_top_level(trimmed, op) {
                return format!("{} {inverse} {}", left.trim(), right.trim());
            }
        }
    }
    if is_atomic(trimmed) {
        format!("!{trimmed}")
    } else {
        format!("!({trimmed})")
    }
}

fn strip_parens(expr: &str) -> &str {
    let mut e = expr.trim();
    while e.starts_with('(') && e.ends_with(')') && balanced(&e[1..e.len() - 1]) {
        e = e[1..e.len() - 1].trim();
    }
    e
}

fn balanced(text: &str) -> bool {
    let mut depth = 0i32;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// A name, a call chain or a parenthesised expression: negating it needs no parentheses.
fn is_atomic(expr: &str) -> bool {
    let e = expr.trim();
    (e.starts_with('(') && e.ends_with(')') && balanced(&e[1..e.len() - 1]))
        || (!has_top_level(
            e,
            &[
                "&&",
                "||",
                "==",
                "!=",
                "<=",
                ">=",
                "<",
                ">",
                "?",
                "+",
                "-",
                "*",
                "/",
                "->",
                " instanceof ",
            ],
        ) && !e.starts_with('!'))
}

/// Splits at the first occurrence of `op` outside parentheses, brackets, generics and strings.
fn split_top_level<'e>(expr: &'e str, op: &str) -> Option<(&'e str, &'e str)> {
    let bytes = expr.as_bytes();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        if depth == 0 && expr[i..].starts_with(op) {
            // `<` and `>` must not be part of `<=`, `>=`, `->`, `<<` or `>>`.
            let before = if i > 0 { bytes[i - 1] } else { b' ' };
            let after = bytes.get(i + op.len()).copied().unwrap_or(b' ');
            let single = op.len() == 1;
            let glued = single
                && (matches!(after, b'=' | b'<' | b'>')
                    || matches!(before, b'-' | b'<' | b'>' | b'!' | b'='));
            let double_glued =
                op.len() == 2 && matches!(op, "==" | "!=" | "<=" | ">=") && matches!(after, b'=');
            if !glued && !double_glued {
                return Some((&expr[..i], &expr[i + op.len()..]));
            }
        }
        i += 1;
    }
    None
}

fn has_top_level(expr: &str, ops: &[&str]) -> bool {
    ops.iter().any(|op| split_top_level(expr, op).is_some())
}

/// What surrounds a point besides conditions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Context {
    /// Inside a loop body; `header` is the loop head as written (`for (Item i : items)`).
    Loop { header: String },
    /// Inside a `catch` block: runs only when the exception was thrown.
    Catch { exception: String },
    /// Inside a `finally` block: runs on every way out of the `try`.
    Finally,
    /// Inside the body of a `try` with `catch` clauses: an exception thrown here may be caught
    /// in the same method, so a `throw` here need not make the method fail.
    Try { catches: Vec<String> },
    /// Inside a lambda or anonymous class body run by a call (`list.forEach(...)`,
    /// `template.execute(...)`): when and how often is up to that call.
    Callback { call: String },
    /// Handed to another thread: an executor's `submit`/`execute`, `CompletableFuture`'s
    /// `*Async`, `new Thread`, a `FutureTask`. It does not run in order with what follows.
    Async { how: String },
}

/// The conditions and context under which a point runs, outermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Path {
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<Context>,
    /// Every condition the code imposes on the way is listed. `false` when an earlier statement
    /// may leave the block under a condition that is not a plain conjunction (a nested guard,
    /// a disjunction of `else if` arms): the listed conditions still hold, but they are not all.
    pub complete: bool,
}

impl Path {
    /// Nothing to say: no condition, no context, nothing left out.
    pub fn is_plain(&self) -> bool {
        self.conditions.is_empty() && self.context.is_empty() && self.complete
    }

    /// Runs on another thread.
    pub fn is_async(&self) -> bool {
        self.context
            .iter()
            .any(|c| matches!(c, Context::Async { .. }))
    }

    /// Runs only when an exception was caught.
    pub fn in_catch(&self) -> bool {
        self.context
            .iter()
            .any(|c| matches!(c, Context::Catch { .. }))
    }

    /// Inside a `try` body whose `catch` may take what is thrown here.
    pub fn in_try(&self) -> bool {
        self.context
            .iter()
            .any(|c| matches!(c, Context::Try { .. }))
    }

    pub fn in_loop(&self) -> bool {
        self.context
            .iter()
            .any(|c| matches!(c, Context::Loop { .. }))
    }

    /// On the method's main line: only guards stand before it (earlier checks that leave when
    /// they fail, assertions that passed), no optional branch, and no context that makes it
    /// optional. What a request does when it succeeds.
    pub fn is_main_line(&self) -> bool {
        self.conditions.iter().all(|c| {
            matches!(
                c.origin,
                ConditionOrigin::EarlyExit | ConditionOrigin::Assertion
            )
        }) && !self.context.iter().any(|c| {
            matches!(
                c,
                Context::Catch { .. } | Context::Callback { .. } | Context::Async { .. }
            )
        })
    }

    /// Runs on every call of the method that gets this far: no condition, no context that
    /// makes it optional.
    pub fn is_unconditional(&self) -> bool {
        self.conditions.is_empty()
            && self.complete
            && !self.context.iter().any(|c| {
                matches!(
                    c,
                    Context::Catch { .. } | Context::Callback { .. } | Context::Async { .. }
                )
            })
    }
}

/// How a statement ends the method (or the loop iteration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// `throw`, or a project helper whose body only throws (`Asserts.fail(msg)`).
    Throws,
    /// A fail-like call that is not proven to throw (`reject(...)`, `fail(...)` of a library).
    Fails,
    /// `return` of a failure result (`CommonResult.failed()`, `ResponseUtil.badArgument()`).
    ReturnsFailure,
    /// `return` of a success result (`CommonResult.success(x)`, `ResponseUtil.ok()`).
    ReturnsSuccess,
    /// Any other `return`: an early exit whose meaning the result does not tell.
    Returns,
    Continues,
    Breaks,
}

impl Outcome {
    /// The method failed (threw or returned a failure).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Throws | Outcome::Fails | Outcome::ReturnsFailure
        )
    }
}

/// Fail-like method names: a statement calling one (not on a logger) makes the method fail.
const FAIL_CALLS: &[&str] = &[
    "fail",
    "failed",
    "error",
    "throwException",
    "reject",
    "deny",
    "abort",
];

/// Calls that run their lambda / anonymous class argument on another thread.
const ASYNC_CALLS: &[&str] = &[
    "runAsync",
    "supplyAsync",
    "thenApplyAsync",
    "thenAcceptAsync",
    "thenRunAsync",
    "thenComposeAsync",
    "scheduleAtFixedRate",
    "scheduleWithFixedDelay",
];
/// Calls that run their argument on another thread when the receiver is an executor.
const EXECUTOR_CALLS: &[&str] = &["submit", "execute", "schedule", "invokeAll", "invokeAny"];
/// Types whose construction around a lambda / anonymous class hands it to another thread.
const ASYNC_TYPES: &[&str] = &["Thread", "FutureTask", "TimerTask"];
/// Stream and collection operations that call their lambda once per element.
const PER_ELEMENT_CALLS: &[&str] = &[
    "forEach",
    "map",
    "filter",
    "flatMap",
    "peek",
    "anyMatch",
    "allMatch",
    "noneMatch",
    "mapToInt",
    "mapToLong",
    "mapToDouble",
    "removeIf",
    "replaceAll",
    "computeIfAbsent",
    "computeIfPresent",
];

/// Path and outcome queries over one method body.
pub struct MethodPaths<'t, 'a> {
    symbols: &'t Symbols<'a>,
    body: &'t MethodBody,
    text: &'t str,
    declaration: Node<'t>,
}

impl<'t, 'a> MethodPaths<'t, 'a> {
    pub fn new(symbols: &'t Symbols<'a>, graph: &'t CallGraph, m: MethodId) -> Option<Self> {
        let declaration = method_node(symbols, m)?;
        Some(MethodPaths {
            symbols,
            body: &graph.bodies[m],
            text: symbols.text(symbols.methods[m].ty),
            declaration,
        })
    }

    pub fn declaration(&self) -> Node<'t> {
        self.declaration
    }

    pub fn text(&self) -> &'t str {
        self.text
    }

    /// The syntax node of the call whose invocation starts at `start` (a call-graph site).
    pub fn call_node(&self, start: usize, end: usize) -> Option<Node<'t>> {
        let mut node = self.declaration.descendant_for_byte_range(
            start,
            end.max(start + 1).min(self.declaration.end_byte()),
        )?;
        while node.start_byte() != start || node.end_byte() != end {
            node = node.parent()?;
            if node.start_byte() < start {
                return None;
            }
        }
        Some(node)
    }

    /// The path from method entry to `node`.
    pub fn path_to(&self, node: Node<'t>) -> Path {
        let mut conditions = Vec::new();
        let mut context = Vec::new();
        let mut complete = true;
        let mut child = node;
        while let Some(parent) = child.parent() {
            if child == self.declaration {
                break;
            }
            let field = field_of(parent, child);
            match parent.kind() {
                "if_statement" => match field {
                    Some("consequence") => conditions.push(self.condition(parent, true)),
                    Some("alternative") => conditions.push(self.condition(parent, false)),
                    _ => {}
                },
                "ternary_expression" => match field {
                    Some("consequence") => {
                        conditions.push(self.condition_with(parent, true, ConditionOrigin::Ternary))
                    }
                    Some("alternative") => conditions.push(self.condition_with(
                        parent,
                        false,
                        ConditionOrigin::Ternary,
                    )),
                    _ => {}
                },
                "binary_expression" if field == Some("right") => {
                    let op = parent
                        .child_by_field_name("operator")
                        .map(|o| node_text(o, self.text));
                    if let (Some(op @ ("&&" | "||")), Some(left)) =
                        (op, parent.child_by_field_name("left"))
                    {
                        conditions.push(Condition {
                            expr: expression_text(left, self.text),
                            holds: op == "&&",
                            origin: ConditionOrigin::ShortCircuit,
                        });
                    }
                }
                "while_statement" | "for_statement" | "enhanced_for_statement" | "do_statement"
                    if field == Some("body") =>
                {
                    context.push(Context::Loop {
                        header: loop_header(parent, self.text),
                    });
                }
                "catch_clause" => {
                    let exception = parent
                        .named_children(&mut parent.walk())
                        .find(|c| c.kind() == "catch_formal_parameter")
                        .and_then(|p| {
                            p.named_children(&mut p.walk())
                                .find(|c| c.kind() == "catch_type")
                        })
                        .map(|t| compact(node_text(t, self.text)))
                        .unwrap_or_default();
                    context.push(Context::Catch { exception });
                }
                "finally_clause" => context.push(Context::Finally),
                "try_statement" | "try_with_resources_statement" if field == Some("body") => {
                    let catches: Vec<String> = parent
                        .named_children(&mut parent.walk())
                        .filter(|c| c.kind() == "catch_clause")
                        .filter_map(|c| {
                            c.named_children(&mut c.walk())
                                .find(|p| p.kind() == "catch_formal_parameter")
                                .and_then(|p| {
                                    p.named_children(&mut p.walk())
                                        .find(|t| t.kind() == "catch_type")
                                })
                                .map(|t| compact(node_text(t, self.text)))
                        })
                        .collect();
                    if !catches.is_empty() {
                        context.push(Context::Try { catches });
                    }
                }
                "lambda_expression" if field == Some("body") => {
                    context.push(self.callback_context(parent));
                }
                "class_body"
                    if parent
                        .parent()
                        .is_some_and(|p| p.kind() == "object_creation_expression") =>
                {
                    if let Some(creation) = parent.parent() {
                        context.push(self.callback_context(creation));
                    }
                }
                "switch_block_statement_group" | "switch_rule"
                    if child.kind() != "switch_label" =>
                {
                    match self.switch_condition(parent) {
                        Some(c) => conditions.push(c),
                        None => complete = false,
                    }
                }
                _ => {}
            }
            if matches!(
                parent.kind(),
                "block" | "switch_block_statement_group" | "constructor_body"
            ) {
                self.earlier_exits(child, &mut conditions, &mut complete);
            }
            child = parent;
        }
        conditions.reverse();
        context.reverse();
        // The same text twice is kept twice: a variable reassigned between two equal tests
        // (`userList = byName(..); if (userList.size() > 0) ...; userList = byMobile(..); ...`)
        // makes them two conditions.
        Path {
            conditions,
            context,
            complete,
        }
    }

    fn condition(&self, statement: Node<'t>, holds: bool) -> Condition {
        self.condition_with(statement, holds, ConditionOrigin::If)
    }

    fn condition_with(&self, node: Node<'t>, holds: bool, origin: ConditionOrigin) -> Condition {
        let expr = node
            .child_by_field_name("condition")
            .map(|c| expression_text(c, self.text))
            .unwrap_or_default();
        Condition {
            expr,
            holds,
            origin,
        }
    }

    /// Conditions that earlier statements of the same block impose on `child`.
    fn earlier_exits(&self, child: Node<'t>, conditions: &mut Vec<Condition>, complete: &mut bool) {
        let mut previous = child.prev_named_sibling();
        while let Some(statement) = previous {
            previous = statement.prev_named_sibling();
            if statement.is_extra() || statement.kind() == "switch_label" {
                continue;
            }
            match statement.kind() {
                "if_statement" => {
                    let (guards, exact) = self.guards_after(statement);
                    conditions.extend(guards.into_iter().rev());
                    *complete &= exact;
                }
                "expression_statement" => {
                    if let Some(required) = self.assertion(statement) {
                        conditions.push(required);
                    } else if self.may_exit(statement) {
                        *complete = false;
                    }
                }
                _ => {
                    if self.may_exit(statement) {
                        *complete = false;
                    }
                }
            }
        }
    }

    /// What execution after an `if` / `else if` chain implies: the negation of every leading
    /// arm that always exits; `exact` is false when a later arm may exit too.
    fn guards_after(&self, statement: Node<'t>) -> (Vec<Condition>, bool) {
        let mut guards = Vec::new();
        let mut exact = true;
        let mut arm = Some(statement);
        let mut leading = true;
        while let Some(if_node) = arm {
            let then = if_node.child_by_field_name("consequence");
            let alternative = if_node.child_by_field_name("alternative");
            let then_exits = then.is_some_and(|t| self.always_exits(t));
            if leading && then_exits {
                guards.push(self.condition_with(if_node, false, ConditionOrigin::EarlyExit));
            } else {
                leading = false;
                if then.is_some_and(|t| self.may_exit(t)) {
                    exact = false;
                }
            }
            match alternative {
                Some(a) if a.kind() == "if_statement" => arm = Some(a),
                Some(a) => {
                    if self.always_exits(a) && leading {
                        // `if (c) {...} else { return; }` with the then arm falling through.
                        if guards.is_empty() && then.is_some_and(|t| !self.may_exit(t)) {
                            guards.push(self.condition_with(
                                if_node,
                                true,
                                ConditionOrigin::EarlyExit,
                            ));
                        } else {
                            exact = false;
                        }
                    } else if self.may_exit(a) {
                        exact = false;
                    }
                    arm = None;
                }
                None => arm = None,
            }
        }
        (guards, exact)
    }

    fn switch_condition(&self, group: Node<'t>) -> Option<Condition> {
        let block = group.parent()?;
        let switch = block.parent()?;
        let subject = switch
            .child_by_field_name("condition")
            .map(|c| expression_text(c, self.text))?;
        let labels_of = |g: Node<'t>| -> Vec<Node<'t>> {
            g.named_children(&mut g.walk())
                .filter(|c| c.kind() == "switch_label")
                .collect()
        };
        // A group reached by falling through from the one before is not one case.
        if group.kind() == "switch_block_statement_group"
            && let Some(prev) = group.prev_named_sibling()
            && prev.kind() == "switch_block_statement_group"
            && !self.always_exits_group(prev)
        {
            return None;
        }
        let mut values = Vec::new();
        let mut default = false;
        for label in labels_of(group) {
            let written = compact(node_text(label, self.text));
            if written.starts_with("default") {
                default = true;
                continue;
            }
            let mut cursor = label.walk();
            for value in label.named_children(&mut cursor) {
                values.push(compact(node_text(value, self.text)));
            }
        }
        if default {
            // Every other case's values, negated.
            let mut others = Vec::new();
            let mut cursor = block.walk();
            for g in block.named_children(&mut cursor) {
                if g == group {
                    continue;
                }
                for label in labels_of(g) {
                    let mut c = label.walk();
                    for value in label.named_children(&mut c) {
                        others.push(format!(
                            "{subject} == {}",
                            compact(node_text(value, self.text))
                        ));
                    }
                }
            }
            if !values.is_empty() || others.is_empty() {
                return None;
            }
            return Some(Condition {
                expr: others.join(" || "),
                holds: false,
                origin: ConditionOrigin::Switch,
            });
        }
        if values.is_empty() {
            return None;
        }
        Some(Condition {
            expr: values
                .iter()
                .map(|v| format!("{subject} == {v}"))
                .collect::<Vec<_>>()
                .join(" || "),
            holds: true,
            origin: ConditionOrigin::Switch,
        })
    }

    fn always_exits_group(&self, group: Node<'t>) -> bool {
        let last = group
            .named_children(&mut group.walk())
            .filter(|c| !c.is_extra() && c.kind() != "switch_label")
            .last();
        last.is_some_and(|s| self.always_exits(s) || s.kind() == "yield_statement")
    }

    /// The context a lambda or anonymous class body runs in, from the call that receives it.
    fn callback_context(&self, function: Node<'t>) -> Context {
        // `new Thread(() -> ...)`, `new FutureTask<>(...)`, `new Thread() { run() {...} }`.
        let mut node = function;
        for _ in 0..3 {
            let Some(parent) = node.parent() else { break };
            match parent.kind() {
                "argument_list" | "parenthesized_expression" | "cast_expression" => {
                    node = parent;
                }
                "object_creation_expression" | "method_invocation" => {
                    node = parent;
                    break;
                }
                _ => break,
            }
        }
        let holder = if matches!(
            node.kind(),
            "object_creation_expression" | "method_invocation"
        ) {
            node
        } else if function.kind() == "object_creation_expression" {
            function
        } else {
            return Context::Callback {
                call: "a lambda".to_owned(),
            };
        };
        match holder.kind() {
            "object_creation_expression" => {
                let ty = holder
                    .child_by_field_name("type")
                    .map(|t| super::syntax::simple_type_name(node_text(t, self.text)))
                    .unwrap_or_default();
                if ASYNC_TYPES.contains(&ty.as_str()) {
                    Context::Async {
                        how: format!("new {ty}"),
                    }
                } else if holder == function {
                    // An anonymous class passed on: look at the call that receives it.
                    match holder.parent().map(|p| p.kind()) {
                        Some("argument_list") => {
                            self.callback_context(holder.parent().unwrap_or(holder))
                        }
                        _ => Context::Callback {
                            call: format!("new {ty}"),
                        },
                    }
                } else {
                    Context::Callback {
                        call: format!("new {ty}"),
                    }
                }
            }
            _ => {
                let name = holder
                    .child_by_field_name("name")
                    .map(|n| node_text(n, self.text))
                    .unwrap_or("");
                let receiver = holder
                    .child_by_field_name("object")
                    .map(|o| node_text(o, self.text))
                    .unwrap_or("");
                let call = if receiver.is_empty() {
                    name.to_owned()
                } else {
                    format!("{}.{name}", compact(receiver))
                };
                let executor = receiver.to_ascii_lowercase();
                let on_executor = ["executor", "pool", "threads", "async"]
                    .iter()
                    .any(|w| executor.contains(w));
                if ASYNC_CALLS.contains(&name) || (EXECUTOR_CALLS.contains(&name) && on_executor) {
                    Context::Async { how: call }
                } else if PER_ELEMENT_CALLS.contains(&name) {
                    Context::Loop { header: call }
                } else {
                    Context::Callback { call }
                }
            }
        }
    }

    /// Whether a statement or branch leaves the block on every execution.
    pub fn always_exits(&self, node: Node<'t>) -> bool {
        match node.kind() {
            "block" => node
                .named_children(&mut node.walk())
                .filter(|c| !c.is_extra())
                .any(|s| self.always_exits(s)),
            "if_statement" => {
                node.child_by_field_name("consequence")
                    .is_some_and(|t| self.always_exits(t))
                    && node
                        .child_by_field_name("alternative")
                        .is_some_and(|a| self.always_exits(a))
            }
            _ => self.outcome(node).is_some(),
        }
    }

    /// Whether some execution of the statement leaves the enclosing block (return, throw,
    /// failure, or a `break`/`continue` of a loop outside it).
    pub fn may_exit(&self, node: Node<'t>) -> bool {
        let mut stack = vec![(node, false)];
        while let Some((n, in_loop)) = stack.pop() {
            match n.kind() {
                "lambda_expression" | "class_body" => continue,
                "return_statement" | "throw_statement" => return true,
                "break_statement" | "continue_statement" if !in_loop => return true,
                "expression_statement" if self.outcome(n).is_some() => return true,
                _ => {}
            }
            let nested_loop = in_loop
                || matches!(
                    n.kind(),
                    "while_statement"
                        | "for_statement"
                        | "enhanced_for_statement"
                        | "do_statement"
                        | "switch_expression"
                        | "switch_statement"
                );
            let mut cursor = n.walk();
            for child in n.named_children(&mut cursor) {
                stack.push((child, nested_loop));
            }
        }
        false
    }

    /// How a statement ends the method, if it does.
    pub fn outcome(&self, statement: Node<'t>) -> Option<Outcome> {
        match statement.kind() {
            "throw_statement" => Some(Outcome::Throws),
            "continue_statement" => Some(Outcome::Continues),
            "break_statement" => Some(Outcome::Breaks),
            "expression_statement" => {
                let call = statement
                    .named_child(0)
                    .filter(|c| c.kind() == "method_invocation")?;
                if self.always_throws(call) {
                    return Some(Outcome::Throws);
                }
                let name = call
                    .child_by_field_name("name")
                    .map(|n| node_text(n, self.text))
                    .unwrap_or("");
                // `log.error(...)` reports, it does not fail.
                let logger = call
                    .child_by_field_name("object")
                    .is_some_and(|o| node_text(o, self.text).to_ascii_lowercase().contains("log"));
                (FAIL_CALLS.contains(&name) && !logger).then_some(Outcome::Fails)
            }
            "return_statement" => {
                let Some(value) = statement.named_child(0) else {
                    return Some(Outcome::Returns);
                };
                Some(match self.result_kind(value, 0) {
                    Some(true) => Outcome::ReturnsSuccess,
                    Some(false) => Outcome::ReturnsFailure,
                    None => Outcome::Returns,
                })
            }
            _ => None,
        }
    }

    /// Whether a returned expression is a success (`Some(true)`) or failure result, from the
    /// factory's name (`success`, `ok`; `fail*`, `error*`, `badRequest` ...) or, for a project
    /// helper with another name (`ResponseUtil.badArgument()`), from what its body returns.
    fn result_kind(&self, value: Node<'_>, depth: u32) -> Option<bool> {
        if value.kind() != "method_invocation" {
            return None;
        }
        let name = value
            .child_by_field_name("name")
            .map(|n| node_text(n, self.text))?;
        if let Some(kind) = result_kind_by_name(name) {
            return Some(kind);
        }
        if depth > 0 {
            return None;
        }
        let call = self.body.call_at(value.start_byte())?;
        call.targets.iter().find_map(|t| match *t {
            Target::Method(callee) => self.helper_result_kind(callee),
            Target::Statement(_) => None,
        })
    }

    /// A project helper whose every `return` returns a result of one kind.
    fn helper_result_kind(&self, callee: MethodId) -> Option<bool> {
        let symbols = self.symbols;
        let node = method_node(symbols, callee)?;
        let body = node.child_by_field_name("body")?;
        let text = symbols.text(symbols.methods[callee].ty);
        let mut kinds = Vec::new();
        let mut stack = vec![body];
        while let Some(n) = stack.pop() {
            if matches!(n.kind(), "lambda_expression" | "class_body") {
                continue;
            }
            if n.kind() == "return_statement" {
                let name = n
                    .named_child(0)
                    .filter(|v| v.kind() == "method_invocation")
                    .and_then(|v| v.child_by_field_name("name"))
                    .map(|x| node_text(x, text));
                kinds.push(name.and_then(result_kind_by_name));
            }
            let mut cursor = n.walk();
            for child in n.named_children(&mut cursor) {
                stack.push(child);
            }
        }
        let first = *kinds.first()?;
        (first.is_some() && kinds.iter().all(|k| *k == first)).then_some(first?)
    }

    /// Whether the call goes to a project method whose body only throws.
    fn always_throws(&self, call: Node<'_>) -> bool {
        let Some(site) = self.body.call_at(call.start_byte()) else {
            return false;
        };
        site.targets.iter().any(|t| match *t {
            Target::Method(m) => {
                let facts = self.symbols.method_facts(m);
                let text = self.symbols.text(self.symbols.methods[m].ty);
                facts.body.is_some_and(|(s, e)| {
                    let body = text[s..e]
                        .trim_start_matches('{')
                        .trim_end_matches('}')
                        .trim();
                    body.starts_with("throw ") && body.matches(';').count() == 1
                })
            }
            Target::Statement(_) => false,
        })
    }

    /// The exception type a failing statement throws, when the code says it: `throw new X(..)`,
    /// a project helper whose body is `throw new X(..)`, or a library assertion's documented
    /// exception; with the type whose code names it when that is a helper's (its imports say
    /// which `X` is meant, not the caller's).
    pub fn thrown_type(&self, statement: Node<'t>) -> Option<(String, Option<TypeId>)> {
        let created = |written: &str| -> Option<String> {
            let rest = written.trim().strip_prefix("throw")?.trim_start();
            let rest = rest.strip_prefix("new")?.trim_start();
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            let simple = name.rsplit('.').next().unwrap_or(&name).to_owned();
            (!simple.is_empty()).then_some(simple)
        };
        match statement.kind() {
            "throw_statement" => created(node_text(statement, self.text)).map(|t| (t, None)),
            "expression_statement" => {
                let call = statement
                    .named_child(0)
                    .filter(|c| c.kind() == "method_invocation")?;
                let site = self.body.call_at(call.start_byte());
                if let Some(Target::Method(m)) = site.and_then(|s| s.targets.first().copied()) {
                    let facts = self.symbols.method_facts(m);
                    let text = self.symbols.text(self.symbols.methods[m].ty);
                    let (start, end) = facts.body?;
                    let body = text[start..end]
                        .trim_start_matches('{')
                        .trim_end_matches('}');
                    // The helper's own `throw new X(...)` (the only one, or its guard's).
                    let at = body.find("throw ")?;
                    return created(&body[at..]).map(|t| (t, Some(self.symbols.methods[m].ty)));
                }
                let name = call
                    .child_by_field_name("name")
                    .map(|n| node_text(n, self.text))?;
                Some((
                    match name {
                        "state" | "checkState" => "IllegalStateException",
                        "requireNonNull" | "checkNotNull" => "NullPointerException",
                        "isTrue" | "isFalse" | "notNull" | "isNull" | "notEmpty" | "hasText"
                        | "hasLength" | "notBlank" | "checkArgument" => "IllegalArgumentException",
                        _ => return None,
                    }
                    .to_owned(),
                    None,
                ))
            }
            _ => None,
        }
    }

    /// For an assertion statement, the condition that must hold for execution to go on (it
    /// fails when the condition does not hold).
    pub fn assertion(&self, statement: Node<'t>) -> Option<Condition> {
        let call = statement
            .named_child(0)
            .filter(|c| c.kind() == "method_invocation")?;
        let name = call
            .child_by_field_name("name")
            .map(|n| node_text(n, self.text))?;
        let args = call.child_by_field_name("arguments")?;
        let first = args.named_child(0)?;
        let arg = expression_text(first, self.text);
        // A project helper: its own body says which way it fails.
        if let Some(site) = self.body.call_at(call.start_byte())
            && let Some(Target::Method(callee)) = site.targets.first().copied()
        {
            return self.helper_assertion(callee, &arg);
        }
        let owner = call
            .child_by_field_name("object")
            .map(|o| node_text(o, self.text))
            .unwrap_or("");
        let owner = owner.rsplit('.').next().unwrap_or(owner);
        let library = matches!(
            owner,
            "Assert" | "Preconditions" | "Validate" | "Objects" | "Assertions"
        );
        if !library {
            return None;
        }
        library_assertion(name, &arg)
    }

    /// `static void isTrue(boolean b, String m) { if (!b) throw ...; }` and its kin: the
    /// helper's own test, with its first parameter replaced by the argument.
    fn helper_assertion(&self, callee: MethodId, arg: &str) -> Option<Condition> {
        let symbols = self.symbols;
        let facts = symbols.method_facts(callee);
        let param = facts.params.first()?.name.clone();
        let node = method_node(symbols, callee)?;
        let body = node.child_by_field_name("body")?;
        let text = symbols.text(symbols.methods[callee].ty);
        let statements: Vec<Node<'_>> = body
            .named_children(&mut body.walk())
            .filter(|c| !c.is_extra())
            .collect();
        let [if_node] = statements.as_slice() else {
            return None;
        };
        if if_node.kind() != "if_statement" || if_node.child_by_field_name("alternative").is_some()
        {
            return None;
        }
        let then = if_node.child_by_field_name("consequence")?;
        let throws = |n: Node<'_>| match n.kind() {
            "throw_statement" => true,
            "block" => n
                .named_children(&mut n.walk())
                .any(|s| s.kind() == "throw_statement"),
            _ => false,
        };
        if !throws(then) {
            return None;
        }
        let test = expression_text(if_node.child_by_field_name("condition")?, text);
        // The helper throws when `test`; the caller goes on when it does not.
        let fails_when = substitute_param(&test, &param, arg)?;
        Some(Condition {
            expr: fails_when,
            holds: false,
            origin: ConditionOrigin::Assertion,
        })
    }
}

/// Success (`true`) or failure by a result factory's name.
fn result_kind_by_name(name: &str) -> Option<bool> {
    let lower = name.to_ascii_lowercase();
    if lower.contains("success") || lower == "ok" {
        Some(true)
    } else if lower.contains("fail")
        || lower.contains("error")
        || matches!(
            lower.as_str(),
            "badrequest" | "forbidden" | "unauthorized" | "notfound" | "unlogin"
        )
    {
        Some(false)
    } else {
        None
    }
}

/// The documented semantics of library assertions: the condition under which they pass.
fn library_assertion(name: &str, arg: &str) -> Option<Condition> {
    let (expr, holds) = match name {
        "isTrue" | "state" | "checkArgument" | "checkState" | "assertTrue" => {
            (arg.to_owned(), true)
        }
        "isFalse" | "assertFalse" => (arg.to_owned(), false),
        "notNull" | "checkNotNull" | "requireNonNull" | "assertNotNull" => {
            (format!("{arg} != null"), true)
        }
        "isNull" | "assertNull" => (format!("{arg} == null"), true),
        "notEmpty" | "hasText" | "hasLength" | "notBlank" | "notNullElement" => {
            (format!("{name}({arg})"), true)
        }
        _ => return None,
    };
    Some(Condition {
        expr,
        holds,
        origin: ConditionOrigin::Assertion,
    })
}

/// `test` with the parameter `param` replaced by `arg`, when `test` only reads `param` in one
/// of the simple forms a helper uses: `!p`, `p`, `p == null`, `p != null`.
fn substitute_param(test: &str, param: &str, arg: &str) -> Option<String> {
    let test = strip_parens(test);
    let wrapped = if is_atomic(arg) {
        arg.to_owned()
    } else {
        format!("({arg})")
    };
    if test == param {
        return Some(arg.to_owned());
    }
    if let Some(inner) = test.strip_prefix('!')
        && strip_parens(inner) == param
    {
        return Some(format!("!{wrapped}"));
    }
    for op in ["==", "!="] {
        if let Some((l, r)) = split_top_level(test, op)
            && l.trim() == param
            && r.trim() == "null"
        {
            return Some(format!("{wrapped} {op} null"));
        }
    }
    None
}

/// Which field of `parent` holds `child`.
fn field_of(parent: Node<'_>, child: Node<'_>) -> Option<&'static str> {
    [
        "consequence",
        "alternative",
        "condition",
        "body",
        "right",
        "left",
    ]
    .into_iter()
    .find(|field| parent.child_by_field_name(field) == Some(child))
}

/// An expression's text, whitespace compacted and outer parentheses removed.
pub fn expression_text(node: Node<'_>, text: &str) -> String {
    compact(strip_parens(node_text(node, text)))
}

fn loop_header(node: Node<'_>, text: &str) -> String {
    let start = node.start_byte();
    let end = node
        .child_by_field_name("body")
        .map_or(node.end_byte(), |b| b.start_byte());
    let header = compact(&text[start..end]);
    if node.kind() == "do_statement" {
        let condition = node
            .child_by_field_name("condition")
            .map(|c| expression_text(c, text))
            .unwrap_or_default();
        return format!("do ... while ({condition})");
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_reads_like_code() {
        assert_eq!(negate("count > 0"), "count <= 0");
        assert_eq!(negate("a == null"), "a != null");
        assert_eq!(negate("!found"), "found");
        assert_eq!(negate("!(a && b)"), "a && b");
        assert_eq!(negate("a && b"), "!(a && b)");
        assert_eq!(negate("list.isEmpty()"), "!list.isEmpty()");
        assert_eq!(negate("x.compareTo(y) >= 0"), "x.compareTo(y) < 0");
        assert_eq!(negate("a -> b"), "!(a -> b)");
        assert_eq!(negate("\"a==b\".equals(s)"), "!\"a==b\".equals(s)");
    }

    #[test]
    fn helper_tests_are_substituted() {
        assert_eq!(
            substitute_param("!b", "b", "user != null").as_deref(),
            Some("!(user != null)")
        );
        assert_eq!(
            substitute_param("(o == null)", "o", "order").as_deref(),
            Some("order == null")
        );
        assert_eq!(substitute_param("b", "b", "ok").as_deref(), Some("ok"));
        assert_eq!(substitute_param("b && c", "b", "ok"), None);
    }

    #[test]
    fn library_assertions_have_their_documented_polarity() {
        let pass = |name, arg| library_assertion(name, arg).map(|c| c.as_expression());
        assert_eq!(
            pass("state", "user != null").as_deref(),
            Some("user != null")
        );
        assert_eq!(pass("isFalse", "done").as_deref(), Some("!done"));
        assert_eq!(pass("isNull", "x").as_deref(), Some("x == null"));
        assert_eq!(pass("requireNonNull", "x").as_deref(), Some("x != null"));
        assert_eq!(pass("equals", "x"), None);
    }
}
