//! The rules of one method body: every `if` whose branch fails or returns early, classified
//! (status, stock, amount, locking, guard), with its path facts; computations; `@Transactional`
//! and `@Scheduled` on the method or inherited from its interface method.

use std::collections::HashMap;

use tree_sitter::Node;

use crate::call_graph::{CallGraph, MethodBody, Target};
use crate::domain_assignment::DomainAssignment;
use crate::path_text::{outcome_en, rule_sentence_en, when_en};
use crate::paths::{Condition, Context, MethodPaths, Outcome, Path};
use crate::sql::is_key_predicate;
use crate::symbols::{AnnotatedDeclaration, MethodId, Symbols, TypeId};
use crate::syntax::{
    TypeKind, compact, doc_above, first_string_literal, node_text, property_of_accessor,
};
use crate::values::named_values;
use acdp_index::ChunkId;

use super::annotations::validation_draft;
use super::classify::{
    AMOUNT_WORDS, ConditionFacts, STOCK_WORDS, collect_terms, condition_facts, has_arithmetic,
    mentions, unwrap_parens,
};
use super::wording::{
    describe_timing, join_words, mismatch_of, schedule_timing, short_statement, short_symbol,
    shorten,
};
use super::{Draft, NamedValue, Rule, RuleKind, RuleSource, rule_id};

pub(super) struct MethodRules<'s, 'a> {
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
    pub(super) fn new(
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

    pub(super) fn run(mut self) -> Vec<Rule> {
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
            && let Some(node) = crate::call_graph::method_node(self.symbols, self.m)
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
                        crate::handlers::exception_chain(self.symbols, context, t)
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
            crate::handlers::exception_chain(self.symbols, written_in.unwrap_or(self.ty), &name);
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
                .map(crate::path_text::context_en)
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
pub(super) fn last_statement(branch: Node<'_>) -> Option<Node<'_>> {
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

pub(super) fn next_statement(node: Node<'_>) -> Option<Node<'_>> {
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
pub(super) fn block_content(node: Node<'_>, text: &str) -> String {
    let written = node_text(node, text);
    let inner = if node.kind() == "block" {
        written.trim_start_matches('{').trim_end_matches('}')
    } else {
        written
    };
    compact(inner)
}
