//! Design family `derived-status-timeout`: "move records that stay too long in status F on to
//! T automatically", derived from a state machine whose F -> T transition already exists in a
//! service method. The design reuses that method (so its guard and transaction apply), follows
//! an existing `@Scheduled` job's style when the repository has one, and adds only the query
//! for overdue rows and the setting for the time limit.
//!
//! Everything said about existing code comes from the analysis: the transition's method, its
//! from-values and guard, whether it runs in a transaction (a `transaction` rule), the job's
//! timing. Nothing is claimed about columns the analysis has not seen: the time the status was
//! set is an assumption.

use acdp_analysis::{Analysis, RuleKind, StateMachine, Transition};
use acdp_sample::{
    ComponentAction, ComponentChange, Design, ReusedComponent, SampleLanguage, SampleSource, Task,
    TraceStep,
};

use super::Written;
use super::design_parts::{
    design_written, domain_of_class, step, tables_written_by, transaction_claim, user_scoped,
    value_words,
};
use super::evidence::{ChunkLookup, EvidenceSet, class_of, short_method, simple_name};

pub fn derived_timeout_designs(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    languages: &[SampleLanguage],
) -> Vec<Written> {
    let mut out = Vec::new();
    for machine in &analysis.states {
        // A guarded update in a method that is not itself a job, towards an end of the life
        // cycle that time alone can justify (cancel, close, expire, confirm...): an automatic
        // "pay" or "ship" would be a nonsense requirement.
        // A target some job already moves records to has its timeout already.
        let scheduled: Vec<&str> = analysis
            .flows
            .iter()
            .filter(|f| f.entry.kind == "scheduled")
            .flat_map(|f| {
                std::iter::once(f.entry.symbol.as_str())
                    .chain(f.steps.iter().map(|s| s.symbol.as_str()))
            })
            .collect();
        let automated = |to: i64| {
            machine
                .transitions
                .iter()
                .any(|t| t.to == to && scheduled.contains(&t.method.as_str()))
        };
        let mut candidates: Vec<&Transition> = machine
            .transitions
            .iter()
            .filter(|t| {
                ends_by_time(machine, t)
                    && !automated(t.to)
                    && !t.creation
                    && t.guard.is_some()
                    && !t.from.is_empty()
                    && t.via.is_none()
                    && !analysis
                        .rules
                        .iter()
                        .any(|r| r.kind == RuleKind::Schedule && r.symbol == t.method)
            })
            .collect();
        // The way of making the change that does the most (releases, notifies...) first: a
        // job should end a record as completely as a request does.
        candidates.sort_by_key(|t| std::cmp::Reverse(tables_written_by(analysis, &t.method)));
        // The first candidate whose design can be written in every language.
        for transition in candidates {
            if user_scoped(lookup, transition)
                || request_bound_callees(analysis, lookup, transition)
            {
                continue;
            }
            let designs: Vec<Written> = languages
                .iter()
                .filter_map(|&language| {
                    timeout_design(analysis, lookup, machine, transition, language)
                })
                .collect();
            if designs.len() == languages.len() {
                out.extend(designs);
                break;
            }
        }
    }
    out
}

/// Code that needs a request or a logged-in user: a job has neither.
const REQUEST_WORDS: &[&str] = &[
    "getcurrent",
    "currentuser",
    "loginuser",
    "securitycontext",
    "getsubject",
    "requestcontextholder",
    "httpservletrequest",
];

/// Whether a method the transition's method calls (transitively, as flows record it) reads
/// the request or the logged-in user, e.g. an operation log written from the request.
fn request_bound_callees(analysis: &Analysis, lookup: &ChunkLookup<'_>, t: &Transition) -> bool {
    for flow in &analysis.flows {
        let mut callers = vec![t.method.as_str()];
        for step in &flow.steps {
            if !callers.contains(&step.called_from.as_str()) {
                continue;
            }
            callers.push(step.symbol.as_str());
            let code = step
                .chunk_id
                .as_ref()
                .and_then(|id| lookup.index.chunk(id))
                .map(|(file, c)| file.text[c.start_byte..c.end_byte].to_lowercase())
                .unwrap_or_default();
            if REQUEST_WORDS.iter().any(|w| code.contains(w)) {
                return true;
            }
        }
    }
    false
}

/// Words of methods and status names for steps that a deadline can trigger.
const TIMEOUT_WORDS: &[&str] = &[
    "cancel", "close", "expire", "timeout", "overdue", "confirm", "finish", "complete", "invalid",
    "reject", "取消", "关闭", "过期", "超时", "确认", "完成", "失效",
];

fn ends_by_time(machine: &StateMachine, t: &Transition) -> bool {
    let method = short_method(&t.method).to_lowercase();
    let target = value_words(machine, t.to);
    TIMEOUT_WORDS
        .iter()
        .any(|w| method.contains(w) || target.contains(w))
}

