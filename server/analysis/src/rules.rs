//! Business rules read off method bodies, annotations and mapper SQL.
//!
//! Kinds, from most to least specific (the first that applies wins):
//! - `locking`: an affected-row check after a write whose SQL guards on status or version
//!   (compare-and-set, optimistic lock), an idempotent early return on `status == X`, and
//!   `version = #{version}` in SQL;
//! - `status_check`: an `if` comparing a status-like property with a value, whatever it does;
//! - `stock_check`: comparisons of stock or quantities, affected-row checks after stock updates;
//! - `amount_check`: comparisons of money or points amounts;
//! - `guard`: any other `if` whose branch fails (throw, a `fail`-like helper, a failed result);
//! - `computation`: a money amount computed from two or more terms;
//! - `validation`: constraint annotations on fields and parameters;
//! - `transaction` and `schedule`: `@Transactional` and `@Scheduled` methods.
//!
//! Null checks that only select an optional feature, loop bounds and counters are not rules.
//! Generated code and enum internals are skipped.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;
use tree_sitter::Node;

use super::call_graph::{CallGraph, MethodBody, Target};
use super::domain_assignment::DomainAssignment;
use super::path_text::{outcome_en, rule_sentence_en, when_en};
use super::paths::{Condition, Context, MethodPaths, Outcome, Path};
use super::sql::{SqlOperation, is_key_predicate};
use super::symbols::{AnnotatedDeclaration, MethodId, Symbols, TypeId};
use super::syntax::{
    Annotation, TypeKind, compact, doc_above, first_string_literal, node_text, property_of_accessor,
};
use super::values::{named_values, reads_status};
use acdp_index::ChunkId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Guard,
    StatusCheck,
    StockCheck,
    AmountCheck,
    Computation,
    Validation,
    Transaction,
    Schedule,
    Locking,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Guard => "guard",
            RuleKind::StatusCheck => "status_check",
            RuleKind::StockCheck => "stock_check",
            RuleKind::AmountCheck => "amount_check",
            RuleKind::Computation => "computation",
            RuleKind::Validation => "validation",
            RuleKind::Transaction => "transaction",
            RuleKind::Schedule => "schedule",
            RuleKind::Locking => "locking",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    Java,
    Sql,
}

/// A constant the rule mentions and the value it stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedValue {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rule {
    /// `r` + 12 hex digits of blake3(kind, symbol, condition with whitespace compacted).
    pub rule_id: String,
    pub kind: RuleKind,
    pub domain: String,
    pub source: RuleSource,
    /// Source text of the condition (the `if` condition, annotation, declaration or predicate).
    pub condition: String,
    /// What happens: the failing statement, the branch taken, or the message of a constraint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consequence: Option<String>,
    /// The failure message, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The rule in one plain sentence, naming the identifiers and values involved.
    pub statement: String,
    pub chunk_ids: Vec<ChunkId>,
    pub path: String,
    pub symbol: String,
    pub start_line: u32,
    pub end_line: u32,
    /// The comment next to the rule (or the method's doc comment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<NamedValue>,
    /// `computation`: the terms the amount is made of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<String>,
    /// `schedule`: the cron expression or rate as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<String>,
    /// `validation`: the constrained field or parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `validation`: the constraint annotations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
    /// Checks and computations in Java: every condition from method entry under which the
    /// consequence (or the computation) happens, and its loop / catch / async context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Path>,
    /// How the consequence ends the method (throws, returns a failure ...), when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// `transaction`: the interface or superclass declaration the annotation is inherited
    /// from, when it is not on the method itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inherited_from: Option<String>,
    /// `transaction`: methods of the same class that call this one directly (`x()` or
    /// `this.x()`), with their chunks. Such a call does not go through Spring's proxy, so on
    /// that route the annotation does nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub self_invoked_from: Vec<(String, Option<ChunkId>)>,
    /// A failure no execution reaches: the finder (this symbol) that loaded the value it tests
    /// runs a query that already requires the opposite. Such rules are kept apart from
    /// `Analysis::rules` (in `Analysis::never_reached`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub never_reached_by: Option<String>,
    /// The exception type the consequence throws (simple name), when the code says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throws: Option<String>,
    /// `throws` and its known supertypes, nearest first (what exception handlers match on).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub throws_chain: Vec<String>,
}

/// Constraint annotations of Bean Validation (and Hibernate Validator's common extras).
const CONSTRAINTS: &[&str] = &[
    "NotNull",
    "NotEmpty",
    "NotBlank",
    "Null",
    "Min",
    "Max",
    "DecimalMin",
    "DecimalMax",
    "Size",
    "Length",
    "Range",
    "Pattern",
    "Email",
    "Positive",
    "PositiveOrZero",
    "Negative",
    "NegativeOrZero",
    "Past",
    "PastOrPresent",
    "Future",
    "FutureOrPresent",
    "Digits",
    "AssertTrue",
    "AssertFalse",
    "URL",
];

const STOCK_WORDS: &[&str] = &["stock", "stocks", "inventory", "quantity", "qty"];
const AMOUNT_WORDS: &[&str] = &[
    "amount",
    "price",
    "money",
    "fee",
    "cost",
    "balance",
    "integration",
    "point",
    "points",
    "discount",
    "freight",
    "refund",
    "credit",
    "deposit",
    "salary",
];

pub fn extract(
    symbols: &Symbols<'_>,
    graph: &CallGraph,
    domains: &DomainAssignment,
    include_generated: bool,
) -> Vec<Rule> {
    let mut rules: Vec<Rule> = (0..symbols.methods.len())
        .into_par_iter()
        .flat_map_iter(|m| {
            let ty = symbols.methods[m].ty;
            if symbols.types[ty].generated && !include_generated {
                return Vec::new();
            }
            MethodRules::new(symbols, graph, domains, m).run()
        })
        .collect();
    for t in 0..symbols.types.len() {
        if symbols.types[t].generated && !include_generated {
            continue;
        }
        rules.extend(field_validations(symbols, domains, t));
        if let Some(rule) = class_transaction(symbols, domains, t) {
            rules.push(rule);
        }
    }
    rules.extend(sql_rules(symbols, domains, include_generated));
    rules.sort_by(|a, b| {
        (&a.path, a.start_line, a.kind, &a.condition).cmp(&(
            &b.path,
            b.start_line,
            b.kind,
            &b.condition,
        ))
    });
    // Same kind, symbol and condition twice (two identical checks in one method): number them.
    let mut seen: HashMap<String, u32> = HashMap::new();
    for rule in &mut rules {
        let n = seen.entry(rule.rule_id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            rule.rule_id = format!("{}-{}", rule.rule_id, n);
        }
    }
    rules
}

fn rule_id(kind: RuleKind, symbol: &str, condition: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"acdp-rule-v1\0");
    hasher.update(kind.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(symbol.as_bytes());
    hasher.update(b"\0");
    hasher.update(compact(condition).as_bytes());
    format!("r{}", &hasher.finalize().to_hex()[..12])
}

