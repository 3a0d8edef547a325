//! Bean Validation constraints, asked about where they take effect.
//!
//! A constraint on a DTO field does nothing by itself: Spring MVC checks it only when the
//! handler parameter that binds the DTO carries `@Valid` or `@Validated`. So the question
//! worth asking is per endpoint: which constraints does `POST /x` enforce on its body, and what
//! does the client get when one fails (the `@ExceptionHandler` for the exception Spring raises,
//! when the project has one), or, without the annotation, that none of them is checked there.
//! Families:
//! - `request-validation`: one endpoint, the constraints of the object it binds;
//! - `validation`: the constraints of a type no endpoint binds, all fields together.

use std::collections::BTreeMap;

use acdp_analysis::handlers::handler_for;
use acdp_analysis::{Analysis, BoundBody, Flow, Rule, RuleKind};
use acdp_index::ChunkId;
use acdp_sample::{SampleLanguage, SampleSource, TraceStep};

use super::Written;
use super::composed_parts::{Listed, cut_note, numbered, trigger, written};
use super::evidence::{ChunkLookup, EvidenceSet, class_of, short_method, simple_name};
use super::qa::step;
use super::text::one_line;

/// Most constraints one answer lists.
const MAX_CONSTRAINTS: usize = 10;

pub(super) fn validation_samples(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Vec<Written> {
    // Constraints by what declares them, in source order: a type's fields, or a method's
    // parameters.
    let mut by_owner: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for rule in analysis
        .rules
        .iter()
        .filter(|r| r.kind == RuleKind::Validation && r.field.is_some())
    {
        by_owner.entry(rule.symbol.as_str()).or_default().push(rule);
    }
    for rules in by_owner.values_mut() {
        rules.sort_by_key(|r| r.start_line);
    }
    let none: Vec<&Rule> = Vec::new();
    // Parameters (or a type) whose every constraint is a bare `@NotNull` / `@NotEmpty` without a
    // message restate an annotation each: not asked about on their own.
    let worth_asking = |rules: &Vec<&Rule>| rules.iter().any(|r| !is_bare(r));
    let mut out = Vec::new();
    let mut bound: Vec<&str> = Vec::new();
    for flow in analysis.flows.iter().filter(|f| f.entry.kind == "http") {
        let body = flow
            .entry
            .body
            .as_ref()
            .and_then(|b| Some((b, by_owner.get(b.type_symbol.as_str())?)));
        if let Some((b, _)) = body {
            bound.push(b.type_symbol.as_str());
        }
        let params = by_owner
            .get(flow.entry.symbol.as_str())
            .filter(|rules| worth_asking(rules))
            .unwrap_or(&none);
        if body.is_none() && params.is_empty() {
            continue;
        }
        out.extend(endpoint_constraints(
            analysis, flow, body, params, lookup, language,
        ));
    }
    for (owner, rules) in &by_owner {
        if !owner.contains('(') && !bound.contains(owner) && worth_asking(rules) {
            out.extend(type_constraints(owner, rules, lookup, language));
        }
    }
    out
}

/// A presence check without a message: one annotation, nothing more to say.
fn is_bare(rule: &Rule) -> bool {
    rule.message.is_none()
        && rule
            .annotations
            .iter()
            .all(|a| matches!(a.as_str(), "@NotNull" | "@NotEmpty" | "@NotBlank"))
}

/// One constraint in a list: the analysis' sentence in English, the annotations as written in
/// Chinese (code reads the same in both).
fn constraint_line(rule: &Rule, language: SampleLanguage) -> String {
    let field = rule.field.as_deref().unwrap_or_default();
    match language {
        SampleLanguage::En => rule.statement.clone(),
        SampleLanguage::Zh => {
            let annotations = rule
                .annotations
                .iter()
                .map(|a| format!("`{}`", one_line(a)))
                .collect::<Vec<_>>()
                .join("、");
            match &rule.message {
                Some(m) => format!("`{field}`：{annotations}（提示 \"{m}\"）"),
                None => format!("`{field}`：{annotations}"),
            }
        }
    }
}

/// The constraint lines and their trace steps, each citing the field's chunk.
fn constraint_facts(
    rules: &[&Rule],
    evidence: &mut EvidenceSet<'_, '_>,
    language: SampleLanguage,
) -> (Vec<String>, Vec<TraceStep>, Vec<String>) {
    let mut lines = Vec::new();
    let mut trace = Vec::new();
    let mut ids = Vec::new();
    for rule in rules.iter().take(MAX_CONSTRAINTS) {
        let Some(id) = rule.chunk_ids.first().and_then(|id| evidence.add(id)) else {
            continue;
        };
        let line = constraint_line(rule, language);
        trace.push(step(line.clone(), &[&id]));
        lines.push(line);
        ids.push(rule.rule_id.clone());
    }
    (lines, trace, ids)
}

fn endpoint_constraints(
    analysis: &Analysis,
    flow: &Flow,
    body: Option<(&BoundBody, &Vec<&Rule>)>,
    params: &[&Rule],
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    // Validation groups select constraints by group: not spelled out here.
    let grouped = |rules: &[&Rule]| rules.iter().any(|r| r.condition.contains("groups"));
    if grouped(params) {
        return None;
    }
    let body = body.filter(|(b, rules)| !b.groups && !grouped(rules) && b.validated.is_some());
    let mut evidence = EvidenceSet::new(lookup);
    let entry_id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let endpoint = trigger(flow);
    let handler = short_method(&flow.entry.symbol);
    let controller = class_of(&flow.entry.symbol)?;
    let mut trace: Vec<TraceStep> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    let mut rule_ids: Vec<String> = Vec::new();
    let mut body_validated = None;
    if let Some((b, rules)) = body {
        let validated = b.validated?;
        body_validated = Some(validated);
        let (text, steps, ids) = body_part(
            analysis,
            flow,
            b,
            validated,
            rules,
            &entry_id,
            &mut evidence,
            language,
        )?;
        parts.push(text);
        trace.extend(steps);
        rule_ids.extend(ids);
    }
    if !params.is_empty() {
        let method_validation = flow.entry.method_validation?;
        let header = lookup
            .header(controller)
            .filter(|_| method_validation)
            .and_then(|id| evidence.add(id));
        if method_validation && header.is_none() {
            return None;
        }
        let (lines, steps, ids) = constraint_facts(params, &mut evidence, language);
        if lines.is_empty() {
            return None;
        }
        let simple = simple_name(controller);
        let when = match (method_validation, header.is_some(), language) {
            (true, true, SampleLanguage::En) => format!(
                "Spring checks them before `{handler}` runs, because `{simple}` is annotated `@Validated` (method validation), and rejects the call when one fails"
            ),
            (true, true, SampleLanguage::Zh) => format!(
                "由于 `{simple}` 标注了 `@Validated`（方法校验），Spring 会在 `{handler}` 执行前检查它们，任一不满足即拒绝调用"
            ),
            (_, _, SampleLanguage::En) => format!(
                "`{simple}` is not annotated @Validated, so Spring checks them only in versions whose MVC validates constrained handler parameters itself (newer Spring releases); earlier versions do not check them"
            ),
            (_, _, SampleLanguage::Zh) => format!(
                "`{simple}` 没有 @Validated 注解，因此只有 Spring MVC 自身校验带约束的处理方法参数的版本（较新的 Spring 版本）才会检查它们，更早的版本不检查"
            ),
        };
        if let (true, Some(h)) = (method_validation, &header) {
            trace.push(step(
                match language {
                    SampleLanguage::En => format!("`{simple}` is annotated `@Validated`."),
                    SampleLanguage::Zh => format!("`{simple}` 标注了 `@Validated`。"),
                },
                &[h],
            ));
        }
        let more = cut_note(params.len() > lines.len(), Listed::Constraints, language);
        parts.push(match language {
            SampleLanguage::En => format!(
                "The constraints on the parameters of `{handler}` ({when}):\n{}{more}",
                numbered(&lines)
            ),
            SampleLanguage::Zh => format!(
                "`{handler}` 参数上的约束（{when}）：\n{}{more}",
                numbered(&lines)
            ),
        });
        trace.extend(steps);
        rule_ids.extend(ids);
    }
    if parts.is_empty() {
        return None;
    }
    trace.insert(
        0,
        step(
            match language {
                SampleLanguage::En => format!("{endpoint} is handled by `{handler}`."),
                SampleLanguage::Zh => format!("{endpoint} 由 `{handler}` 处理。"),
            },
            &[&entry_id],
        ),
    );
    let question = match (body_validated, language) {
        (Some(false), SampleLanguage::En) if params.is_empty() => {
            let ty = simple_name(&body?.0.type_symbol).to_owned();
            format!("Are the constraints declared on `{ty}` checked when {endpoint} is called?")
        }
        (Some(false), SampleLanguage::Zh) if params.is_empty() => {
            let ty = simple_name(&body?.0.type_symbol).to_owned();
            format!("调用 {endpoint} 时，`{ty}` 上声明的约束会被检查吗？")
        }
        (_, SampleLanguage::En) => format!(
            "Which constraints does {endpoint} enforce on its request, and what happens when one fails?"
        ),
        (_, SampleLanguage::Zh) => format!("{endpoint} 会对请求校验哪些约束？不满足时会怎样？"),
    };
    let mut answer = parts.join("\n");
    if body_validated == Some(false) && params.is_empty() {
        answer.insert_str(
            0,
            match language {
                SampleLanguage::En => "No. ",
                SampleLanguage::Zh => "不会。",
            },
        );
    }
    let source = SampleSource {
        kind: "request-validation".into(),
        rule_ids,
        flow_ids: vec![flow.flow_id.clone()],
        twin_key: format!("{}:request-validation", flow.flow_id),
        ..Default::default()
    };
    written(
        language,
        &flow.domain,
        question,
        answer,
        evidence,
        trace,
        source,
    )
}

/// What an endpoint's bound body is checked against: its constraints, whether Spring checks
/// them (`@Valid` / `@Validated` on the parameter), and what the client gets when one fails.
#[allow(clippy::too_many_arguments)]
fn body_part(
    analysis: &Analysis,
    flow: &Flow,
    body: &BoundBody,
    validated: bool,
    rules: &[&Rule],
    entry_id: &ChunkId,
    evidence: &mut EvidenceSet<'_, '_>,
    language: SampleLanguage,
) -> Option<(String, Vec<TraceStep>, Vec<String>)> {
    let handler = short_method(&flow.entry.symbol);
    let ty = simple_name(&body.type_symbol).to_owned();
    let parameter = &body.parameter;
    let by = format!("@{}", body.validated_by.as_deref().unwrap_or("Valid"));
    let (lines, constraint_steps, rule_ids) = constraint_facts(rules, evidence, language);
    if lines.is_empty() {
        return None;
    }
    let more = cut_note(rules.len() > lines.len(), Listed::Constraints, language);
    let binding = if body.request_body {
        "MethodArgumentNotValidException"
    } else {
        "BindException"
    };
    let controller = class_of(&flow.entry.symbol)?;
    // The handler for exactly the exception Spring raises (its supertypes differ between
    // Spring versions, so nothing is matched through them).
    // A handler in the controller itself for any supertype (`Exception`) would come before
    // the advice's exact match: with local handlers no response is claimed.
    let local_handlers = analysis.handlers.iter().any(|h| h.class == controller);
    let on_failure = (validated && !local_handlers)
        .then(|| {
            handler_for(
                &analysis.handlers,
                &analysis.applications,
                controller,
                &[binding.to_owned()],
            )
        })
        .flatten()
        .filter(|h| !h.returns.is_empty())
        .and_then(|h| Some((h, evidence.add(h.chunk_id.as_ref()?)?)));
    let mut trace = vec![step(
        match (validated, language) {
            (true, SampleLanguage::En) => {
                format!("`{handler}` binds `{parameter}` of type `{ty}` with `{by}`.")
            }
            (false, SampleLanguage::En) => format!(
                "`{handler}` binds `{parameter}` of type `{ty}` without a @Valid or @Validated annotation."
            ),
            (true, SampleLanguage::Zh) => {
                format!("`{handler}` 以 `{by}` 绑定 `{ty}` 类型的参数 `{parameter}`。")
            }
            (false, SampleLanguage::Zh) => format!(
                "`{handler}` 绑定 `{ty}` 类型的参数 `{parameter}`，没有 @Valid 或 @Validated 注解。"
            ),
        },
        &[entry_id],
    )];
    trace.extend(constraint_steps);
    let list = numbered(&lines);
    let mut text = match (validated, language) {
        (true, SampleLanguage::En) => format!(
            "`{handler}` binds the request to `{parameter}` (`{ty}`) with `{by}`, so Spring checks the constraints declared on `{ty}` before `{handler}` runs and rejects the request when one fails, raising an exception instead of calling it:\n{list}{more}"
        ),
        (false, SampleLanguage::En) => format!(
            "`{handler}` binds the request to `{parameter}` (`{ty}`) without a @Valid or @Validated annotation, so Spring does not check the constraints declared on `{ty}` when it binds this request; they hold only where code validates the object itself. The constraints it does not check here:\n{list}{more}"
        ),
        (true, SampleLanguage::Zh) => format!(
            "`{handler}` 以 `{by}` 把请求绑定到 `{parameter}`（`{ty}`），因此 Spring 会在 `{handler}` 执行前检查 `{ty}` 上声明的约束，任一约束不满足时抛出异常、拒绝请求，不会调用该方法：\n{list}{more}"
        ),
        (false, SampleLanguage::Zh) => format!(
            "`{handler}` 绑定 `{parameter}`（`{ty}`）时没有 @Valid 或 @Validated 注解，因此 Spring 在绑定该请求时不检查 `{ty}` 上声明的约束，只有代码自行校验该对象时它们才起作用。此处不被检查的约束：\n{list}{more}"
        ),
    };
    if let Some((h, id)) = &on_failure {
        let name = short_method(&h.symbol);
        let returns = h
            .returns
            .iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>();
        match language {
            SampleLanguage::En => {
                let returns = returns.join(" or ");
                text.push_str(&format!(
                    "\nThe exception is a `{binding}`; it goes to `{name}`, the `@ExceptionHandler` for it, which returns {returns}: that is what the client receives."
                ));
                trace.push(step(
                    format!("`{name}` handles `{binding}` and returns {returns}."),
                    &[id],
                ));
            }
            SampleLanguage::Zh => {
                let returns = returns.join(" 或 ");
                text.push_str(&format!(
                    "\n该异常是 `{binding}`，交给处理它的 `@ExceptionHandler` 方法 `{name}`，它返回 {returns}，这就是调用方收到的响应。"
                ));
                trace.push(step(
                    format!("`{name}` 处理 `{binding}`，返回 {returns}。"),
                    &[id],
                ));
            }
        }
    }
    Some((text, trace, rule_ids))
}

/// The constraints of a type no endpoint binds, all fields together.
fn type_constraints(
    type_symbol: &str,
    rules: &[&Rule],
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    // One field's one bare annotation is a line of code, not a question.
    if rules.len() < 2 {
        return None;
    }
    let mut evidence = EvidenceSet::new(lookup);
    let ty = simple_name(type_symbol).to_owned();
    let (lines, trace, rule_ids) = constraint_facts(rules, &mut evidence, language);
    let more = cut_note(rules.len() > lines.len(), Listed::Constraints, language);
    let list = numbered(&lines);
    let (question, answer) = match language {
        SampleLanguage::En => (
            format!("Which constraints does `{ty}` declare on its fields?"),
            format!(
                "`{ty}` declares these Bean Validation constraints; they are checked only where an object is validated (a handler parameter annotated @Valid or @Validated, or a call to a validator), and no endpoint of the project binds `{ty}` directly (it is still checked as part of an object that holds it in a field marked @Valid, when that object is validated):\n{list}{more}"
            ),
        ),
        SampleLanguage::Zh => (
            format!("`{ty}` 的字段上声明了哪些约束？"),
            format!(
                "`{ty}` 声明了以下 Bean Validation 约束；只有在对象被校验时（带 @Valid 或 @Validated 注解的处理方法参数，或调用校验器）才会检查，项目中没有接口直接绑定 `{ty}`（若它作为标注 @Valid 的字段被其他对象持有，该对象被校验时它也会被检查）：\n{list}{more}"
            ),
        ),
    };
    let domain = rules.first().map(|r| r.domain.as_str()).unwrap_or_default();
    let source = SampleSource {
        kind: "validation".into(),
        rule_ids,
        twin_key: format!("{type_symbol}:validation"),
        ..Default::default()
    };
    written(language, domain, question, answer, evidence, trace, source)
}
