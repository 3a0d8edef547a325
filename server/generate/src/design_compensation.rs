//! Design family `derived-compensation`: "make one way of ending a record undo what another way
//! undoes", derived from two transitions of a state machine that both end a record (cancel,
//! close, refund, reject ...) in different methods, where the flow of one writes tables (stock,
//! coupons, points) that the flow of the other never writes. The design makes the second
//! perform the same writes through the same methods.
//!
//! The claim that the second flow never writes a table is an absence claim, so it is made only
//! when that flow has no unresolved call: every call on its way was followed or is library code.
//! Writes of the first flow are stated with the condition at their call site.

use acdp_analysis::path_text::{when_en, when_zh};
use acdp_analysis::paths::Path;
use acdp_analysis::{Analysis, Flow, FlowStep, StateMachine, Transition};
use acdp_sample::{
    ComponentAction, ComponentChange, Design, ReusedComponent, SampleLanguage, SampleSource, Task,
};

use super::Written;
use super::composed::caller_chain;
use super::design_parts::{
    add_entry, cited_transaction, design_written, domain_of_class, flow_running, is_write,
    layer_of, pick_lang, step, step_cited, trigger, value_words,
};
use super::evidence::{ChunkLookup, EvidenceSet, class_of, short_method, simple_name};
use super::qa::value_label;

/// Words of methods and values that end a record by undoing it.
const UNDO_WORDS: &[&str] = &[
    "cancel", "close", "refund", "reject", "revoke", "取消", "关闭", "退款", "拒绝",
];

/// Writes listed per design.
const MAX_WRITES: usize = 4;

pub fn derived_compensation_designs(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    languages: &[SampleLanguage],
) -> Vec<Written> {
    let mut out = Vec::new();
    for machine in &analysis.states {
        let ending: Vec<&Transition> = machine
            .transitions
            .iter()
            .filter(|t| !t.creation && undoes(machine, t))
            .collect();
        let mut done: Vec<&str> = Vec::new();
        for a in &ending {
            for b in &ending {
                // The same end value reached two ways: a refund and a rejection end a record
                // differently and owe different compensation.
                if a.method == b.method || a.to != b.to || done.contains(&b.method.as_str()) {
                    continue;
                }
                let (Some(flow_a), Some(flow_b)) = (
                    flow_running(analysis, &a.method),
                    flow_running(analysis, &b.method),
                ) else {
                    continue;
                };
                if flow_a.flow_id == flow_b.flow_id || !flow_b.unresolved_calls.is_empty() {
                    continue;
                }
                let missing = missing_writes(machine, flow_a, flow_b);
                if missing.is_empty() {
                    continue;
                }
                let designs: Vec<Written> = languages
                    .iter()
                    .filter_map(|&l| {
                        compensation_design(
                            analysis, lookup, machine, a, b, flow_a, flow_b, &missing, l,
                        )
                    })
                    .collect();
                if designs.len() == languages.len() {
                    done.push(&b.method);
                    out.extend(designs);
                }
            }
        }
    }
    out
}

fn undoes(machine: &StateMachine, t: &Transition) -> bool {
    let method = short_method(&t.method).to_lowercase();
    let value = value_words(machine, t.to);
    UNDO_WORDS
        .iter()
        .any(|w| method.contains(w) || value.contains(w))
}

/// Updates and deletes of `a`'s flow (restoring stock, returning a coupon: an insert is a new
/// record such as a history row, not an undo) to tables `b`'s flow never writes, the machine's
/// own table aside; one per table. Writes in a `try` or on another thread are left out.
fn missing_writes<'f>(machine: &StateMachine, a: &'f Flow, b: &Flow) -> Vec<&'f FlowStep> {
    let written_by_b: Vec<&str> = b
        .steps
        .iter()
        .filter(|s| is_write(s))
        .filter_map(|s| s.table.as_deref())
        .collect();
    let mut out: Vec<&FlowStep> = Vec::new();
    for step in a
        .steps
        .iter()
        .filter(|s| is_write(s) && s.operation.as_deref() != Some("insert"))
    {
        let table = step.table.as_deref().unwrap_or_default();
        if machine.table.as_deref() == Some(table)
            || written_by_b.contains(&table)
            || out.iter().any(|o| o.table == step.table)
            || step.when.is_async()
            || step.when.in_try()
            || step.outer.is_async()
            || step.outer.in_try()
        {
            continue;
        }
        out.push(step);
    }
    out.truncate(MAX_WRITES);
    out
}