/// Splits identifiers into lower-case words: `getMinPoint` -> get, min, point;
/// `FREE_FREIGHT_AMOUNT` -> free, freight, amount.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn mentions(text: &str, vocabulary: &[&str]) -> bool {
    words(text).iter().any(|w| vocabulary.contains(&w.as_str()))
}

/// Names an operand is about: variables, getter and method names, and the receivers of
/// arithmetic (`a.subtract(b)`), but not the receiver of a getter (`skuStock.getId()` is about
/// an id). String literals are left out.
fn identifiers(node: Node<'_>, text: &str, out: &mut String) {
    match node.kind() {
        "string_literal" | "character_literal" => {}
        "identifier" | "type_identifier" => {
            out.push_str(node_text(node, text));
            out.push(' ');
        }
        "method_invocation" => {
            let name = node
                .child_by_field_name("name")
                .map(|n| node_text(n, text))
                .unwrap_or("");
            out.push_str(name);
            out.push(' ');
            let numeric = ARITHMETIC_CALLS.contains(&name)
                || matches!(
                    name,
                    "compareTo" | "intValue" | "longValue" | "floatValue" | "doubleValue" | "abs"
                );
            if let Some(object) = node.child_by_field_name("object")
                && (numeric || !matches!(object.kind(), "identifier" | "field_access"))
            {
                identifiers(object, text, out);
            }
            if let Some(args) = node.child_by_field_name("arguments") {
                identifiers(args, text, out);
            }
        }
        _ => {
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                identifiers(child, text, out);
            }
        }
    }
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

/// What the comparisons of a condition are about.
#[derive(Default)]
struct ConditionFacts {
    status: bool,
    /// Some part of the condition is not a status comparison (a null check, another test).
    other: bool,
    status_equality: bool,
    stock: bool,
    amount: bool,
}

fn condition_facts(node: Node<'_>, text: &str, facts: &mut ConditionFacts) {
    let node = unwrap_parens(node);
    match node.kind() {
        "binary_expression" => {
            let Some(op) = node.child_by_field_name("operator") else {
                return;
            };
            let op = node_text(op, text);
            let (Some(left), Some(right)) = (
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
            ) else {
                return;
            };
            match op {
                "&&" | "||" => {
                    condition_facts(left, text, facts);
                    condition_facts(right, text, facts);
                }
                "==" | "!=" | "<" | ">" | "<=" | ">=" => {
                    let null_check = [left, right]
                        .iter()
                        .any(|n| unwrap_parens(*n).kind() == "null_literal");
                    if null_check {
                        facts.other = true;
                        return;
                    }
                    let boolean = [left, right]
                        .iter()
                        .any(|n| matches!(unwrap_parens(*n).kind(), "true" | "false"));
                    if boolean {
                        facts.other = true;
                        return;
                    }
                    classify_comparison(left, right, op == "==", text, facts);
                }
                _ => facts.other = true,
            }
        }
        "unary_expression" => {
            if let Some(operand) = node.child_by_field_name("operand") {
                // `!x.equals(V)` is an inequality.
                let equality = facts.status_equality;
                condition_facts(operand, text, facts);
                facts.status_equality = equality;
            }
        }
        "method_invocation" => {
            let name = node
                .child_by_field_name("name")
                .map(|n| node_text(n, text))
                .unwrap_or("");
            if matches!(name, "equals" | "compareTo" | "equalsIgnoreCase")
                && let (Some(object), Some(arg)) = (
                    node.child_by_field_name("object"),
                    node.child_by_field_name("arguments")
                        .and_then(|a| a.named_child(0)),
                )
            {
                classify_comparison(object, arg, name != "compareTo", text, facts);
            } else {
                facts.other = true;
            }
        }
        _ => facts.other = true,
    }
}

fn classify_comparison(
    left: Node<'_>,
    right: Node<'_>,
    equality: bool,
    text: &str,
    facts: &mut ConditionFacts,
) {
    if reads_status(unwrap_parens(left), text) || reads_status(unwrap_parens(right), text) {
        // A status compared with another status variable is not a status value check.
        let other_is_value =
            !(reads_status(unwrap_parens(left), text) && reads_status(unwrap_parens(right), text));
        if other_is_value {
            facts.status = true;
            facts.status_equality |= equality;
            return;
        }
    }
    facts.other = true;
    let mut names = String::new();
    identifiers(left, text, &mut names);
    identifiers(right, text, &mut names);
    // `a.compareTo(b) < 0`: the operands are inside the call.
    if mentions(&names, STOCK_WORDS) {
        facts.stock = true;
    } else if mentions(&names, AMOUNT_WORDS) {
        facts.amount = true;
    }
}

struct Draft {
    kind: RuleKind,
    condition: String,
    consequence: Option<String>,
    message: Option<String>,
    start_line: u32,
    end_line: u32,
    comment: Option<String>,
    values: Vec<NamedValue>,
    terms: Vec<String>,
    timing: Option<String>,
    field: Option<String>,
    annotations: Vec<String>,
    statement: String,
    when: Option<Path>,
    outcome: Option<Outcome>,
    inherited_from: Option<String>,
    self_invoked_from: Vec<(String, Option<ChunkId>)>,
    never_reached_by: Option<String>,
    /// The thrown type, and the type whose code names it when not the rule's own.
    throws: Option<(String, Option<TypeId>)>,
    /// Extra evidence: the declaration an inherited annotation is written on.
    extra_chunks: Vec<ChunkId>,
}

impl Draft {
    fn new(kind: RuleKind, condition: String, start_line: u32, end_line: u32) -> Draft {
        Draft {
            kind,
            condition,
            consequence: None,
            message: None,
            start_line,
            end_line,
            comment: None,
            values: Vec::new(),
            terms: Vec::new(),
            timing: None,
            field: None,
            annotations: Vec::new(),
            statement: String::new(),
            when: None,
            outcome: None,
            inherited_from: None,
            self_invoked_from: Vec::new(),
            never_reached_by: None,
            throws: None,
            extra_chunks: Vec::new(),
        }
    }
}

struct MethodRules<'s, 'a> {
    symbols: &'s Symbols<'a>,
    graph: &'s CallGraph,
    domains: &'s DomainAssignment,
    m: MethodId,
    ty: TypeId,
    text: &'s str,
    body: &'s MethodBody,
    /// Path and outcome queries over this method's body (`None` without a syntax node).
    paths: Option<MethodPaths<'s, 'a>>,
    /// Local variable -> start bytes of the calls assigned to it.
    assigned: HashMap<String, Vec<(usize, usize)>>,
    drafts: Vec<Draft>,
}

impl<'s, 'a> MethodRules<'s, 'a> {
    fn new(
        symbols: &'s Symbols<'a>,
        graph: &'s CallGraph,
        domains: &'s DomainAssignment,
        m: MethodId,
    ) -> Self {
        let ty = symbols.methods[m].ty;
        MethodRules {
            symbols,
            graph,
            domains,
            m,
            ty,
            text: symbols.text(ty),
            body: &graph.bodies[m],
            paths: MethodPaths::new(symbols, graph, m),
            assigned: HashMap::new(),
            drafts: Vec::new(),
        }
    }

    fn owner(&self) -> String {
        self.symbols.short_name(self.m)
    }

