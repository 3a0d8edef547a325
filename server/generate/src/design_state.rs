//! Design family `derived-new-state`: "put an approval step in front of a transition", derived
//! from a state machine whose F -> T transition is guarded (the method only moves records that
//! are in F). The design adds a status value between F and T, a method (and endpoint) that
//! moves F to it, narrows the existing method's check to the new value, and lists every other
//! transition that leaves F today, because each of them must decide whether records waiting
//! for approval may leave the same way.
//!
//! Every statement about existing code comes from the state machine: the transition's guard
//! and where it is checked, the other guarded transitions out of F, the transitions into F, the
//! constants that name the values, the transaction of the method. Transitions whose guard the
//! analysis could not read are not mentioned: saying they accept any value would be a claim.

use acdp_analysis::{Analysis, StateMachine, Transition};
use acdp_index::ChunkId;
use acdp_sample::{
    ComponentAction, ComponentChange, Design, ReusedComponent, SampleLanguage, SampleSource, Task,
};

use super::Written;
use super::design_parts::{
    add_entry, capitalised, cited_transaction, compared_columns, concurrency_note, design_written,
    domain_of_class, http_flow_reaching, layer_of, pick_lang, step, step_cited, trigger,
    user_scoped,
};
use super::evidence::{ChunkLookup, EvidenceSet, class_of, short_method, simple_name};
use super::qa::value_label;
use super::text::one_line;

pub fn derived_new_state_designs(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    languages: &[SampleLanguage],
) -> Vec<Written> {
    let mut out = Vec::new();
    // A life cycle (three values at least): a yes/no flag has no step to put in between.
    for machine in analysis.states.iter().filter(|m| m.values.len() >= 3) {
        // A guarded, direct change a request makes: a job's transition has no one to approve.
        let scheduled = |method: &str| {
            analysis
                .flows
                .iter()
                .any(|f| f.entry.kind == "scheduled" && f.entry.symbol == method)
        };
        let candidates = machine.transitions.iter().filter(|t| {
            !t.creation
                && t.guard.is_some()
                && !t.from.is_empty()
                && !t.from.contains(&t.to)
                && !scheduled(&t.method)
                && !user_scoped(lookup, t)
                && http_flow_reaching(analysis, &t.method).is_some()
        });
        for transition in candidates {
            let designs: Vec<Written> = languages
                .iter()
                .filter_map(|&l| new_state_design(analysis, lookup, machine, transition, l))
                .collect();
            if designs.len() == languages.len() {
                out.extend(designs);
                break;
            }
        }
    }
    out
}

