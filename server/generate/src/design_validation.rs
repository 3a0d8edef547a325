//! Design family `derived-validation`: "reject a record whose amount is out of range", derived
//! from an HTTP flow that writes a table whose model has a numeric property (a price, an
//! amount, a count) that none of the flow's checks reads. The design puts the new check where
//! the flow's existing checks are, in their failure style (the same `return` or `throw`), says
//! how that failure reaches the client (the exception handler, when the style throws), and
//! names the other endpoint that writes the table, which needs the same check.
//!
//! Claims about existing code: the endpoint and the type it binds its body to, the flow's
//! checks rendered from their path facts, the handler and what it returns, the other writer.

use acdp_analysis::handlers::handler_for;
use acdp_analysis::{Analysis, Flow, Rule};
use acdp_index::Symbol;
use acdp_sample::{
    ComponentAction, ComponentChange, Design, ReusedComponent, SampleLanguage, SampleSource, Task,
};

use super::Written;
use super::composed_parts::{flow_failure_rules, rule_sentence};
use super::design_parts::{
    add_entry, capitalised, declares_property, design_written, layer_of, pick_lang,
    request_body_type, step, step_cited, trigger,
};
use super::design_table::{MappedColumn, TableFacts, tables_written_by_endpoints};
use super::evidence::{ChunkLookup, EvidenceSet, class_of, short_method, simple_name};
use super::text::one_line;

/// Words of numeric properties whose range is a business rule.
const QUANTITY_WORDS: &[&str] = &[
    "price",
    "amount",
    "count",
    "quantity",
    "number",
    "stock",
    "limit",
    "discount",
    "point",
    "integration",
    "weight",
    "money",
    "fee",
    "total",
];

/// Designs of this family per repository.
const MAX_DESIGNS: usize = 6;

/// Existing checks listed in the design.
const MAX_CHECKS: usize = 4;

pub fn derived_validation_designs(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    languages: &[SampleLanguage],
) -> Vec<Written> {
    let mut out = Vec::new();
    // More candidates than designs: a table whose model has no unchecked amount is skipped.
    for (table, flow, _) in
        tables_written_by_endpoints(analysis, &["insert", "update"], 4 * MAX_DESIGNS)
    {
        if out.len() >= MAX_DESIGNS * languages.len() {
            break;
        }
        let rules = flow_failure_rules(analysis, flow);
        if rules.is_empty() {
            continue;
        }
        let facts = TableFacts::read(lookup, table);
        // The client sends the value: the body type declares the property (a value the
        // service computes, such as an order total, is not the client's to send).
        let body = flow
            .entry
            .chunk_id
            .as_ref()
            .and_then(|id| lookup.index.chunk(id))
            .and_then(|(file, c)| request_body_type(c.text(&file.text)));
        let Some(body) = body else {
            continue;
        };
        let sent = |property: &str| declares_property(lookup, &body, property);
        let Some(column) = range_property(&facts, &rules, &sent) else {
            continue;
        };
        let designs: Vec<Written> = languages
            .iter()
            .filter_map(|&l| validation_design(analysis, lookup, &facts, column, flow, &rules, l))
            .collect();
        if designs.len() == languages.len() {
            out.extend(designs);
        }
    }
    out
}

/// A numeric property of the table's model that no check of the flow reads: decimals first
/// (money), then integers whose name says quantity; never keys, states or flags.
fn range_property<'f>(
    facts: &'f TableFacts,
    rules: &[&Rule],
    sent: &dyn Fn(&str) -> bool,
) -> Option<&'f MappedColumn> {
    // Read by a check: in its condition or in a condition on the way to it.
    let read_by_check = |c: &MappedColumn| {
        let getter = format!("get{}", capitalised(&c.property));
        rules.iter().any(|r| {
            std::iter::once(r.condition.as_str())
                .chain(
                    r.when
                        .iter()
                        .flat_map(|w| w.conditions.iter().map(|c| c.expr.as_str())),
                )
                .any(|text| text.contains(&getter) || text.contains(&c.property))
        })
    };
    let quantity = |c: &MappedColumn| {
        let name = c.column.to_ascii_lowercase();
        !name.ends_with("id")
            && !name.contains("status")
            && !name.contains("type")
            && QUANTITY_WORDS.iter().any(|w| name.contains(w))
    };
    let numeric = |c: &MappedColumn, types: &[&str]| {
        c.jdbc_type
            .as_deref()
            .is_some_and(|t| types.contains(&t.to_ascii_uppercase().as_str()))
    };
    facts
        .columns
        .iter()
        .find(|c| numeric(c, &["DECIMAL", "NUMERIC"]) && !read_by_check(c) && sent(&c.property))
        .or_else(|| {
            facts.columns.iter().find(|c| {
                numeric(c, &["INTEGER", "BIGINT", "SMALLINT", "INT"])
                    && quantity(c)
                    && !read_by_check(c)
                    && sent(&c.property)
            })
        })
}