    fn run(mut self) -> Vec<Rule> {
        let facts = self.symbols.method_facts(self.m);
        if let Some(d) = self.transaction_draft() {
            self.drafts.push(d);
        }
        if let Some(a) = facts.annotation("Scheduled") {
            let timing = schedule_timing(a);
            let mut d = Draft::new(
                RuleKind::Schedule,
                a.text.clone(),
                facts.start_line,
                facts.end_line,
            );
            d.statement = format!(
                "{} runs on a schedule: {}.",
                self.owner(),
                describe_timing(a, &timing)
            );
            d.timing = Some(timing);
            d.comment = facts.doc.clone();
            self.drafts.push(d);
        }
        for p in &facts.params {
            if let Some(mut d) = validation_draft(
                self.symbols,
                &p.annotations,
                &p.name,
                &self.text[p.start_byte..p.end_byte],
                p.start_line,
                p.end_line,
            ) {
                d.statement = format!("{} parameter {}", self.owner(), d.statement);
                self.drafts.push(d);
            }
        }
        let skip_body = self.symbols.type_facts(self.ty).kind == TypeKind::Enum;
        if !skip_body
            && let Some(node) = super::call_graph::method_node(self.symbols, self.m)
            && let Some(block) = node.child_by_field_name("body")
        {
            self.collect_assignments(block);
            self.walk(block);
        }
        let symbol = self.symbols.methods[self.m].symbol.clone();
        let chunk_ids: Vec<ChunkId> = self.symbols.methods[self.m]
            .chunk_id
            .iter()
            .cloned()
            .collect();
        let path = self.symbols.path(self.ty).to_owned();
        let domain = self.domains.of_type[self.ty].clone();
        self.drafts
            .into_iter()
            .map(|d| Rule {
                rule_id: rule_id(d.kind, &symbol, &d.condition),
                kind: d.kind,
                domain: domain.clone(),
                source: RuleSource::Java,
                condition: d.condition,
                consequence: d.consequence,
                message: d.message,
                statement: d.statement,
                chunk_ids: chunk_ids
                    .iter()
                    .chain(d.extra_chunks.iter())
                    .cloned()
                    .collect(),
                path: path.clone(),
                symbol: symbol.clone(),
                start_line: d.start_line,
                end_line: d.end_line,
                // Only the comment at the rule itself: a method's doc comment says what the
                // method is for, not why one check inside it exists.
                comment: d.comment,
                values: d.values,
                terms: d.terms,
                timing: d.timing,
                field: d.field,
                annotations: d.annotations,
                when: d.when,
                outcome: d.outcome,
                inherited_from: d.inherited_from,
                self_invoked_from: d.self_invoked_from,
                never_reached_by: d.never_reached_by,
                throws_chain: d
                    .throws
                    .as_ref()
                    .map(|(t, written_in)| {
                        let context = written_in.unwrap_or(self.ty);
                        super::handlers::exception_chain(self.symbols, context, t)
                    })
                    .unwrap_or_default(),
                throws: d.throws.map(|(t, _)| t),
            })
            .collect()
    }

    /// `@Transactional` as Spring applies it to this method: on the method, or inherited from
    /// the interface method it implements or a supertype's class level. The class's own
    /// class-level annotation is a rule of the class ([`class_transaction`]).
    fn transaction_draft(&self) -> Option<Draft> {
        let symbols = self.symbols;
        let facts = symbols.method_facts(self.m);
        // A test's transaction is rolled back by the test framework whatever happens: none of
        // what follows would be true of it.
        if ["Test", "ParameterizedTest", "Rollback"]
            .iter()
            .any(|a| facts.annotation(a).is_some())
        {
            return None;
        }
        let site = symbols.effective_annotation(self.m, "Transactional")?;
        let a = site.annotation;
        let (inherited_from, extra_chunk) = match site.on {
            AnnotatedDeclaration::Method(m) if m == self.m => (None, None),
            AnnotatedDeclaration::Type(t) if t == self.ty => return None,
            AnnotatedDeclaration::Method(m) => (
                Some(symbols.methods[m].symbol.clone()),
                symbols.methods[m].chunk_id.clone(),
            ),
            AnnotatedDeclaration::Type(t) => (
                Some(symbols.type_facts(t).symbol.clone()),
                symbols.types[t].chunk_id.clone(),
            ),
        };
        // Evidence must show the annotation: no inherited rule without its declaration's chunk.
        if inherited_from.is_some() && extra_chunk.is_none() {
            return None;
        }
        let mut d = Draft::new(
            RuleKind::Transaction,
            a.text.clone(),
            facts.start_line,
            facts.end_line,
        );
        let owner = self.owner();
        let declared = match &inherited_from {
            Some(from) => format!(
                "{} (declared on `{}`, which Spring applies to this implementation)",
                a.text,
                short_symbol(from)
            ),
            None => a.text.clone(),
        };
        let propagation = a.arg("propagation").unwrap_or("");
        d.statement = if propagation.contains("NOT_SUPPORTED") || propagation.contains("NEVER") {
            format!("{owner} runs without a transaction ({declared}).")
        } else if propagation.contains("SUPPORTS") {
            format!(
                "{owner} joins the caller's transaction when there is one and runs without one otherwise ({declared})."
            )
        } else {
            let writes = self.reachable_writes();
            let rollback = a
                .arg("rollbackFor")
                .map(|r| format!(", rolling back on {}", r.trim_end_matches(".class")))
                .unwrap_or_default();
            let new = if propagation.contains("REQUIRES_NEW") {
                "a new"
            } else {
                "one"
            };
            if writes.is_empty() {
                format!("{owner} runs in {new} database transaction ({declared}){rollback}.")
            } else {
                format!(
                    "{owner} runs in {new} database transaction ({declared}){rollback}: its writes to {} commit or roll back together.",
                    writes.join(", ")
                )
            }
        };
        d.comment = facts.doc.clone();
        d.inherited_from = inherited_from;
        d.self_invoked_from = self.self_invocations();
        d.extra_chunks = extra_chunk.into_iter().collect();
        Some(d)
    }

    /// Methods of this method's class that call it without a receiver or through `this`: the
    /// call stays inside the object, so Spring's proxy (and the annotations it applies) is
    /// bypassed on that route.
    fn self_invocations(&self) -> Vec<(String, Option<ChunkId>)> {
        let symbols = self.symbols;
        let own = symbols.methods[self.m].ty;
        let mut out: Vec<(String, Option<ChunkId>)> = Vec::new();
        for &caller in self.graph.callers.get(&self.m).into_iter().flatten() {
            if caller == self.m || symbols.methods[caller].ty != own {
                continue;
            }
            let text = symbols.text(own);
            let direct = self.graph.bodies[caller].calls.iter().any(|call| {
                call.targets.contains(&Target::Method(self.m))
                    && text
                        .get(call.start..call.end)
                        .is_some_and(|t| t.starts_with(&call.name) || t.starts_with("this."))
            });
            let entry = &symbols.methods[caller];
            if direct && !out.iter().any(|(s, _)| *s == entry.symbol) {
                out.push((entry.symbol.clone(), entry.chunk_id.clone()));
            }
        }
        out
    }