fn new_state_design(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    machine: &StateMachine,
    transition: &Transition,
    language: SampleLanguage,
) -> Option<Written> {
    let zh = language == SampleLanguage::Zh;
    let t = |en: String, cn: String| pick_lang(language, en, cn);
    let or = if zh { " 或 " } else { " or " };
    let mut evidence = EvidenceSet::new(lookup);
    let method_id = evidence.add(transition.chunk_ids.first()?)?;
    let method = short_method(&transition.method);
    let service_class = class_of(&transition.method)?.to_owned();
    let field = format!("{}.{}", machine.entity, machine.field);
    let from_label = transition
        .from
        .iter()
        .map(|v| value_label(machine, *v))
        .collect::<Vec<_>>()
        .join(or);
    let to_label = value_label(machine, transition.to);
    let guard = one_line(transition.guard.as_deref()?);
    let flow = http_flow_reaching(analysis, &transition.method)?;
    let entry = short_method(&flow.entry.symbol);
    let entry_ids = add_entry(flow, lookup, &mut evidence);
    let entry_id = entry_ids.as_ref().map(|ids| ids[0].clone());
    // When the transition's method is the entry itself, its step cites the mapping class too.
    let method_ids = match &entry_ids {
        Some(ids) if flow.entry.symbol == transition.method => ids.clone(),
        _ => vec![method_id.clone()],
    };
    let bare = method.rsplit('.').next().unwrap_or(&method);
    let requester = format!("request{}", capitalised(bare));
    // The new constant's name follows the target's when the values are named constants.
    let target_name = machine
        .values
        .iter()
        .find(|v| v.value == transition.to)
        .and_then(|v| v.name.clone());
    let new_name = target_name.as_ref().map(|n| format!("{n}_PENDING"));
    let new_value = match &new_name {
        Some(n) => format!("`{n}`"),
        None => t(
            format!("the new \"awaiting approval of `{method}`\" value"),
            format!("新的“等待 `{method}` 审批”取值"),
        ),
    };
    let used: Vec<String> = machine.values.iter().map(|v| v.value.to_string()).collect();
    let constants_id = machine
        .constants
        .as_deref()
        .and_then(|c| lookup.header(c))
        .and_then(|id| evidence.add(id));

    let requirement = t(
        format!(
            "Put an approval step in front of `{method}`: a record in {from_label} no longer moves straight to {to_label}; it first waits in a new `{field}` value, and only an approved record may move on to {to_label}."
        ),
        format!(
            "在 `{method}` 之前增加审批环节：处于 {from_label} 的记录不再直接变为 {to_label}，而是先进入新的 `{field}` 取值等待审批，只有审批通过的记录才能变为 {to_label}。"
        ),
    );

    let guard_where = match transition.guard_in.as_deref() {
        Some("sql") => t(
            format!("the WHERE clause of its write requires `{guard}`"),
            format!("其写库语句的 WHERE 条件要求 `{guard}`"),
        ),
        Some("java") => t(
            format!("it stops other values with `if ({guard})`"),
            format!("它用 `if ({guard})` 拦下其他取值"),
        ),
        _ => t(
            format!("the from-value is passed in `{guard}`"),
            format!("原状态值通过 `{guard}` 传入"),
        ),
    };
    let mut trace = vec![step_cited(
        t(
            format!(
                "`{method}` sets `{field}` to {to_label}, only from {from_label}: {guard_where}."
            ),
            format!(
                "`{method}` 将 `{field}` 设为 {to_label}，仅当当前值为 {from_label}：{guard_where}。"
            ),
        ),
        &method_ids,
    )];
    let mut reused = vec![ReusedComponent {
        chunk_id: method_id.clone(),
        symbol: transition.method.clone(),
        how: t(
            format!(
                "keeps its write of {to_label}; its status check accepts the new value instead of {from_label}"
            ),
            format!("保留写入 {to_label} 的逻辑；状态校验改为接受新取值而不是 {from_label}"),
        ),
    }];
    if let Some(ids) = entry_ids
        .as_ref()
        .filter(|_| flow.entry.symbol != transition.method)
    {
        trace.push(step_cited(
            t(
                format!(
                    "{} is handled by `{entry}`, which leads to `{method}` on every request that gets past its checks.",
                    trigger(flow)
                ),
                format!(
                    "{} 由 `{entry}` 处理，通过其校验的请求都会执行到 `{method}`。",
                    trigger(flow)
                ),
            ),
            ids,
        ));
    }
    if let Some(id) = entry_id
        .as_ref()
        .filter(|_| flow.entry.symbol != transition.method)
    {
        reused.push(ReusedComponent {
            chunk_id: id.clone(),
            symbol: flow.entry.symbol.clone(),
            how: t(
                "becomes the approval: it now moves only records that wait for it".into(),
                "成为审批操作：只处理等待审批的记录".into(),
            ),
        });
    }
    // Values named only in the entity's documentation (`0->待付款；1->待发货`): the entity
    // chunk that spells them is the evidence.
    let documented_id = constants_id.is_none().then(|| {
        machine.chunk_ids.iter().find_map(|id| {
            let (file, chunk) = lookup.index.chunk(id)?;
            let text = chunk.text(&file.text);
            let meanings: Vec<&str> = machine
                .values
                .iter()
                .filter_map(|v| v.meaning.as_deref())
                .collect();
            (!meanings.is_empty() && meanings.iter().all(|m| text.contains(m)))
                .then(|| evidence.add(id))
                .flatten()
        })
    });
    // The chunk that names the values: a step that writes a value's label cites it beside its
    // own, so each name the step uses is in a chunk it cites.
    let labels_id: Option<ChunkId> = constants_id
        .clone()
        .or_else(|| documented_id.clone().flatten());
    let with_labels = |id: &ChunkId| -> Vec<ChunkId> {
        std::iter::once(id.clone())
            .chain(labels_id.iter().filter(|l| *l != id).cloned())
            .collect()
    };
    if let Some(id) = documented_id.flatten() {
        let values: Vec<String> = machine
            .values
            .iter()
            .map(|v| value_label(machine, v.value))
            .collect();
        trace.push(step(
            t(
                format!(
                    "`{}` documents the values of `{field}`: {}.",
                    machine.entity,
                    values.join(", ")
                ),
                format!(
                    "`{}` 说明了 `{field}` 的取值：{}。",
                    machine.entity,
                    values.join("、")
                ),
            ),
            &id,
        ));
    }
    if let Some(id) = &constants_id {
        let constants = simple_name(machine.constants.as_deref().unwrap_or_default());
        trace.push(step(
            t(
                format!(
                    "`{constants}` names the values of `{field}` ({}).",
                    used.join(", ")
                ),
                format!(
                    "`{constants}` 定义了 `{field}` 的取值（{}）。",
                    used.join("、")
                ),
            ),
            id,
        ));
        reused.push(ReusedComponent {
            chunk_id: id.clone(),
            symbol: machine.constants.clone().unwrap_or_default(),
            how: t(
                "the new value is declared beside the existing ones".into(),
                "新取值与现有取值定义在一起".into(),
            ),
        });
    }

    // Other transitions out of F whose guard is known: they accept only their from-values, so a
    // record waiting in the new value is stopped by them unless they change.
    let mut consistency = Vec::new();
    let mut seen_methods = vec![transition.method.as_str()];
    for other in machine.transitions.iter().filter(|o| {
        o.guard.is_some() && o.from.iter().any(|v| transition.from.contains(v)) && !o.creation
    }) {
        if seen_methods.contains(&other.method.as_str()) {
            continue;
        }
        seen_methods.push(&other.method);
        let Some(id) = other.chunk_ids.first().and_then(|id| evidence.add(id)) else {
            continue;
        };
        let other_method = short_method(&other.method);
        let other_from = other
            .from
            .iter()
            .map(|v| value_label(machine, *v))
            .collect::<Vec<_>>()
            .join(or);
        let other_to = value_label(machine, other.to);
        let other_guard = one_line(other.guard.as_deref().unwrap_or_default());
        trace.push(step_cited(
            t(
                format!("`{other_method}` also moves records out of {other_from}, to {other_to} (it checks `{other_guard}`)."),
                format!("`{other_method}` 也会把记录从 {other_from} 改为 {other_to}（检查 `{other_guard}`）。"),
            ),
            &with_labels(&id),
        ));
        consistency.push(t(
            format!("`{other_method}` accepts only {other_from} today, so a record waiting for approval cannot take that way out: widen its check to the new value if it should (e.g. cancelling while waiting)"),
            format!("`{other_method}` 目前只接受 {other_from}，等待审批的记录无法走这条路径：如果应当允许（例如等待期间取消），需要把新取值加入其校验"),
        ));
    }
    // How records get into F: they are the ones the new step will hold.
    for into in machine
        .transitions
        .iter()
        .filter(|i| transition.from.contains(&i.to) && i.method != transition.method)
        .take(2)
    {
        let Some(id) = into.chunk_ids.first().and_then(|id| evidence.add(id)) else {
            continue;
        };
        let into_method = short_method(&into.method);
        let into_to = value_label(machine, into.to);
        trace.push(step_cited(
            if into.creation {
                t(
                    format!("`{into_method}` creates records in {into_to}."),
                    format!("`{into_method}` 创建记录时取值为 {into_to}。"),
                )
            } else {
                t(
                    format!("`{into_method}` sets `{field}` to {into_to}."),
                    format!("`{into_method}` 将 `{field}` 设为 {into_to}。"),
                )
            },
            &with_labels(&id),
        ));
    }
    // What the write statement compares besides its key is said only with the statement cited.
    let compared = compared_columns(analysis, transition);
    let statement_cited = !compared.is_empty()
        && transition.guard_in.as_deref() != Some("sql")
        && transition
            .statement
            .as_deref()
            .and_then(|statement| {
                let id = evidence.add(statement_chunk(lookup, transition, statement)?)?;
                let short = statement.rsplit('.').next().unwrap_or(statement);
                let columns = compared.join("`, `");
                trace.push(step(
                    t(
                        format!("`{short}` compares `{columns}` in its WHERE clause."),
                        format!("`{short}` 的 WHERE 条件比较了 `{columns}`。"),
                    ),
                    &id,
                ));
                Some(())
            })
            .is_some();
    consistency.push(concurrency_note(
        analysis,
        transition,
        &requester,
        statement_cited,
        language,
    ));
    // A guard in the write's WHERE clause: the statement shows it, and it changes too.
    let sql_guard_statement = transition
        .statement
        .as_deref()
        .filter(|_| transition.guard_in.as_deref() == Some("sql"))
        .and_then(|statement| {
            let id = evidence.add(statement_chunk(lookup, transition, statement)?)?;
            let mut parts = statement.rsplit('.');
            let short = match (parts.next(), parts.next()) {
                (Some(s), Some(m)) => format!("{m}.{s}"),
                _ => statement.to_owned(),
            };
            trace.push(step(
                t(
                    format!("`{short}` writes the new value only where `{guard}` holds."),
                    format!("`{short}` 只在 `{guard}` 成立时写入新值。"),
                ),
                &id,
            ));
            Some(short)
        });
    if let Some((_, claim)) =
        cited_transaction(analysis, &transition.method, &mut evidence, language)
    {
        trace.push(claim);
        consistency.push(t(
            format!("give `{requester}` the same `@Transactional` as `{method}`"),
            format!("`{requester}` 与 `{method}` 一样加上 `@Transactional`"),
        ));
    }
    if trace.len() < Task::Design.min_trace_steps() {
        return None;
    }

    let mut components = vec![match (&machine.constants, &new_name) {
        (Some(constants), Some(name)) => ComponentChange {
            layer: "constants".into(),
            component: simple_name(constants).to_owned(),
            action: ComponentAction::Modify,
            description: t(
                format!(
                    "add `{name}` for records awaiting approval, with a value none of {} uses",
                    used.join(", ")
                ),
                format!(
                    "新增 `{name}` 表示等待审批，取值不能与 {} 重复",
                    used.join("、")
                ),
            ),
        },
        _ => ComponentChange {
            layer: "model".into(),
            component: machine.entity.clone(),
            action: ComponentAction::Modify,
            description: t(
                format!(
                    "document the new value of `{}` (awaiting approval), unused today ({} are taken)",
                    machine.field,
                    used.join(", ")
                ),
                format!(
                    "在 `{}` 的取值说明中加入新取值（等待审批），不能与现有的 {} 重复",
                    machine.field,
                    used.join("、")
                ),
            ),
        },
    }];
    components.push(ComponentChange {
        layer: layer_of(&service_class).into(),
        component: simple_name(&service_class).to_owned(),
        action: ComponentAction::Modify,
        description: t(
            format!("add `{requester}`: only from {from_label}, set `{field}` to {new_value}; change `{method}`'s check so that it accepts {new_value} instead of {from_label}"),
            format!("新增 `{requester}`：仅当处于 {from_label} 时把 `{field}` 设为 {new_value}；修改 `{method}` 的校验，改为接受 {new_value} 而不是 {from_label}"),
        ),
    });
    if entry_id.is_some() {
        components.push(ComponentChange {
            layer: "controller".into(),
            component: simple_name(class_of(&flow.entry.symbol)?).to_owned(),
            action: ComponentAction::Modify,
            description: t(
                format!(
                    "add an endpoint for `{requester}` beside `{entry}`; {} stays the approval",
                    trigger(flow)
                ),
                format!(
                    "在 `{entry}` 旁新增调用 `{requester}` 的接口；{} 作为审批接口保留",
                    trigger(flow)
                ),
            ),
        });
    }
    if let Some(statement) = sql_guard_statement.as_ref() {
        components.push(ComponentChange {
            layer: "mapper_xml".into(),
            component: statement.clone(),
            action: ComponentAction::Modify,
            description: t(
                format!("its WHERE clause requires `{guard}`: make it require the new value"),
                format!("其 WHERE 条件要求 `{guard}`：改为要求新取值"),
            ),
        });
    }
    let table = machine
        .table
        .clone()
        .unwrap_or_else(|| machine.entity.clone());
    let design = Design {
        summary: t(
            format!(
                "Add {new_value} to `{field}` between {from_label} and {to_label}: a new `{requester}` moves records into it, and `{method}` moves only those on to {to_label}."
            ),
            format!(
                "在 `{field}` 的 {from_label} 与 {to_label} 之间新增 {new_value}：新的 `{requester}` 把记录移入该状态，`{method}` 只把处于该状态的记录改为 {to_label}。"
            ),
        ),
        components,
        api_changes: vec![t(
            format!(
                "a new endpoint beside {} that calls `{requester}`",
                trigger(flow)
            ),
            format!("在 {} 旁新增调用 `{requester}` 的接口", trigger(flow)),
        )],
        data_changes: vec![t(
            format!(
                "no new column: the new value is stored in `{table}`'s column for `{}`",
                machine.field
            ),
            format!(
                "无需新列：新取值存放在 `{table}` 中 `{}` 对应的列",
                machine.field
            ),
        )],
        flow: vec![
            t(
                format!(
                    "a record in {from_label} is submitted through `{requester}` and waits in {new_value}"
                ),
                format!(
                    "处于 {from_label} 的记录通过 `{requester}` 提交，进入 {new_value} 等待审批"
                ),
            ),
            t(
                format!(
                    "the approver calls {}; `{method}` accepts only {new_value} and sets {to_label}",
                    trigger(flow)
                ),
                format!(
                    "审批人调用 {}；`{method}` 只接受 {new_value} 并设为 {to_label}",
                    trigger(flow)
                ),
            ),
        ],
        consistency,
        reused,
    };
    let assumptions = vec![
        t(
            format!("lists and counters that filter on {from_label} decide whether to show records waiting for approval too"),
            format!("按 {from_label} 过滤的列表与统计需决定是否同时展示等待审批的记录"),
        ),
        t(
            "a rejected request moves the record back to its previous value through the same endpoint family".into(),
            "审批拒绝时通过同一组接口把记录改回原取值".into(),
        ),
    ];
    let risks = vec![t(
        format!(
            "records already in {from_label} when this ships have no approval: decide whether `{method}` still accepts them for a transition period"
        ),
        format!(
            "上线时已处于 {from_label} 的记录没有经过审批：需决定过渡期内 `{method}` 是否仍接受它们"
        ),
    )];
    let key = format!(
        "{}.{}:{:?}->{}:new-state",
        machine.symbol, machine.field, transition.from, transition.to
    );
    let source = SampleSource {
        kind: "derived-new-state".into(),
        state_ids: vec![format!("{}.{}", machine.symbol, machine.field)],
        flow_ids: vec![flow.flow_id.clone()],
        twin_key: key,
        ..Default::default()
    };
    Some(design_written(
        language,
        domain_of_class(analysis, &service_class),
        requirement,
        design,
        assumptions,
        risks,
        evidence,
        trace,
        source,
    ))
}

/// The chunk of `transition`'s write statement (a mapper statement, by symbol).
fn statement_chunk<'t>(
    lookup: &ChunkLookup<'_>,
    transition: &'t Transition,
    statement: &str,
) -> Option<&'t ChunkId> {
    transition.chunk_ids.iter().find(|id| {
        lookup
            .index
            .chunk(id)
            .is_some_and(|(_, c)| c.symbol == statement)
    })
}
