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

mod annotations;
mod classify;
mod mapper_sql;
mod method_body;
mod wording;

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use super::call_graph::CallGraph;
use super::domain_assignment::DomainAssignment;
use super::paths::{Outcome, Path};
use super::symbols::{Symbols, TypeId};
use super::syntax::compact;
use acdp_index::ChunkId;

use annotations::{class_transaction, field_validations};
use mapper_sql::sql_rules;
use method_body::MethodRules;
pub use wording::shorten;

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

#[cfg(test)]
mod tests {
    use super::classify::{AMOUNT_WORDS, mentions, words};
    use super::wording::{describe_timing, schedule_timing};
    use super::*;
    use crate::syntax::Annotation;

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