    /// Tables written by the mapper statements this method reaches (through project calls).
    fn reachable_writes(&self) -> Vec<String> {
        let mut tables: Vec<String> = Vec::new();
        let mut seen = vec![self.m];
        let mut stack = vec![(self.m, 0u32)];
        while let Some((m, depth)) = stack.pop() {
            for call in &self.graph.bodies[m].calls {
                for target in &call.targets {
                    match *target {
                        Target::Statement(s) => {
                            let st = &self.symbols.statements[s];
                            if st.summary.operation.writes()
                                && let Some(t) = st.summary.tables.first()
                                && !tables.contains(t)
                            {
                                tables.push(t.clone());
                            }
                        }
                        Target::Method(callee) if depth < 6 && !seen.contains(&callee) => {
                            seen.push(callee);
                            stack.push((callee, depth + 1));
                        }
                        Target::Method(_) => {}
                    }
                }
            }
        }
        tables
    }

    fn collect_assignments(&mut self, node: Node<'_>) {
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            let pair = match n.kind() {
                "variable_declarator" => n
                    .child_by_field_name("name")
                    .zip(n.child_by_field_name("value")),
                "assignment_expression" => n
                    .child_by_field_name("left")
                    .zip(n.child_by_field_name("right")),
                _ => None,
            };
            if let Some((name, value)) = pair
                && name.kind() == "identifier"
                && value.kind() == "method_invocation"
            {
                self.assigned
                    .entry(node_text(name, self.text).to_owned())
                    .or_default()
                    .push((n.start_byte(), value.start_byte()));
            }
            let mut cursor = n.walk();
            for child in n.named_children(&mut cursor) {
                stack.push(child);
            }
        }
    }

    fn walk(&mut self, node: Node<'s>) {
        match node.kind() {
            "if_statement" => self.if_rule(node),
            "class_body" => return,
            "expression_statement" => self.assert_rule(node),
            _ => {}
        }
        if matches!(
            node.kind(),
            "local_variable_declaration" | "expression_statement" | "return_statement"
        ) {
            self.computation_rule(node);
        }
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            self.walk(child);
        }
    }

    fn values_of(&self, node: Node<'_>) -> Vec<NamedValue> {
        let mut pairs = Vec::new();
        named_values(self.symbols, self.ty, node, self.text, &mut pairs);
        pairs
            .into_iter()
            .map(|(name, value)| NamedValue { name, value })
            .collect()
    }

    /// The write statement whose affected-row count the condition tests, if it does.
    fn affected_rows_statement(&self, condition: Node<'_>, if_start: usize) -> Option<usize> {
        let condition = unwrap_parens(condition);
        if condition.kind() != "binary_expression" {
            return None;
        }
        let left = unwrap_parens(condition.child_by_field_name("left")?);
        let right = unwrap_parens(condition.child_by_field_name("right")?);
        let (var, number) = if left.kind() == "identifier" {
            (left, right)
        } else {
            (right, left)
        };
        if var.kind() != "identifier" || !matches!(node_text(number, self.text), "0" | "1") {
            return None;
        }
        let assignments = self.assigned.get(node_text(var, self.text))?;
        let (_, call_start) = assignments
            .iter()
            .filter(|(at, _)| *at < if_start)
            .max_by_key(|(at, _)| *at)?;
        let call = self.body.call_at(*call_start)?;
        call.targets.iter().find_map(|t| match *t {
            Target::Statement(s) if self.symbols.statements[s].summary.operation.writes() => {
                Some(s)
            }
            _ => None,
        })
    }

    /// Whether a failure under `condition` can never run because the value it checks was
    /// loaded by a finder whose query already requires the opposite:
    /// `order = orderService.findById(userId, id)` (a query filtered by `user_id = userId`)
    /// followed by `if (!order.getUserId().equals(userId)) return fail(...)`. Read from MyBatis
    /// Generator criteria in the finder's body (`andUserIdEqualTo(userId)`).
    fn filtered_out_by_query(&self, condition: &str, if_start: usize) -> Option<MethodId> {
        let (object, property, value) = mismatch_of(condition)?;
        let (_, call_start) = self.assigned.get(&object).and_then(|a| {
            a.iter()
                .filter(|(at, _)| *at < if_start)
                .max_by_key(|(at, _)| *at)
        })?;
        let call = self.body.call_at(*call_start)?;
        let position = call
            .args
            .iter()
            .position(|&(a, b)| self.text.get(a..b).map(str::trim) == Some(value.as_str()))?;
        call.targets.iter().find_map(|t| match *t {
            Target::Method(finder) => {
                let facts = self.symbols.method_facts(finder);
                let param = facts.params.get(position)?;
                let (start, end) = facts.body?;
                let body = &self.symbols.text(self.symbols.methods[finder].ty)[start..end];
                let criterion = format!("and{property}EqualTo({})", param.name);
                body.replace(char::is_whitespace, "")
                    .contains(&criterion)
                    .then_some(finder)
            }
            Target::Statement(_) => None,
        })
    }

    /// Whether an exception of the thrown type leaves every `try` on the path: its supertypes
    /// are known up to `RuntimeException` and none of them is a type a `catch` there takes.
    fn escapes_every_catch(&self, path: &Path, thrown: Option<(String, Option<TypeId>)>) -> bool {
        let Some((name, written_in)) = thrown else {
            return false;
        };
        let chain =
            super::handlers::exception_chain(self.symbols, written_in.unwrap_or(self.ty), &name);
        if !chain.iter().any(|t| t == "RuntimeException") {
            return false;
        }
        path.context.iter().all(|c| match c {
            Context::Try { catches } => catches
                .iter()
                .flat_map(|c| c.split('|'))
                .map(|c| c.trim().rsplit('.').next().unwrap_or_default())
                .all(|caught| !chain.iter().any(|t| t == caught)),
            _ => true,
        })
    }

    fn if_rule(&mut self, node: Node<'s>) {
        let Some(paths) = &self.paths else {
            return;
        };
        let Some(condition) = node.child_by_field_name("condition") else {
            return;
        };
        let Some(then) = node.child_by_field_name("consequence") else {
            return;
        };
        let alternative = node.child_by_field_name("alternative");
        let text = self.text;
        let cond_text = node_text(unwrap_parens(condition), text).to_owned();
        let failure_then = self.find_failure(then);
        // An `else` block that fails; an `else if` is a rule of its own, reached through this
        // one's negation.
        let failure_else = alternative
            .filter(|a| a.kind() != "if_statement")
            .and_then(|a| self.find_failure(a));
        // `if (ok) { return success; } return failed();`: the failure right after an arm that
        // always leaves runs exactly when the condition does not hold.
        let failure_after = if failure_then.is_none()
            && failure_else.is_none()
            && alternative.is_none()
            && paths.always_exits(then)
        {
            next_statement(node).filter(|n| self.is_failure(*n))
        } else {
            None
        };
        let failure = failure_then.or(failure_else).or(failure_after);
        // A failure no execution reaches (the query that loaded the value filters it out) is
        // kept apart from the method's rules, with the finder as evidence, so lists can say it
        // is never reached instead of stating it or silently leaving it out.
        let never_reached =
            failure_then.and_then(|_| self.filtered_out_by_query(&cond_text, node.start_byte()));
        let mut facts = ConditionFacts::default();
        condition_facts(condition, text, &mut facts);
        let affected = self.affected_rows_statement(condition, node.start_byte());
        let then_outcome = last_statement(then).and_then(|s| paths.outcome(s));

        let kind = if let Some(s) = affected {
            let predicates = &self.symbols.statements[s].summary.predicates;
            let guarded = |vocab: &[&str]| {
                predicates
                    .iter()
                    .any(|p| !is_key_predicate(p) && mentions(p, vocab))
            };
            if guarded(STOCK_WORDS) {
                RuleKind::StockCheck
            } else if guarded(&["status", "state", "version"]) {
                RuleKind::Locking
            } else if failure.is_some() {
                RuleKind::Guard
            } else {
                return;
            }
        } else if facts.status {
            // `if (status == PAID) return;`: an idempotent exit. A branch that returns a value
            // (`return "draft";`) maps the status, it does not guard anything.
            let bare_exit = then_outcome == Some(Outcome::ReturnsSuccess)
                || (then_outcome == Some(Outcome::Returns)
                    && last_statement(then).is_some_and(|s| s.named_child_count() == 0));
            if facts.status_equality && !facts.other && failure.is_none() && bare_exit {
                RuleKind::Locking
            } else {
                RuleKind::StatusCheck
            }
        } else if facts.stock {
            RuleKind::StockCheck
        } else if facts.amount {
            RuleKind::AmountCheck
        } else if failure.is_some() {
            RuleKind::Guard
        } else {
            return;
        };

        // What happens, and the full path under which it happens (from method entry).
        let consequence_node = failure.unwrap_or(then);
        let consequence = block_content(consequence_node, text);
        let outcome = match failure {
            Some(f) => paths.outcome(f),
            None => then_outcome,
        };
        let path = paths.path_to(consequence_node);
        // A throw inside a `try` whose `catch` may take it need not make the method fail: say
        // nothing rather than guess which catch applies.
        if path.in_try()
            && matches!(outcome, Some(Outcome::Throws | Outcome::Fails))
            && !(outcome == Some(Outcome::Throws)
                && self.escapes_every_catch(&path, failure.and_then(|f| paths.thrown_type(f))))
        {
            return;
        }
        let message = failure.and_then(|f| first_string_literal(node_text(f, text)));
        let mut d = Draft::new(
            kind,
            cond_text.clone(),
            node.start_position().row as u32 + 1,
            node.end_position().row as u32 + 1,
        );
        d.values = self.values_of(condition);
        d.comment = doc_above(node, text);
        let what = outcome_en(outcome, &shorten(&consequence, 120), message.as_deref());
        let sentence = rule_sentence_en(&self.owner(), &what, &path);
        let sentence = sentence.trim_end_matches('.');
        let values = if d.values.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                d.values
                    .iter()
                    .map(|v| format!("{} = {}", v.name, v.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        d.statement = match kind {
            RuleKind::Locking if affected.is_some() => {
                let s = &self.symbols.statements[affected.unwrap_or_default()];
                format!(
                    "{sentence}{values}: the affected-row count of {} (which only updates rows where {}) detects a concurrent change.",
                    short_statement(&s.symbol),
                    s.summary
                        .predicates
                        .iter()
                        .filter(|p| !is_key_predicate(p))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            }
            RuleKind::Locking => format!(
                "{sentence}{values}: an idempotent early exit when the status already has that value."
            ),
            RuleKind::StockCheck if affected.is_some() => {
                let s = &self.symbols.statements[affected.unwrap_or_default()];
                format!(
                    "{sentence}{values}: {} updates no row unless {}.",
                    short_statement(&s.symbol),
                    s.summary
                        .predicates
                        .iter()
                        .filter(|p| !is_key_predicate(p))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            }
            _ => format!("{sentence}{values}."),
        };
        d.throws = failure.and_then(|f| paths.thrown_type(f));
        if let Some(finder) = never_reached {
            d.never_reached_by = Some(self.symbols.methods[finder].symbol.clone());
            d.extra_chunks
                .extend(self.symbols.methods[finder].chunk_id.iter().cloned());
        }
        d.consequence = Some(consequence);
        d.message = message;
        d.when = Some(path);
        d.outcome = outcome;
        self.drafts.push(d);
    }

    fn assert_rule(&mut self, node: Node<'s>) {
        let Some(paths) = &self.paths else {
            return;
        };
        // The condition the assertion requires: it fails when that does not hold.
        let Some(required) = paths.assertion(node) else {
            return;
        };
        let Some(call) = node
            .named_child(0)
            .filter(|c| c.kind() == "method_invocation")
        else {
            return;
        };
        let Some(first) = call
            .child_by_field_name("arguments")
            .and_then(|a| a.named_child(0))
        else {
            return;
        };
        let text = self.text;
        let condition = node_text(first, text).to_owned();
        let message = first_string_literal(&text[first.end_byte()..call.end_byte()]);
        let mut facts = ConditionFacts::default();
        condition_facts(first, text, &mut facts);
        let kind = if facts.status {
            RuleKind::StatusCheck
        } else if facts.stock {
            RuleKind::StockCheck
        } else if facts.amount {
            RuleKind::AmountCheck
        } else {
            RuleKind::Guard
        };
        // It fails when the required condition does not hold.
        let mut path = paths.path_to(node);
        if path.in_try() && !self.escapes_every_catch(&path, paths.thrown_type(node)) {
            return;
        }
        path.conditions.push(Condition {
            expr: required.as_expression(),
            holds: false,
            origin: required.origin,
        });
        let mut d = Draft::new(
            kind,
            condition.clone(),
            node.start_position().row as u32 + 1,
            node.end_position().row as u32 + 1,
        );
        d.values = self.values_of(first);
        d.comment = doc_above(node, text);
        let code = compact(node_text(node, text));
        let what = outcome_en(
            Some(Outcome::Throws),
            &shorten(&code, 120),
            message.as_deref(),
        );
        d.statement = rule_sentence_en(&self.owner(), &what, &path);
        d.throws = paths.thrown_type(node);
        d.consequence = Some(code);
        d.message = message;
        d.when = Some(path);
        d.outcome = Some(Outcome::Throws);
        self.drafts.push(d);
    }

    fn computation_rule(&mut self, node: Node<'s>) {
        let text = self.text;
        // (target name, expression) pairs this statement computes.
        let mut pairs: Vec<(String, Node<'_>)> = Vec::new();
        match node.kind() {
            "local_variable_declaration" => {
                let mut cursor = node.walk();
                for d in node.children_by_field_name("declarator", &mut cursor) {
                    if let (Some(name), Some(value)) = (
                        d.child_by_field_name("name"),
                        d.child_by_field_name("value"),
                    ) {
                        pairs.push((node_text(name, text).to_owned(), value));
                    }
                }
            }
            "expression_statement" => {
                let Some(expr) = node.named_child(0) else {
                    return;
                };
                match expr.kind() {
                    "assignment_expression" => {
                        if let (Some(left), Some(right)) = (
                            expr.child_by_field_name("left"),
                            expr.child_by_field_name("right"),
                        ) {
                            let target = node_text(left, text);
                            let target = target.rsplit('.').next().unwrap_or(target).to_owned();
                            pairs.push((target, right));
                        }
                    }
                    // `x.setPayAmount(expr)`.
                    "method_invocation" => {
                        let name = expr
                            .child_by_field_name("name")
                            .map(|n| node_text(n, text))
                            .unwrap_or("");
                        if let (Some(property), Some(args)) = (
                            property_of_accessor(name),
                            expr.child_by_field_name("arguments"),
                        ) && name.starts_with("set")
                            && args.named_child_count() == 1
                            && let Some(arg) = args.named_child(0)
                        {
                            pairs.push((property, arg));
                        }
                    }
                    _ => {}
                }
            }
            "return_statement" => {
                if let Some(expr) = node.named_child(0) {
                    pairs.push((self.symbols.method_facts(self.m).name.clone(), expr));
                }
            }
            _ => {}
        }
        for (target, expr) in pairs {
            if !has_arithmetic(expr, text) {
                continue;
            }
            let mut terms = Vec::new();
            // The target itself is an accumulator (`total = total.add(x)`), not a term.
            collect_terms(expr, text, &target, &mut terms);
            let money =
                mentions(&target, AMOUNT_WORDS) || terms.iter().any(|t| mentions(t, AMOUNT_WORDS));
            if terms.len() < 2 || !money {
                continue;
            }
            let expression = node_text(expr, text).to_owned();
            let mut d = Draft::new(
                RuleKind::Computation,
                expression.clone(),
                node.start_position().row as u32 + 1,
                node.end_position().row as u32 + 1,
            );
            d.values = self.values_of(expr);
            d.comment = doc_above(node, text);
            // A formula inside `if (promotionType == 3 && ladder != null)` is the rule only
            // there: the path says where it applies.
            let path = self.paths.as_ref().map(|p| p.path_to(node));
            let mut statement = format!(
                "{} computes {target} from {}: `{}`",
                self.owner(),
                join_words(&terms),
                shorten(&compact(&expression), 200)
            );
            if let Some(when) = path.as_ref().and_then(when_en) {
                statement.push_str(&format!(", {when}"));
            }
            for c in path
                .as_ref()
                .map(super::path_text::context_en)
                .unwrap_or_default()
            {
                statement.push_str(&format!(", {c}"));
            }
            statement.push('.');
            d.statement = statement;
            d.terms = terms;
            d.field = Some(target);
            d.when = path;
            self.drafts.push(d);
        }
    }

    fn find_failure(&self, branch: Node<'s>) -> Option<Node<'s>> {
        if branch.kind() == "block" {
            let mut cursor = branch.walk();
            branch
                .named_children(&mut cursor)
                .find(|s| self.is_failure(*s))
        } else if self.is_failure(branch) {
            Some(branch)
        } else {
            None
        }
    }

    fn is_failure(&self, statement: Node<'s>) -> bool {
        self.paths
            .as_ref()
            .and_then(|p| p.outcome(statement))
            .is_some_and(Outcome::is_failure)
    }
}

/// The last statement of a branch (the branch itself when it is not a block).
fn last_statement(branch: Node<'_>) -> Option<Node<'_>> {
    if branch.kind() == "block" {
        let mut cursor = branch.walk();
        branch
            .named_children(&mut cursor)
            .filter(|n| !n.is_extra())
            .last()
    } else {
        Some(branch)
    }
}

fn next_statement(node: Node<'_>) -> Option<Node<'_>> {
    let mut next = node.next_named_sibling();
    while let Some(n) = next {
        if !n.is_extra() {
            return Some(n);
        }
        next = n.next_named_sibling();
    }
    None
}

/// A branch's statements without the braces, whitespace compacted.
fn block_content(node: Node<'_>, text: &str) -> String {
    let written = node_text(node, text);
    let inner = if node.kind() == "block" {
        written.trim_start_matches('{').trim_end_matches('}')
    } else {
        written
    };
    compact(inner)
}

/// `text` cut to at most `max` characters at a word boundary, with `...` when cut, so that no
/// identifier is quoted half.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let boundary = cut
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(cut.len());
    format!("{}...", cut[..boundary].trim_end())
}

/// `Type.method` of a method symbol, `Type` of a type symbol.
fn short_symbol(symbol: &str) -> String {
    let head = symbol.split('(').next().unwrap_or(symbol);
    let mut parts = head.rsplit('.');
    let last = parts.next().unwrap_or(head);
    match (symbol.contains('('), parts.next()) {
        (true, Some(class)) => format!("{class}.{last}"),
        _ => last.to_owned(),
    }
}

fn short_statement(symbol: &str) -> &str {
    let mut parts = symbol.rsplitn(3, '.');
    let id = parts.next().unwrap_or(symbol);
    match parts.next() {
        Some(ns) => &symbol[symbol.len() - id.len() - ns.len() - 1..],
        None => id,
    }
}

fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

const ARITHMETIC_CALLS: &[&str] = &["add", "subtract", "multiply", "divide", "negate"];

fn has_arithmetic(node: Node<'_>, text: &str) -> bool {
    match node.kind() {
        "binary_expression" => {
            let op = node
                .child_by_field_name("operator")
                .map(|o| node_text(o, text))
                .unwrap_or("");
            if matches!(op, "-" | "*" | "/") || (op == "+" && !is_string_concat(node, text)) {
                return true;
            }
        }
        "method_invocation" => {
            let name = node
                .child_by_field_name("name")
                .map(|n| node_text(n, text))
                .unwrap_or("");
            if ARITHMETIC_CALLS.contains(&name) {
                return true;
            }
        }
        "lambda_expression" | "string_literal" => return false,
        _ => {}
    }
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .any(|c| has_arithmetic(c, text))
}

/// `a + "x" + b`: a `+` chain with a string literal in it.
fn is_string_concat(node: Node<'_>, text: &str) -> bool {
    match node.kind() {
        "string_literal" => true,
        "binary_expression" => {
            node.child_by_field_name("operator")
                .is_some_and(|o| node_text(o, text) == "+")
                && [
                    node.child_by_field_name("left"),
                    node.child_by_field_name("right"),
                ]
                .into_iter()
                .flatten()
                .any(|n| is_string_concat(n, text))
        }
        "parenthesized_expression" => node
            .named_child(0)
            .is_some_and(|n| is_string_concat(n, text)),
        _ => false,
    }
}

/// The operands of an arithmetic expression: getter properties, variables and fields;
/// constants in upper case, literals and rounding arguments are not terms.
fn collect_terms(node: Node<'_>, text: &str, target: &str, out: &mut Vec<String>) {
    let push = |out: &mut Vec<String>, term: String| {
        if !out.contains(&term) {
            out.push(term);
        }
    };
    match node.kind() {
        "identifier" => {
            let name = node_text(node, text);
            // Constants and class names (static call receivers) are not terms.
            let capitalised = name.starts_with(|c: char| c.is_ascii_uppercase());
            if !capitalised && name != target {
                push(out, name.to_owned());
            }
        }
        "method_invocation" => {
            let name = node
                .child_by_field_name("name")
                .map(|n| node_text(n, text))
                .unwrap_or("");
            let args = node.child_by_field_name("arguments");
            let arity = args.map_or(0, |a| a.named_child_count());
            if arity == 0
                && let Some(property) = property_of_accessor(name)
            {
                push(out, property);
                return;
            }
            if let Some(object) = node.child_by_field_name("object") {
                collect_terms(object, text, target, out);
            }
            if let Some(args) = args {
                // `divide(x, 2, RoundingMode.HALF_UP)`: only the first argument is an operand.
                let operands = if matches!(name, "divide" | "setScale") {
                    1
                } else {
                    usize::MAX
                };
                let mut cursor = args.walk();
                for arg in args.named_children(&mut cursor).take(operands) {
                    collect_terms(arg, text, target, out);
                }
            }
        }
        "field_access" => {
            let field = node
                .child_by_field_name("field")
                .map(|f| node_text(f, text))
                .unwrap_or("");
            let constant = field
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !constant {
                push(out, field.to_owned());
            }
        }
        "ternary_expression" => {
            // `x == null ? ZERO : a.subtract(b)`: the computed branch.
            for field in ["consequence", "alternative"] {
                if let Some(branch) = node.child_by_field_name(field) {
                    collect_terms(branch, text, target, out);
                }
            }
        }
        "lambda_expression" | "string_literal" => {}
        _ => {
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                collect_terms(child, text, target, out);
            }
        }
    }
}

fn schedule_timing(a: &Annotation) -> String {
    if let Some(cron) = a.arg("cron").and_then(first_string_literal) {
        return cron;
    }
    a.args
        .iter()
        .map(|(k, v)| match k {
            Some(k) => format!("{k} = {v}"),
            None => v.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_timing(a: &Annotation, timing: &str) -> String {
    if a.arg("cron").is_some() {
        return format!("cron \"{timing}\"");
    }
    let millis = ["fixedRate", "fixedDelay"].iter().find_map(|k| {
        let v = a.arg(k)?;
        let product = v
            .split('*')
            .map(|p| p.trim().trim_end_matches(['L', 'l']).parse::<i64>().ok())
            .try_fold(1i64, |acc, x| x.and_then(|x| acc.checked_mul(x)))?;
        Some((*k, product))
    });
    match millis {
        Some((k, ms)) => format!(
            "{} every {} ({timing})",
            if k == "fixedRate" {
                "started"
            } else {
                "repeated with a pause"
            },
            human_duration(ms)
        ),
        None => timing.to_owned(),
    }
}

fn human_duration(ms: i64) -> String {
    match ms {
        ms if ms % 86_400_000 == 0 => format!("{} day(s)", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 => format!("{} hour(s)", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} minute(s)", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{} second(s)", ms / 1000),
        ms => format!("{ms} ms"),
    }
}

/// A validation rule from constraint annotations on a field or parameter.
fn validation_draft(
    symbols: &Symbols<'_>,
    annotations: &[Annotation],
    name: &str,
    declaration: &str,
    start: u32,
    end: u32,
) -> Option<Draft> {
    // Bean Validation's own constraints and the project's (annotation types marked
    // `@Constraint`): a list of what a field must satisfy that left those out would be false.
    let constraints: Vec<&Annotation> = annotations
        .iter()
        .filter(|a| {
            CONSTRAINTS.contains(&a.name.as_str()) || symbols.custom_constraints.contains(&a.name)
        })
        .collect();
    if constraints.is_empty() {
        return None;
    }
    let mut d = Draft::new(RuleKind::Validation, compact(declaration), start, end);
    let phrases: Vec<String> = constraints.iter().map(|a| constraint_phrase(a)).collect();
    let messages: Vec<String> = constraints
        .iter()
        .filter_map(|a| a.string_arg("message"))
        .fold(Vec::new(), |mut acc, m| {
            if !acc.contains(&m) {
                acc.push(m);
            }
            acc
        });
    d.statement = format!(
        "{name} {}{}.",
        join_words(&phrases),
        if messages.is_empty() {
            String::new()
        } else {
            format!(" (\"{}\")", messages.join("\", \""))
        }
    );
    d.consequence = (!messages.is_empty()).then(|| messages.join("; "));
    d.message = messages.first().cloned();
    d.field = Some(name.to_owned());
    d.annotations = constraints.iter().map(|a| format!("@{}", a.name)).collect();
    Some(d)
}

/// `(object, Property, value)` when `condition` says `object.getProperty()` differs from the
/// variable `value`: `!o.getP().equals(v)`, `!v.equals(o.getP())`, `o.getP() != v`,
/// `!Objects.equals(o.getP(), v)`.
fn mismatch_of(condition: &str) -> Option<(String, String, String)> {
    static FORMS: std::sync::LazyLock<[regex::Regex; 4]> = std::sync::LazyLock::new(|| {
        [
            r"^!\s*(?P<o>\w+)\.get(?P<p>\w+)\(\)\.equals\((?P<v>\w+)\)$",
            r"^!\s*(?P<v>\w+)\.equals\((?P<o>\w+)\.get(?P<p>\w+)\(\)\)$",
            r"^(?P<o>\w+)\.get(?P<p>\w+)\(\)\s*!=\s*(?P<v>\w+)$",
            r"^!\s*Objects\.equals\((?P<o>\w+)\.get(?P<p>\w+)\(\),\s*(?P<v>\w+)\)$",
        ]
        .map(|f| regex::Regex::new(f).expect("a valid pattern"))
    });
    let condition = condition.trim();
    FORMS.iter().find_map(|form| {
        let c = form.captures(condition)?;
        Some((c["o"].to_owned(), c["p"].to_owned(), c["v"].to_owned()))
    })
}

fn constraint_phrase(a: &Annotation) -> String {
    let value = || {
        a.arg("value")
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    match a.name.as_str() {
        "NotNull" => "is required (@NotNull)".to_owned(),
        "NotEmpty" => "must not be empty (@NotEmpty)".to_owned(),
        "NotBlank" => "must not be blank (@NotBlank)".to_owned(),
        "Min" | "DecimalMin" => format!("must be >= {} (@{})", value(), a.name),
        "Max" | "DecimalMax" => format!("must be <= {} (@{})", value(), a.name),
        // Only the bounds the annotation writes: an unwritten default is not a fact of the code.
        "Size" | "Length" => match (a.arg("min"), a.arg("max")) {
            (Some(min), Some(max)) => {
                format!("must have a size between {min} and {max} (@{})", a.name)
            }
            (Some(min), None) => format!("must have a size of at least {min} (@{})", a.name),
            (None, Some(max)) => format!("must have a size of at most {max} (@{})", a.name),
            (None, None) => format!("must satisfy @{}", a.name),
        },
        "Pattern" => format!(
            "must match {} (@Pattern)",
            a.arg("regexp").unwrap_or("a pattern")
        ),
        "Positive" => "must be > 0 (@Positive)".to_owned(),
        "PositiveOrZero" => "must be >= 0 (@PositiveOrZero)".to_owned(),
        other => format!("must satisfy @{other}"),
    }
}

fn field_validations(symbols: &Symbols<'_>, domains: &DomainAssignment, t: TypeId) -> Vec<Rule> {
    let facts = symbols.type_facts(t);
    let text = symbols.text(t);
    let mut out = Vec::new();
    for field in &facts.fields {
        let Some(mut d) = validation_draft(
            symbols,
            &field.annotations,
            &field.name,
            &text[field.start_byte..field.end_byte],
            field.start_line,
            field.end_line,
        ) else {
            continue;
        };
        d.statement = format!("{}.{}", facts.simple_name, d.statement);
        out.push(Rule {
            rule_id: rule_id(RuleKind::Validation, &facts.symbol, &d.condition),
            kind: RuleKind::Validation,
            domain: domains.of_type[t].clone(),
            source: RuleSource::Java,
            condition: d.condition,
            consequence: d.consequence,
            message: d.message,
            statement: d.statement,
            chunk_ids: symbols.types[t].chunk_id.iter().cloned().collect(),
            path: symbols.path(t).to_owned(),
            symbol: facts.symbol.clone(),
            start_line: d.start_line,
            end_line: d.end_line,
            comment: field.doc.clone(),
            values: Vec::new(),
            terms: Vec::new(),
            timing: None,
            field: d.field,
            annotations: d.annotations,
            when: None,
            outcome: None,
            inherited_from: None,
            throws: None,
            throws_chain: Vec::new(),
            self_invoked_from: Vec::new(),
            never_reached_by: None,
        });
    }
    out
}

fn class_transaction(symbols: &Symbols<'_>, domains: &DomainAssignment, t: TypeId) -> Option<Rule> {
    let facts = symbols.type_facts(t);
    let a = facts.annotation("Transactional")?;
    Some(Rule {
        rule_id: rule_id(RuleKind::Transaction, &facts.symbol, &a.text),
        kind: RuleKind::Transaction,
        domain: domains.of_type[t].clone(),
        source: RuleSource::Java,
        condition: a.text.clone(),
        consequence: None,
        message: None,
        statement: format!(
            "Every public method of {} runs in a database transaction ({}).",
            facts.simple_name, a.text
        ),
        chunk_ids: symbols.types[t].chunk_id.iter().cloned().collect(),
        path: symbols.path(t).to_owned(),
        symbol: facts.symbol.clone(),
        start_line: facts.start_line,
        end_line: facts.start_line,
        comment: facts.doc.clone(),
        values: Vec::new(),
        terms: Vec::new(),
        timing: None,
        field: None,
        annotations: Vec::new(),
        when: None,
        outcome: None,
        inherited_from: None,
        throws: None,
        throws_chain: Vec::new(),
        self_invoked_from: Vec::new(),
        never_reached_by: None,
    })
}

/// `WHERE` conditions of hand-written `UPDATE`/`DELETE` statements that go beyond selecting
/// rows by key: SQL-side guards.
fn sql_rules(
    symbols: &Symbols<'_>,
    domains: &DomainAssignment,
    include_generated: bool,
) -> Vec<Rule> {
    let mut out = Vec::new();
    for st in &symbols.statements {
        if (st.generated && !include_generated)
            || !matches!(
                st.summary.operation,
                SqlOperation::Update | SqlOperation::Delete
            )
        {
            continue;
        }
        let file = &symbols.index.files[st.file];
        let doc = file
            .chunks
            .iter()
            .find(|c| c.chunk_id == st.chunk_id)
            .and_then(|c| c.doc.clone());
        let domain = symbols
            .type_by_fqn(&st.namespace)
            .map(|t| domains.of_type[t].clone())
            .unwrap_or_else(|| domains.fallback.clone());
        let table = st.summary.tables.first().cloned().unwrap_or_default();
        for predicate in &st.summary.predicates {
            if is_key_predicate(predicate) {
                continue;
            }
            let comparison = ["<", ">", "!=", "<>"]
                .iter()
                .any(|op| predicate.contains(op));
            let kind = if mentions(predicate, STOCK_WORDS) {
                RuleKind::StockCheck
            } else if mentions(predicate, &["version"]) {
                RuleKind::Locking
            } else if mentions(predicate, &["status", "state"]) {
                RuleKind::StatusCheck
            } else if mentions(predicate, AMOUNT_WORDS) {
                RuleKind::AmountCheck
            } else if comparison {
                RuleKind::Guard
            } else {
                continue;
            };
            let action = match st.summary.operation {
                SqlOperation::Delete => "deletes",
                _ => "updates",
            };
            out.push(Rule {
                rule_id: rule_id(kind, &st.symbol, predicate),
                kind,
                domain: domain.clone(),
                source: RuleSource::Sql,
                condition: predicate.clone(),
                consequence: Some(format!(
                    "0 rows {} in {table} otherwise",
                    if action == "deletes" {
                        "deleted"
                    } else {
                        "updated"
                    }
                )),
                message: None,
                statement: format!(
                    "{} only {action} {table} rows where {predicate}; otherwise it changes 0 rows.",
                    short_statement(&st.symbol)
                ),
                chunk_ids: vec![st.chunk_id.clone()],
                path: file.path.clone(),
                symbol: st.symbol.clone(),
                start_line: st.start_line,
                end_line: st.end_line,
                comment: doc.clone(),
                values: Vec::new(),
                terms: Vec::new(),
                timing: None,
                field: None,
                annotations: Vec::new(),
                when: None,
                outcome: None,
                inherited_from: None,
                throws: None,
                throws_chain: Vec::new(),
                self_invoked_from: Vec::new(),
                never_reached_by: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_camel_and_snake_case() {
        assert_eq!(words("getMinPoint"), ["get", "min", "point"]);
        assert_eq!(words("FREE_FREIGHT_AMOUNT"), ["free", "freight", "amount"]);
        assert!(mentions("orderAmount.compareTo(x)", AMOUNT_WORDS));
        assert!(!mentions("endpoint", AMOUNT_WORDS));
    }

    #[test]
    fn rule_ids_ignore_whitespace_but_not_kind() {
        let a = rule_id(RuleKind::Guard, "p.A.f()", "x == null");
        assert_eq!(a, rule_id(RuleKind::Guard, "p.A.f()", "x  ==\n null"));
        assert_ne!(a, rule_id(RuleKind::StatusCheck, "p.A.f()", "x == null"));
        assert!(a.starts_with('r') && a.len() == 13);
    }

    #[test]
    fn timings() {
        let a = Annotation {
            name: "Scheduled".into(),
            text: "@Scheduled(fixedRate = 60 * 60 * 1000)".into(),
            args: vec![(Some("fixedRate".into()), "60 * 60 * 1000".into())],
        };
        let timing = schedule_timing(&a);
        assert_eq!(timing, "fixedRate = 60 * 60 * 1000");
        assert!(describe_timing(&a, &timing).contains("1 hour(s)"));
    }
}