#[allow(clippy::too_many_arguments)]
fn compensation_design(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    machine: &StateMachine,
    a: &Transition,
    b: &Transition,
    flow_a: &Flow,
    flow_b: &Flow,
    missing: &[&FlowStep],
    language: SampleLanguage,
) -> Option<Written> {
    let zh = language == SampleLanguage::Zh;
    let t = |en: String, cn: String| pick_lang(language, en, cn);
    let method_a = short_method(&a.method);
    let method_b = short_method(&b.method);
    let field = format!("{}.{}", machine.entity, machine.field);
    let to_a = value_label(machine, a.to);
    let to_b = value_label(machine, b.to);
    let trigger_a = trigger(flow_a);
    let trigger_b = trigger(flow_b);
    let mut evidence = EvidenceSet::new(lookup);

    let mut trace = Vec::new();
    let a_id = evidence.add(a.chunk_ids.first()?)?;
    trace.push(step(
        t(
            format!("`{method_a}` sets `{field}` to {to_a}."),
            format!("`{method_a}` 将 `{field}` 设为 {to_a}。"),
        ),
        &a_id,
    ));
    // Each write of `a`'s flow that `b`'s lacks, cited by the code that makes the call.
    let mut writes = Vec::new();
    let mut reused = Vec::new();
    for write in missing {
        // The caller's code shows the call; the methods above it show the conditions on the
        // way, which the claim states.
        let chain = caller_chain(flow_a, write);
        let Some(id) = chain.first().and_then(|c| evidence.add(c)) else {
            continue;
        };
        let mut ids = vec![id.clone()];
        if !write.outer.conditions.is_empty() {
            for c in chain.iter().skip(1) {
                if let Some(above) = evidence.add(c) {
                    ids.push(above);
                }
            }
        }
        let statement = write.symbol.rsplit('.').next().unwrap_or_default();
        let code = evidence
            .get(&id)
            .map(|e| e.code.clone())
            .unwrap_or_default();
        if !code.contains(&format!(".{statement}(")) {
            continue;
        }
        let caller = short_method(&write.called_from);
        let table = write.table.as_deref().unwrap_or_default();
        let operation = write.operation.as_deref().unwrap_or("update");
        // Conditions above the caller and at its call site: the write happens only then.
        let mut conditions = write.outer.conditions.clone();
        conditions.extend(write.when.conditions.iter().cloned());
        let path = Path {
            conditions,
            context: Vec::new(),
            complete: write.outer.complete && write.when.complete,
        };
        let condition = if zh { when_zh(&path) } else { when_en(&path) };
        // The statement shows the table it writes; generated SQL is not cited, and then the
        // claim names the operation only.
        let statement_id = write.chunk_id.as_ref().and_then(|s| evidence.add(s));
        let what = match (&statement_id, zh) {
            (Some(_), false) => format!("{operation} on `{table}`"),
            (Some(_), true) => format!("对 `{table}` 执行 {operation}"),
            (None, _) => operation.to_owned(),
        };
        ids.extend(statement_id);
        let claim = match (condition.as_deref(), zh) {
            (Some(c), false) => {
                format!("On {trigger_a}, `{statement}` ({what}) is called by `{caller}` {c}.")
            }
            (None, false) => format!(
                "On {trigger_a}, `{statement}` ({what}) is called by `{caller}` on every run."
            ),
            (Some(c), true) => {
                format!("在 {trigger_a} 中，{c}，`{caller}` 会调用 `{statement}`（{what}）。")
            }
            (None, true) => {
                format!("在 {trigger_a} 中，`{caller}` 每次都会调用 `{statement}`（{what}）。")
            }
        };
        trace.push(step_cited(claim, &ids));
        if !reused.iter().any(|r: &ReusedComponent| r.chunk_id == id) {
            reused.push(ReusedComponent {
                chunk_id: id.clone(),
                symbol: write.called_from.clone(),
                how: t(
                    format!("its calls that write `{table}` are what `{method_b}` should make too"),
                    format!("其中写 `{table}` 的调用正是 `{method_b}` 也需要执行的"),
                ),
            });
        }
        writes.push((
            caller,
            statement.to_owned(),
            table.to_owned(),
            operation.to_owned(),
            condition,
        ));
    }
    if writes.is_empty() {
        return None;
    }
    // What `b`'s flow writes: the statements reached, complete because no call is unresolved.
    let b_ids = add_entry(flow_b, lookup, &mut evidence)?;
    let b_method_id = b.chunk_ids.first().and_then(|id| evidence.add(id));
    let mut cited = b_ids.clone();
    // One write per table: the table when its statement can be cited, else the statement as
    // its caller's code calls it (generated SQL is not cited).
    let mut b_tables: Vec<&str> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for write in flow_b.steps.iter().filter(|s| is_write(s)) {
        let table = write.table.as_deref().unwrap_or_default();
        if b_tables.contains(&table) {
            continue;
        }
        b_tables.push(table);
        if let Some(id) = write.chunk_id.as_ref().and_then(|s| evidence.add(s)) {
            if !cited.contains(&id) {
                cited.push(id);
            }
            labels.push(format!("`{table}`"));
            continue;
        }
        let statement = write.symbol.rsplit('.').next().unwrap_or_default();
        let caller = caller_chain(flow_b, write)
            .first()
            .and_then(|c| evidence.add(c))
            .filter(|id| {
                evidence
                    .get(id)
                    .is_some_and(|e| e.code.contains(&format!(".{statement}(")))
            })?;
        if !cited.contains(&caller) {
            cited.push(caller);
        }
        labels.push(match language {
            SampleLanguage::En => format!(
                "the table of `{statement}` (called by `{}`)",
                short_method(&write.called_from)
            ),
            SampleLanguage::Zh => format!(
                "`{statement}` 所写的表（由 `{}` 调用）",
                short_method(&write.called_from)
            ),
        });
    }
    if let Some(id) = &b_method_id
        && !cited.contains(id)
    {
        cited.push(id.clone());
    }
    let listed = labels.join(if zh { "、" } else { ", " });
    trace.push(step_cited(
        t(
            format!(
                "{trigger_b} reaches `{method_b}`, which sets `{field}` to {to_b}; every call on its way resolves, and the only tables its statements write are {listed}."
            ),
            format!(
                "{trigger_b} 会执行 `{method_b}`，将 `{field}` 设为 {to_b}；途中每个调用都可确定，其语句写入的表只有 {listed}。"
            ),
        ),
        &cited,
    ));
    let mut consistency = Vec::new();
    if let Some((_, claim)) = cited_transaction(analysis, &b.method, &mut evidence, language) {
        trace.push(claim);
        consistency.push(t(
            format!("make the new calls inside `{method_b}`, so they commit or roll back with the status change"),
            format!("新调用放在 `{method_b}` 内部，与状态修改一起提交或回滚"),
        ));
    } else {
        consistency.push(t(
            format!("`{method_b}` has no `@Transactional` today: add one, or a failure in the compensation leaves the record ended without it"),
            format!("`{method_b}` 目前没有 `@Transactional`：需要补上，否则补偿失败时记录已结束却未补偿"),
        ));
    }
    consistency.push(t(
        format!("compensate only records that still hold what `{method_a}` gives back (the states it ends records from): `{method_b}` may end records in other states"),
        format!("只补偿仍占用 `{method_a}` 所归还资源的记录（它所结束的那些状态）：`{method_b}` 可能结束处于其他状态的记录"),
    ));
    // Code in another module (a portal service seen from the admin application) may not be
    // reachable: whether one module depends on the other is in the build files, not read here.
    let module = |path: &str| path.split('/').next().unwrap_or_default().to_owned();
    let other_module = module(&flow_a.path) != module(&flow_b.path);
    consistency.push(if other_module {
        t(
            format!("`{method_a}` lives in `{}` and `{method_b}` in `{}`: if `{}` cannot depend on `{}`, add equivalent statements to its own mappers, and repeat any other effect of the reused methods (cache eviction, logs)", module(&flow_a.path), module(&flow_b.path), module(&flow_b.path), module(&flow_a.path)),
            format!("`{method_a}` 位于 `{}`，`{method_b}` 位于 `{}`：如果 `{}` 不能依赖 `{}`，需要在自身的 mapper 中新增等价语句，并补上被复用方法的其他副作用（缓存清理、日志等）", module(&flow_a.path), module(&flow_b.path), module(&flow_b.path), module(&flow_a.path)),
        )
    } else {
        t(
            "call the same methods rather than their mapper statements, so their other effects (cache eviction, logs) happen too".into(),
            "调用相同的方法而不是直接调用其 mapper 语句，使其其他副作用（缓存清理、日志等）同样发生".into(),
        )
    });
    for (caller, _, _, _, condition) in &writes {
        if let Some(c) = condition {
            consistency.push(t(
                format!("on the `{method_a}` side the call from `{caller}` happens {c}: apply the equivalent condition in `{method_b}`"),
                format!("在 `{method_a}` 一侧，`{caller}` 的调用只在{c}发生：`{method_b}` 中使用等价的条件"),
            ));
        }
    }
    if trace.len() < Task::Design.min_trace_steps() {
        return None;
    }
    let list = writes
        .iter()
        .map(|(_, statement, table, _, _)| format!("`{statement}` on `{table}`"))
        .collect::<Vec<_>>()
        .join(if zh { "、" } else { ", " });
    let requirement = t(
        format!(
            "When `{method_b}` ends a record ({trigger_b}, `{field}` -> {to_b}), undo what `{method_a}` undoes when it ends one ({trigger_a}, -> {to_a}): today only the latter makes {list}."
        ),
        format!(
            "`{method_b}` 结束记录时（{trigger_b}，`{field}` -> {to_b}），也要做 `{method_a}`（{trigger_a}，-> {to_a}）所做的补偿：目前只有后者执行 {list}。"
        ),
    );
    let b_class = class_of(&b.method)?;
    let callers: Vec<String> = writes.iter().map(|(c, ..)| format!("`{c}`")).collect();
    let mut callers_unique: Vec<String> = Vec::new();
    for caller in callers {
        if !callers_unique.contains(&caller) {
            callers_unique.push(caller);
        }
    }
    let components = vec![ComponentChange {
        layer: layer_of(b_class).into(),
        component: simple_name(b_class).to_owned(),
        action: ComponentAction::Modify,
        description: t(
            format!(
                "in `{method_b}`, for each record it ends, make the calls {} makes ({list}), reusing those methods or the mapper methods they call",
                callers_unique.join(", ")
            ),
            format!(
                "在 `{method_b}` 中对每条被结束的记录执行 {} 所做的调用（{list}），复用这些方法或它们调用的 mapper 方法",
                callers_unique.join("、")
            ),
        ),
    }];
    let design = Design {
        summary: t(
            format!(
                "Give `{method_b}` the compensation `{method_a}` performs: after it sets {to_b}, make the same writes ({list}) through the same code."
            ),
            format!(
                "为 `{method_b}` 增加 `{method_a}` 已有的补偿：设为 {to_b} 之后，通过相同代码执行相同的写操作（{list}）。"
            ),
        ),
        components,
        api_changes: Vec::new(),
        data_changes: vec![if other_module {
            t(
                format!(
                    "no new table; statements may need copying into `{}` (see consistency)",
                    module(&flow_b.path)
                ),
                format!(
                    "无需新表；可能需要把语句复制到 `{}`（见一致性说明）",
                    module(&flow_b.path)
                ),
            )
        } else {
            t(
                "none: the tables and statements exist".into(),
                "无：相关表与语句均已存在".into(),
            )
        }],
        flow: vec![
            t(
                format!("{trigger_b} reaches `{method_b}` as today and sets {to_b}"),
                format!("{trigger_b} 照常进入 `{method_b}` 并设为 {to_b}"),
            ),
            t(
                format!(
                    "then, for each record, the writes {list}, under the same conditions as in `{method_a}`"
                ),
                format!("随后对每条记录执行 {list}，条件与 `{method_a}` 中相同"),
            ),
        ],
        consistency,
        reused,
    };
    let assumptions = vec![t(
        format!(
            "a record ended through `{method_b}` holds the same resources (stock, coupons, points) as one ended through `{method_a}`"
        ),
        format!(
            "经 `{method_b}` 结束的记录与经 `{method_a}` 结束的记录占用相同的资源（库存、优惠券、积分等）"
        ),
    )];
    let risks = vec![t(
        format!(
            "records ended through `{method_b}` before this change were never compensated: decide whether to repair them once"
        ),
        format!("此前经 `{method_b}` 结束的记录从未补偿：需决定是否一次性修复"),
    )];
    let source = SampleSource {
        kind: "derived-compensation".into(),
        state_ids: vec![format!("{}.{}", machine.symbol, machine.field)],
        flow_ids: vec![flow_a.flow_id.clone(), flow_b.flow_id.clone()],
        twin_key: format!("{}:{}:compensation", a.method, b.method),
        ..Default::default()
    };
    Some(design_written(
        language,
        domain_of_class(analysis, b_class),
        requirement,
        design,
        assumptions,
        risks,
        evidence,
        trace,
        source,
    ))
}