fn validation_design(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    facts: &TableFacts,
    column: &MappedColumn,
    flow: &Flow,
    rules: &[&Rule],
    language: SampleLanguage,
) -> Option<Written> {
    let t = |en: String, cn: String| pick_lang(language, en, cn);
    let table = facts.table.as_str();
    let model = facts.model_name()?.to_owned();
    let property = column.property.as_str();
    let mut evidence = EvidenceSet::new(lookup);
    let entry_ids = add_entry(flow, lookup, &mut evidence)?;
    let entry_id = entry_ids[0].clone();
    let entry = short_method(&flow.entry.symbol);
    let entry_code = evidence.get(&entry_id)?.code.clone();
    let body = request_body_type(&entry_code);
    let validated = entry_code.contains("@Validated") || entry_code.contains("@Valid ");
    let request = trigger(flow);

    // Where the input is checked: a method of the flow that takes the request body (a
    // `validate(body)` helper, the service method it is passed to, or the entry itself) and
    // has checks; the one with most checks. Checks elsewhere in the flow (a finder that fails
    // on duplicates) are not input checks.
    let body_type = body.as_deref()?;
    let takes_body = |symbol: &str| {
        Symbol::parse(symbol)
            .params
            .is_some_and(|params| params.split(',').any(|p| p == body_type))
    };
    let mut sites: Vec<(&str, usize)> = Vec::new();
    for rule in rules.iter().filter(|r| takes_body(&r.symbol)) {
        match sites.iter_mut().find(|(s, _)| *s == rule.symbol) {
            Some((_, n)) => *n += 1,
            None => sites.push((rule.symbol.as_str(), 1)),
        }
    }
    let site = sites.iter().max_by_key(|(_, n)| *n).map(|(s, _)| *s)?;
    let site_rules: Vec<&Rule> = rules.iter().copied().filter(|r| r.symbol == site).collect();
    // Input checks: one reads a property, or the method is a validator by name. A method whose
    // only check is on the result of its write (`if (count > 0)`) checks no input.
    let validator = Symbol::parse(site).member.to_lowercase();
    if !site_rules.iter().any(|r| r.condition.contains(".get"))
        && !["valid", "check"].iter().any(|w| validator.contains(w))
    {
        return None;
    }
    // The failure to imitate: a check that reads a property of the input, else the first.
    let style = site_rules
        .iter()
        .find(|r| r.consequence.is_some() && r.condition.contains(".get"))
        .or_else(|| site_rules.iter().find(|r| r.consequence.is_some()))?;
    let style_code = one_line(style.consequence.as_deref()?);
    let site_name = short_method(site);
    let site_class = class_of(site)?;

    // A failure style that carries a message can name the limit; one that does not
    // (`badArgument()`) returns the endpoint's fixed error.
    let carries_message = style.message.is_some();
    let requirement = if carries_message {
        t(
            format!(
                "{request} must reject a `{model}` whose `{property}` is negative or above a configurable maximum, and tell the client which limit was broken."
            ),
            format!(
                "{request} 需要拒绝 `{property}` 为负数或超过可配置上限的 `{model}`，并告诉调用方违反了哪条限制。"
            ),
        )
    } else {
        t(
            format!(
                "{request} must reject a `{model}` whose `{property}` is negative or above a configurable maximum, the way it rejects other invalid input."
            ),
            format!(
                "{request} 需要拒绝 `{property}` 为负数或超过可配置上限的 `{model}`，拒绝方式与其他非法输入相同。"
            ),
        )
    };
    let mut trace = vec![step_cited(
        match &body {
            Some(b) => t(
                format!(
                    "{request} is handled by `{entry}`, which binds the request body to `{b}`."
                ),
                format!("{request} 由 `{entry}` 处理，请求体绑定为 `{b}`。"),
            ),
            None => t(
                format!("{request} is handled by `{entry}`."),
                format!("{request} 由 `{entry}` 处理。"),
            ),
        },
        &entry_ids,
    )];
    let mut reused = Vec::new();
    let mut listed = 0;
    for rule in site_rules.iter().take(MAX_CHECKS) {
        let Some(id) = rule.chunk_ids.first().and_then(|id| evidence.add(id)) else {
            continue;
        };
        let Some(sentence) = rule_sentence(rule, language) else {
            continue;
        };
        trace.push(step(sentence, &id));
        listed += 1;
        if rule.symbol == site && !reused.iter().any(|r: &ReusedComponent| r.chunk_id == id) {
            reused.push(ReusedComponent {
                chunk_id: id.clone(),
                symbol: site.to_owned(),
                how: t(
                    format!("the new check goes beside its checks and fails the same way (`{style_code}`)"),
                    format!("新校验与其现有校验放在一起，失败方式相同（`{style_code}`）"),
                ),
            });
        }
    }
    if listed == 0 {
        return None;
    }
    // A check that throws reaches the client through the exception handler.
    let controller = class_of(&flow.entry.symbol)?;
    let handler = style
        .throws
        .as_ref()
        .and_then(|_| {
            handler_for(
                &analysis.handlers,
                &analysis.applications,
                controller,
                &style.throws_chain,
            )
        })
        .filter(|h| !h.returns.is_empty());
    let mut consistency = Vec::new();
    if let Some(h) = handler
        && let Some(id) = h.chunk_id.as_ref().and_then(|id| evidence.add(id))
    {
        let thrown = style.throws.as_deref().unwrap_or_default();
        let returns = h
            .returns
            .iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>();
        let returns = match (returns.len(), language) {
            (1, _) => returns.join(""),
            (_, SampleLanguage::En) => format!("one of {}", returns.join(", ")),
            (_, SampleLanguage::Zh) => format!("{} 之一", returns.join("、")),
        };
        let handler_name = short_method(&h.symbol);
        trace.push(step(
            t(
                format!("A `{thrown}` from `{site_name}` is handled by `{handler_name}`, which returns {returns}."),
                format!("`{site_name}` 抛出的 `{thrown}` 由 `{handler_name}` 处理，返回 {returns}。"),
            ),
            &id,
        ));
        consistency.push(t(
            format!("throw the same `{thrown}` with a message naming the limit: `{handler_name}` turns it into the response, as for the existing checks"),
            format!("抛出同样的 `{thrown}` 并在消息中写明限制：`{handler_name}` 会像现有校验一样把它转换为响应"),
        ));
    } else {
        consistency.push(if carries_message {
            t(
                format!("fail the way the existing checks of `{site_name}` do (`{style_code}`), with a message naming the limit, so clients see one error format"),
                format!("与 `{site_name}` 现有校验的失败方式一致（`{style_code}`），消息中写明限制，保证客户端看到统一的错误格式"),
            )
        } else {
            t(
                format!("fail the way the existing checks of `{site_name}` do (`{style_code}`): that response carries no message of its own, so the client learns the input was rejected, not which limit; log the limit on the server"),
                format!("与 `{site_name}` 现有校验的失败方式一致（`{style_code}`）：该响应不带自定义消息，客户端只知道输入被拒绝而不知道是哪条限制；在服务端日志中记录限制"),
            )
        });
    }
    // The other endpoint that writes the table must not let the value in unchecked.
    // Another endpoint that writes the table from the same body type lets the value in too.
    let other = analysis
        .flows
        .iter()
        .filter(|f| f.entry.kind == "http" && f.flow_id != flow.flow_id)
        .filter(|f| {
            f.entry
                .chunk_id
                .as_ref()
                .and_then(|id| lookup.index.chunk(id))
                .and_then(|(file, c)| request_body_type(c.text(&file.text)))
                .as_deref()
                == Some(body_type)
        })
        .find_map(|f| {
            let write = f.steps.iter().find(|s| {
                s.kind == "statement"
                    && matches!(s.operation.as_deref(), Some("insert" | "update"))
                    && s.table.as_deref() == Some(table)
                    && s.when.is_main_line()
                    && s.outer.is_main_line()
            })?;
            Some((f, write))
        });
    let mut api_changes = vec![t(
        format!(
            "{request}: a `{property}` below 0 or above the maximum is rejected with the repository's error response"
        ),
        format!("{request}：`{property}` 小于 0 或超过上限时，按仓库统一的错误响应拒绝"),
    )];
    if let Some((other_flow, other_write)) = other
        && let Some(ids) = add_entry(other_flow, lookup, &mut evidence)
    {
        let other_trigger = trigger(other_flow);
        let verb = match (other_write.operation.as_deref(), language) {
            (Some("insert"), SampleLanguage::En) => "inserts into",
            (_, SampleLanguage::En) => "updates",
            (Some("insert"), SampleLanguage::Zh) => "插入",
            (_, SampleLanguage::Zh) => "更新",
        };
        // The model, not the table: generated SQL that names the table is not cited.
        trace.push(step_cited(
            t(
                format!("{other_trigger} (`{}`) also {verb} the `{model}` table on every request that passes its checks.", short_method(&other_flow.entry.symbol)),
                format!("{other_trigger}（`{}`）在通过校验的请求中同样会{verb} `{model}` 对应的表。", short_method(&other_flow.entry.symbol)),
            ),
            &ids,
        ));
        consistency.push(t(
            format!("{other_trigger} writes `{table}` too: give it the same check, or the limit can be bypassed there"),
            format!("{other_trigger} 同样写入 `{table}`：需要加上相同校验，否则可以绕过限制"),
        ));
        api_changes.push(t(
            format!("{other_trigger}: the same rejection"),
            format!("{other_trigger}：同样的拒绝规则"),
        ));
    }
    if trace.len() < Task::Design.min_trace_steps() {
        return None;
    }
    let setting = format!(
        "{}.max-{}",
        flow.domain,
        property
            .chars()
            .flat_map(|c| {
                if c.is_ascii_uppercase() {
                    vec!['-', c.to_ascii_lowercase()]
                } else {
                    vec![c]
                }
            })
            .collect::<String>()
    );
    let mut components = vec![ComponentChange {
        layer: layer_of(site_class).into(),
        component: simple_name(site_class).to_owned(),
        action: ComponentAction::Modify,
        description: t(
            format!(
                "in `{site_name}`, beside its existing checks: fail when `{property}` is not null and below 0 or above the configured maximum, in the same style (`{style_code}`)"
            ),
            format!(
                "在 `{site_name}` 现有校验旁：当 `{property}` 非空且小于 0 或超过配置上限时失败，写法与现有校验一致（`{style_code}`）"
            ),
        ),
    }];
    components.push(ComponentChange {
        layer: "config".into(),
        component: setting.clone(),
        action: ComponentAction::Add,
        description: t(
            format!("the maximum `{property}`, injected where the check runs"),
            format!("`{property}` 的上限配置，注入到执行校验的类中"),
        ),
    });
    if let Some(b) = body.as_ref().filter(|b| **b != model) {
        components.push(ComponentChange {
            layer: "dto".into(),
            component: b.clone(),
            action: ComponentAction::Modify,
            description: if validated {
                t(
                    format!("`{entry}` validates its body (`@Validated`/`@Valid`): the lower bound can also be `@DecimalMin(\"0\")` on the field that carries `{property}`; the configurable maximum stays in code"),
                    format!("`{entry}` 会校验请求体（`@Validated`/`@Valid`）：下限也可以用 `@DecimalMin(\"0\")` 标注在承载 `{property}` 的字段上；可配置的上限仍在代码中校验"),
                )
            } else {
                t(
                    format!("no change: the value reaches `{model}` from this body"),
                    format!("无需修改：该值从此请求体传到 `{model}`"),
                )
            },
        });
    }
    let design = Design {
        summary: t(
            format!(
                "Check `{property}` in `{site_name}`, where {request} already checks its input, failing like the existing checks; read the maximum from a new `{setting}` setting."
            ),
            format!(
                "在 `{site_name}` 中校验 `{property}`（{request} 已有的输入校验所在处），失败方式与现有校验一致；上限从新增配置 `{setting}` 读取。"
            ),
        ),
        components,
        api_changes,
        data_changes: vec![t(
            format!(
                "none: `{table}` keeps its columns; rows written before the check may hold values outside the range"
            ),
            format!("无：`{table}` 不变；校验上线前写入的数据可能超出范围"),
        )],
        flow: vec![
            t(
                format!("{request} reaches `{entry}`"),
                format!("{request} 进入 `{entry}`"),
            ),
            t(
                format!("`{site_name}` runs its existing checks and the new range check"),
                format!("`{site_name}` 执行现有校验与新的范围校验"),
            ),
            t(
                format!("only a request within the range goes on to write `{table}`"),
                format!("只有在范围内的请求才会继续写入 `{table}`"),
            ),
        ],
        consistency,
        reused,
    };
    let assumptions = vec![t(
        format!(
            "the range applies to every client alike; whether `{property}` may be missing stays as the existing checks decide"
        ),
        format!("上下限对所有调用方相同；`{property}` 能否缺省仍由现有校验决定"),
    )];
    let risks = vec![t(
        format!(
            "existing `{table}` rows outside the range are not touched by the check; list them before choosing the maximum"
        ),
        format!("校验不会处理 `{table}` 中已超出范围的旧数据；确定上限前先统计这些数据"),
    )];
    let source = SampleSource {
        kind: "derived-validation".into(),
        flow_ids: vec![flow.flow_id.clone()],
        rule_ids: rules.iter().map(|r| r.rule_id.clone()).collect(),
        twin_key: format!("{table}:{property}:validation"),
        ..Default::default()
    };
    Some(design_written(
        language,
        flow.domain.clone(),
        requirement,
        design,
        assumptions,
        risks,
        evidence,
        trace,
        source,
    ))
}
