//! Rules in mapper SQL: optimistic locks (`version = #{version}`) and status or stock guards
//! in the `WHERE` of a write.

use crate::domain_assignment::DomainAssignment;
use crate::sql::{SqlOperation, is_key_predicate};
use crate::symbols::Symbols;

use super::classify::{AMOUNT_WORDS, STOCK_WORDS, mentions};
use super::wording::short_statement;
use super::{Rule, RuleKind, RuleSource, rule_id};

/// `WHERE` conditions of hand-written `UPDATE`/`DELETE` statements that go beyond selecting
/// rows by key: SQL-side guards.
pub(super) fn sql_rules(
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
