//! Rules written as annotations: Bean Validation constraints on fields and parameters, and
//! `@Transactional` on a class.

use crate::domain_assignment::DomainAssignment;
use crate::symbols::{Symbols, TypeId};
use crate::syntax::{Annotation, compact};

use super::wording::{constraint_phrase, join_words};
use super::{Draft, Rule, RuleKind, RuleSource, rule_id};

/// Constraint annotations of Bean Validation (and Hibernate Validator's common extras).
pub(super) const CONSTRAINTS: &[&str] = &[
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

/// A validation rule from constraint annotations on a field or parameter.
pub(super) fn validation_draft(
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

pub(super) fn field_validations(
    symbols: &Symbols<'_>,
    domains: &DomainAssignment,
    t: TypeId,
) -> Vec<Rule> {
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

pub(super) fn class_transaction(
    symbols: &Symbols<'_>,
    domains: &DomainAssignment,
    t: TypeId,
) -> Option<Rule> {
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