fn label(machine: &StateMachine, value: i64) -> String {
    match machine.values.iter().find(|v| v.value == value) {
        Some(v) => match (&v.name, &v.meaning) {
            (Some(name), _) => format!("{value} (`{name}`)"),
            (None, Some(meaning)) => format!("{value} ({meaning})"),
            (None, None) => value.to_string(),
        },
        None => value.to_string(),
    }
}

fn timeout_design(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    machine: &StateMachine,
    transition: &Transition,
    language: SampleLanguage,
) -> Option<Written> {
    let zh = language == SampleLanguage::Zh;
    let t = |en: String, cn: String| if zh { cn } else { en };
    let mut evidence = EvidenceSet::new(lookup);
    let method_id = evidence.add(transition.chunk_ids.first()?)?;
    let method = short_method(&transition.method);
    let service_class = class_of(&transition.method)?;
    let entity = &machine.entity;
    let field = format!("{entity}.{}", machine.field);
    let from: Vec<String> = transition.from.iter().map(|v| label(machine, *v)).collect();
    let from = from.join(if zh { " 或 " } else { " or " });
    let to = label(machine, transition.to);
    let guard = transition
        .guard
        .as_deref()?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let table = machine.table.clone().unwrap_or_else(|| entity.to_owned());
    // The transition's transaction, when the method (or its interface method) has one.
    let transaction = analysis
        .rules
        .iter()
        .find(|r| r.kind == RuleKind::Transaction && r.symbol == transition.method);
    let transaction_id = transaction
        .and_then(|r| r.chunk_ids.last())
        .and_then(|id| evidence.add(id));
    // An existing job to follow: the first scheduled entry point (flows only admit jobs on
    // Spring beans, so a class whose `@Component` is commented out is not one).
    let job = analysis
        .flows
        .iter()
        .filter(|f| f.entry.kind == "scheduled")
        .find_map(|f| {
            analysis
                .rules
                .iter()
                .find(|r| r.kind == RuleKind::Schedule && r.symbol == f.entry.symbol)
        })
        .and_then(|r| Some((r, evidence.add(r.chunk_ids.first()?)?)));
    let job_class = format!("{entity}StatusTimeoutTask");
    // The statement that writes the status, when its code can be cited (not generated).
    let statement = transition.statement.as_deref()?;
    let statement_id = transition.chunk_ids.iter().skip(1).find_map(|id| {
        evidence.add(id).filter(|_| {
            lookup
                .index
                .chunk(id)
                .is_some_and(|(_, c)| c.symbol == statement)
        })
    });
    let mapper = match &statement_id {
        Some(_) => statement.rsplit_once('.')?.0.to_owned(),
        None => format!("{entity}OverdueDao"),
    };

    let requirement = t(
        format!(
            "Move `{field}` from {from} to {to} automatically when a record has stayed in {from} longer than a configurable time, the way `{method}` does it on request."
        ),
        format!(
            "当记录停留在 {from} 超过可配置的时长时，自动把 `{field}` 改为 {to}，做法与 `{method}` 按请求处理时相同。"
        ),
    );
    let mut trace: Vec<TraceStep> = vec![step(
        t(
            format!("`{method}` sets `{field}` to {to}, only from {from} (it checks `{guard}`)."),
            format!("`{method}` 将 `{field}` 设为 {to}，仅当当前值为 {from}（判断 `{guard}`）。"),
        ),
        &method_id,
    )];
    let mut reused = vec![ReusedComponent {
        chunk_id: method_id.clone(),
        symbol: transition.method.clone(),
        how: t(
            "called once per overdue record, so its status check and write stay the only way the status changes".into(),
            "对每条超时记录调用一次，状态校验与写库仍只在这里发生".into(),
        ),
    }];
    if let Some(id) = &statement_id {
        trace.push(step(
            t(
                format!("The new value is written by `{statement}`."),
                format!("新值由 `{statement}` 写入。"),
            ),
            id,
        ));
    }
    if let (Some(rule), Some(id)) = (transaction, &transaction_id) {
        trace.push(step(transaction_claim(&method, rule, language), id));
    }
    if let Some((rule, id)) = &job {
        let job_method = short_method(&rule.symbol);
        trace.push(step(
            t(
                format!(
                    "`{job_method}` is an existing scheduled job (`{}`).",
                    rule.condition
                ),
                format!("`{job_method}` 是现有的定时任务（`{}`）。", rule.condition),
            ),
            id,
        ));
        reused.push(ReusedComponent {
            chunk_id: id.clone(),
            symbol: rule.symbol.clone(),
            how: t(
                "the new job follows its `@Scheduled` style and placement".into(),
                "新任务沿用它的 `@Scheduled` 写法与位置".into(),
            ),
        });
    }
    if trace.len() < Task::Design.min_trace_steps() {
        return None;
    }
    let components = vec![
        ComponentChange {
            layer: "job".into(),
            component: job_class.clone(),
            action: ComponentAction::Add,
            description: t(
                format!(
                    "a `@Scheduled` job that lists overdue records in {from} and calls `{method}` for each"
                ),
                format!("`@Scheduled` 定时任务：查询停留在 {from} 的超时记录，逐条调用 `{method}`"),
            ),
        },
        ComponentChange {
            layer: "service".into(),
            component: service_class.to_owned(),
            action: ComponentAction::Modify,
            description: t(
                format!("add a query for records of `{table}` in {from} set before a given time"),
                format!("新增查询：`{table}` 中处于 {from} 且设置时间早于给定时刻的记录"),
            ),
        },
        ComponentChange {
            layer: "mapper_xml".into(),
            // The mapper whose statement writes the status today, or a new one when that
            // statement is generated code (which is not cited).
            component: mapper.clone(),
            action: if statement_id.is_some() {
                ComponentAction::Modify
            } else {
                ComponentAction::Add
            },
            description: t(
                "a select by status and status time, with a limit per run".into(),
                "按状态与状态时间查询的 select，每次运行限制条数".into(),
            ),
        },
    ];
    let consistency = vec![
        // Only a guard in the write's own WHERE clause holds against a concurrent change; a
        // Java check reads the status first and writes afterwards.
        if matches!(transition.guard_in.as_deref(), Some("sql" | "argument")) {
            t(
                format!(
                    "each record goes through `{method}`, whose write re-checks the status in the database (`{guard}`), so a record that left {from} in the meantime is not changed"
                ),
                format!(
                    "每条记录都经过 `{method}`，其写库语句在数据库中再次校验状态（`{guard}`），期间已离开 {from} 的记录不会被修改"
                ),
            )
        } else {
            t(
                format!(
                    "`{method}` checks the status it read (`{guard}`) before it writes, but the write itself does not re-check it: add the status to the update's WHERE clause, or the job and a request can overwrite each other's change"
                ),
                format!(
                    "`{method}` 在写库前检查读到的状态（`{guard}`），但写库语句本身不再校验：需要把状态加入 update 的 WHERE 条件，否则任务与请求可能互相覆盖修改"
                ),
            )
        },
        match transaction {
            Some(_) => t(
                format!(
                    "records are processed one by one, each in the transaction `{method}` already opens, so one failure does not undo the others"
                ),
                format!("逐条处理，每条都在 `{method}` 已有的事务中，一条失败不会撤销其他记录"),
            ),
            None => t(
                format!(
                    "`{method}` has no `@Transactional` today: if its change spans several writes, add one before calling it from a job"
                ),
                format!(
                    "`{method}` 目前没有 `@Transactional`：如果它的修改涉及多次写库，需要在任务调用前补上事务"
                ),
            ),
        },
    ];
    let design = Design {
        summary: t(
            format!(
                "Add `{job_class}`, a scheduled job that finds `{table}` records still in {from} after the configured time and moves each to {to} through the existing `{method}`."
            ),
            format!(
                "新增定时任务 `{job_class}`：查出超过配置时长仍处于 {from} 的 `{table}` 记录，逐条通过现有的 `{method}` 改为 {to}。"
            ),
        ),
        components,
        api_changes: Vec::new(),
        data_changes: vec![t(
            format!(
                "a setting for the time limit, e.g. `{}.timeout-minutes`",
                simple_name(&machine.symbol).to_ascii_lowercase()
            ),
            format!(
                "新增超时时长配置，例如 `{}.timeout-minutes`",
                simple_name(&machine.symbol).to_ascii_lowercase()
            ),
        )],
        flow: vec![
            t(
                format!("`{job_class}` runs on its schedule and reads the time limit"),
                format!("`{job_class}` 按计划运行并读取超时配置"),
            ),
            t(
                format!("it selects the overdue `{table}` records in {from}"),
                format!("查询处于 {from} 的超时 `{table}` 记录"),
            ),
            t(
                format!("for each, it calls `{method}`, which checks the status and writes {to}"),
                format!("对每条记录调用 `{method}`，由它校验状态并写入 {to}"),
            ),
        ],
        consistency,
        reused,
    };
    let assumptions = vec![t(
        format!(
            "`{table}` records when the status was last set (a timestamp column); if not, one is added with the job"
        ),
        format!("`{table}` 记录了状态最近一次设置的时间（时间戳列）；若没有，需要随任务一起新增"),
    )];
    let risks = vec![t(
        "a backlog after downtime: limit the rows per run so one run stays short".into(),
        "停机后可能积压：限制每次运行处理的条数，保证单次运行时间可控".into(),
    )];
    let key = format!(
        "{}.{}:{:?}->{}",
        machine.symbol, machine.field, transition.from, transition.to
    );
    let source = SampleSource {
        kind: "derived-status-timeout".into(),
        state_ids: vec![format!("{}.{}", machine.symbol, machine.field)],
        twin_key: format!("{key}:timeout"),
        ..Default::default()
    };
    Some(design_written(
        language,
        domain_of_class(analysis, service_class),
        requirement,
        design,
        assumptions,
        risks,
        evidence,
        trace,
        source,
    ))
}
