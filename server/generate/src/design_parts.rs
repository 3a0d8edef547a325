//! Pieces every derived design family uses: a trace step, the transaction a method runs in,
//! the HTTP flow that reaches a method, the request body of an endpoint, the domain of a class.
//! One implementation each, so that two families never describe the same fact differently.

use std::sync::LazyLock;

use regex::Regex;

use acdp_analysis::{Analysis, Flow, FlowStep, Rule, RuleKind, StateMachine, Transition};
use acdp_index::ChunkId;
use acdp_index::Symbol;
use acdp_sample::{Design, SampleBody, SampleLanguage, SampleSource, Task, TraceStep};

use super::evidence::{ChunkLookup, EvidenceSet, short_method};
use super::text::one_line;
use super::{SampleRequest, Written};

pub(super) fn step(claim: String, id: &ChunkId) -> TraceStep {
    TraceStep {
        claim,
        evidence: vec![id.clone()],
    }
}

/// The written design sample: its request (task, language, domain, the requirement as prompt,
/// the evidence) and body.
#[allow(clippy::too_many_arguments)]
pub(super) fn design_written(
    language: SampleLanguage,
    domain: String,
    requirement: String,
    design: Design,
    assumptions: Vec<String>,
    risks: Vec<String>,
    evidence: EvidenceSet<'_, '_>,
    trace: Vec<TraceStep>,
    source: SampleSource,
) -> Written {
    let request = SampleRequest {
        task: Task::Design,
        language,
        domain,
        prompt: requirement.clone(),
        evidence: evidence.into_vec(),
        source,
    };
    Written {
        request,
        body: SampleBody::Design {
            requirement,
            design,
            assumptions,
            risks,
        },
        trace,
    }
}

/// "`method` runs in a transaction (`@Transactional`)."
pub(super) fn transaction_claim(method: &str, rule: &Rule, language: SampleLanguage) -> String {
    pick_lang(
        language,
        format!("`{method}` runs in a transaction (`{}`).", rule.condition),
        format!("`{method}` 在事务中执行（`{}`）。", rule.condition),
    )
}

/// The transaction `method` runs in (see [`transaction_of`]), with the trace step that says so,
/// cited by the chunk that shows the annotation; `None` when there is none or it cannot be
/// cited.
pub(super) fn cited_transaction<'a>(
    analysis: &'a Analysis,
    method: &str,
    evidence: &mut EvidenceSet<'_, '_>,
    language: SampleLanguage,
) -> Option<(&'a Rule, TraceStep)> {
    let rule = transaction_of(analysis, method)?;
    let id = rule.chunk_ids.last().and_then(|id| evidence.add(id))?;
    let claim = transaction_claim(&short_method(method), rule, language);
    Some((rule, step(claim, &id)))
}

/// The name and meaning of a status value, lower case: the words a family matches against.
pub(super) fn value_words(machine: &StateMachine, value: i64) -> String {
    machine
        .values
        .iter()
        .find(|v| v.value == value)
        .map(|v| {
            format!(
                "{} {}",
                v.name.as_deref().unwrap_or_default(),
                v.meaning.as_deref().unwrap_or_default()
            )
            .to_lowercase()
        })
        .unwrap_or_default()
}

/// `ship` -> `Ship`, `price` -> `Price`: a name inside another one (`requestShip`, `getPrice`).
pub(super) fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or(String::new(), |c| {
        c.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

/// A step cited by several chunks (an entry method and the class that maps its path).
pub(super) fn step_cited(claim: String, ids: &[ChunkId]) -> TraceStep {
    TraceStep {
        claim,
        evidence: ids.to_vec(),
    }
}

/// `en` or `zh`, whichever `language` asks for.
pub(super) fn pick_lang(language: SampleLanguage, en: String, zh: String) -> String {
    match language {
        SampleLanguage::En => en,
        SampleLanguage::Zh => zh,
    }
}

/// The `@Transactional` rule of a method (on it, inherited from its interface method, or on
/// its class), when it opens one: "runs without a transaction" rules are not transactions.
pub(super) fn transaction_of<'a>(analysis: &'a Analysis, method: &str) -> Option<&'a Rule> {
    let class = Symbol::parse(method).type_path;
    analysis.rules.iter().find(|r| {
        r.kind == RuleKind::Transaction
            && !r.statement.contains("without a transaction")
            && (r.symbol == method || class.is_some_and(|c| r.symbol == c))
    })
}

/// The first HTTP flow whose entry is `method` or that reaches it on the request's main line
/// (no condition at the call site or above), so "the endpoint runs it" holds on every request
/// that gets that far.
pub(super) fn http_flow_reaching<'a>(analysis: &'a Analysis, method: &str) -> Option<&'a Flow> {
    analysis
        .flows
        .iter()
        .filter(|f| f.entry.kind == "http")
        .find(|f| {
            f.entry.symbol == method
                || f.steps
                    .iter()
                    .any(|s| s.symbol == method && s.when.is_main_line() && s.outer.is_main_line())
        })
}

/// The flow whose entry is `method`, else an HTTP or scheduled flow that runs it on its main
/// line.
pub(super) fn flow_running<'a>(analysis: &'a Analysis, method: &str) -> Option<&'a Flow> {
    let runs = |f: &&Flow| matches!(f.entry.kind.as_str(), "http" | "scheduled");
    analysis
        .flows
        .iter()
        .filter(runs)
        .find(|f| f.entry.symbol == method)
        .or_else(|| {
            analysis.flows.iter().filter(runs).find(|f| {
                f.steps
                    .iter()
                    .any(|s| s.symbol == method && s.when.is_main_line() && s.outer.is_main_line())
            })
        })
}

/// A statement step that inserts, updates or deletes a table.
pub(super) fn is_write(step: &FlowStep) -> bool {
    step.kind == "statement"
        && matches!(
            step.operation.as_deref(),
            Some("insert" | "update" | "delete")
        )
        && step.table.is_some()
}

/// The tables the flow that runs `method` writes, each once: how much a way of changing a
/// record does besides the change.
pub(super) fn tables_written_by(analysis: &Analysis, method: &str) -> usize {
    let Some(flow) = flow_running(analysis, method) else {
        return 0;
    };
    let mut tables: Vec<&str> = flow
        .steps
        .iter()
        .filter(|s| is_write(s))
        .filter_map(|s| s.table.as_deref())
        .collect();
    tables.sort_unstable();
    tables.dedup();
    tables.len()
}

/// A method that acts for the logged-in user (reads the current user, or takes a user or
/// member id to check ownership): a job, which has no user, cannot call it, and an approval of
/// it would have the user approve their own request.
pub(super) fn user_scoped(lookup: &ChunkLookup<'_>, t: &Transition) -> bool {
    let Some((file, chunk)) = t.chunk_ids.first().and_then(|id| lookup.index.chunk(id)) else {
        return true;
    };
    let code = file.text[chunk.start_byte..chunk.end_byte].to_lowercase();
    let header = code.split('{').next().unwrap_or_default();
    [
        "getcurrent",
        "currentuser",
        "loginuser",
        "securitycontext",
        "getsubject",
    ]
    .iter()
    .any(|w| code.contains(w))
        || ["userid", "memberid", "customerid", "accountid"]
            .iter()
            .any(|w| header.contains(w))
}

/// How an HTTP flow is triggered: `POST `/path`` or the entry method.
pub(super) fn trigger(flow: &Flow) -> String {
    match (&flow.entry.verb, &flow.entry.path) {
        // The verb stays outside the backticks: the code spells it `@PostMapping` or
        // `RequestMethod.POST`, so only the path is quoted as code.
        (Some(verb), Some(path)) => format!("{verb} `{path}`"),
        _ => format!("`{}`", short_method(&flow.entry.symbol)),
    }
}

static REQUEST_BODY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"@RequestBody\s+(?:@[A-Za-z.]+(?:\([^)]*\))?\s+)*(?:final\s+)?([A-Z][A-Za-z0-9_]*)")
        .expect("valid regex")
});

/// The simple type name of an endpoint's `@RequestBody` parameter, read from its code (the
/// first one: annotations before the signature may hold braces, so the whole text is read).
pub(super) fn request_body_type(entry_code: &str) -> Option<String> {
    REQUEST_BODY.captures(entry_code).map(|c| c[1].to_owned())
}

/// "`caller` inserts the `row` row by calling `statement`", cited by the caller's code, when
/// that code shows the call (a generated statement is not evidence; the call to it is). `row`
/// names the table, or the model when no cited SQL names the table.
pub(super) fn writer_claim(
    flow: &Flow,
    write: &FlowStep,
    row: &str,
    evidence: &mut EvidenceSet<'_, '_>,
    language: SampleLanguage,
) -> Option<(String, ChunkId)> {
    let caller_chunk = if write.called_from == flow.entry.symbol {
        flow.entry.chunk_id.as_ref()
    } else {
        flow.steps
            .iter()
            .find(|s| s.kind == "method" && s.symbol == write.called_from)
            .and_then(|s| s.chunk_id.as_ref())
    }?;
    let id = evidence.add(caller_chunk)?;
    let statement = write.symbol.rsplit('.').next()?;
    if !evidence.get(&id)?.code.contains(&format!(".{statement}(")) {
        return None;
    }
    let caller = short_method(&write.called_from);
    let table = row;
    let claim = match (write.operation.as_deref(), language) {
        (Some("insert"), SampleLanguage::En) => {
            format!("`{caller}` inserts the `{table}` row by calling `{statement}`.")
        }
        (Some("insert"), SampleLanguage::Zh) => {
            format!("`{caller}` 通过调用 `{statement}` 插入 `{table}` 行。")
        }
        (Some("delete"), SampleLanguage::En) => {
            format!("`{caller}` deletes from `{table}` by calling `{statement}`.")
        }
        (Some("delete"), SampleLanguage::Zh) => {
            format!("`{caller}` 通过调用 `{statement}` 删除 `{table}` 的数据。")
        }
        (_, SampleLanguage::En) => format!("`{caller}` writes `{table}` by calling `{statement}`."),
        (_, SampleLanguage::Zh) => format!("`{caller}` 通过调用 `{statement}` 写入 `{table}`。"),
    };
    Some((claim, id))
}

/// Adds the entry method of `flow` to the evidence, with its class header when the class maps
/// part of the path (`@RequestMapping("/member/address")`), so a quoted path is grounded.
/// Returns the ids to cite for the entry: its method first.
pub(super) fn add_entry(
    flow: &Flow,
    lookup: &ChunkLookup<'_>,
    evidence: &mut EvidenceSet<'_, '_>,
) -> Option<Vec<ChunkId>> {
    let id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let mut ids = vec![id];
    if let Some(header) = super::evidence::class_of(&flow.entry.symbol)
        .and_then(|class| lookup.header(class))
        .filter(|header| {
            lookup
                .index
                .chunk(header)
                .is_some_and(|(file, c)| c.text(&file.text).contains("RequestMapping"))
        })
        && let Some(header) = evidence.add(header)
    {
        ids.push(header);
    }
    Some(ids)
}

/// The layer a class sits in, from its name (`OrderController` -> `controller`).
pub(super) fn layer_of(class: &str) -> &'static str {
    let name = class.rsplit('.').next().unwrap_or(class);
    if name.ends_with("Controller") || name.ends_with("Resource") || name.ends_with("Endpoint") {
        "controller"
    } else if name.ends_with("ServiceImpl") {
        "service_impl"
    } else if name.ends_with("Mapper") || name.ends_with("Dao") || name.ends_with("Repository") {
        "mapper"
    } else if name.ends_with("Task") || name.ends_with("Job") {
        "job"
    } else {
        "service"
    }
}

/// The columns `transition`'s write statement compares in its WHERE clause besides its key
/// (optimistic locking on a version or update time), as the analysis read them from the SQL.
pub(super) fn compared_columns<'a>(
    analysis: &'a Analysis,
    transition: &Transition,
) -> Vec<&'a str> {
    let statement = transition.statement.as_deref().unwrap_or_default();
    analysis
        .flows
        .iter()
        .flat_map(|f| f.steps.iter())
        .find(|s| s.symbol == statement)
        .map(|s| {
            s.key_columns
                .iter()
                .map(String::as_str)
                .filter(|c| !c.eq_ignore_ascii_case("id") && !c.ends_with("_id"))
                .collect()
        })
        .unwrap_or_default()
}

/// What keeps a status write safe against a concurrent change, for a design that adds a
/// writer beside `transition`: a status condition in the write's own WHERE clause, other
/// columns compared there (optimistic locking on a version or update time; said only when the
/// design cites the statement, `statement_cited`), or nothing but the key, in which case a
/// Java check that read the status first does not protect it.
pub(super) fn concurrency_note(
    analysis: &Analysis,
    transition: &Transition,
    new_writer: &str,
    statement_cited: bool,
    language: SampleLanguage,
) -> String {
    let method = short_method(&transition.method);
    let guard = transition
        .guard
        .as_deref()
        .map(one_line)
        .unwrap_or_default();
    if transition.guard_in.as_deref() == Some("sql") {
        return pick_lang(
            language,
            format!(
                "`{method}`'s write re-checks the status in the database (`{guard}`): give `{new_writer}` the same condition in its WHERE clause, so a record that changed in the meantime is not moved"
            ),
            format!(
                "`{method}` 的写库语句在数据库中再次校验状态（`{guard}`）：`{new_writer}` 的 WHERE 条件也要带上同样的状态条件，期间已变化的记录不会被修改"
            ),
        );
    }
    let statement = transition.statement.as_deref().unwrap_or_default();
    let compared = compared_columns(analysis, transition);
    if statement_cited && !compared.is_empty() {
        let columns = compared.join("`, `");
        let short_statement = statement.rsplit('.').next().unwrap_or(statement);
        return pick_lang(
            language,
            format!(
                "`{short_statement}` also compares `{columns}` in its WHERE clause, so a write on a record changed since it was read does not apply: `{new_writer}` should write through it too"
            ),
            format!(
                "`{short_statement}` 的 WHERE 条件还比较了 `{columns}`，记录在读取后被修改时写入不会生效：`{new_writer}` 也应通过它写入"
            ),
        );
    }
    if statement.ends_with("ByPrimaryKey") || statement.ends_with("ByPrimaryKeySelective") {
        return pick_lang(
            language,
            format!(
                "`{method}` checks the status it read (`{guard}`) and then writes by primary key, which does not re-check it: give `{new_writer}` and `{method}` a status condition in the update's WHERE clause, or two concurrent changes can overwrite each other"
            ),
            format!(
                "`{method}` 先检查读到的状态（`{guard}`），再按主键写库，写库时不再校验：需要为 `{new_writer}` 与 `{method}` 的 update 加上状态条件，否则并发修改可能互相覆盖"
            ),
        );
    }
    pick_lang(
        language,
        format!(
            "`{method}` checks the status it read (`{guard}`) before it writes: make `{new_writer}` check the same way, and re-check the status in the update's WHERE clause if concurrent changes matter"
        ),
        format!(
            "`{method}` 在写库前检查读到的状态（`{guard}`）：`{new_writer}` 以同样方式校验；如需防止并发修改，在 update 的 WHERE 条件中再次校验状态"
        ),
    )
}

/// Whether the type named `type_name` (simple name, unique in the repository) declares a field
/// `property` in its header (the fields before its first method), generated or not.
pub(super) fn declares_property(lookup: &ChunkLookup<'_>, type_name: &str, property: &str) -> bool {
    let Some((file, chunk)) = lookup
        .header_by_simple_name(type_name)
        .and_then(|id| lookup.index.chunk(id))
    else {
        return false;
    };
    declares_field(chunk.text(&file.text), property)
}

/// A declaration `Type property;` or `Type property = ...;` in `text`, not a use of it.
fn declares_field(text: &str, property: &str) -> bool {
    Regex::new(&format!(
        r"[A-Za-z0-9_>\]]\s+{}\s*[;=]",
        regex::escape(property)
    ))
    .is_ok_and(|field| field.is_match(text))
}

/// The domain a class belongs to, or `general`.
pub(super) fn domain_of_class(analysis: &Analysis, class: &str) -> String {
    analysis
        .domains
        .domains
        .iter()
        .find(|d| d.classes.iter().any(|c| c == class))
        .map_or_else(|| "general".to_owned(), |d| d.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_type_skips_annotations_on_the_parameter() {
        let code = "@PostMapping(\"/create\")\npublic CommonResult create(@Validated @RequestBody PmsBrandParam param, BindingResult r) {\n return null; }";
        assert_eq!(request_body_type(code).as_deref(), Some("PmsBrandParam"));
        let code = "@RequiresPermissionsDesc(menu = {\"a\", \"b\"})\npublic Object create(@RequestBody @Valid(groups = A.class) LitemallAd ad) { }";
        assert_eq!(request_body_type(code).as_deref(), Some("LitemallAd"));
        assert_eq!(
            request_body_type("public Object list(Integer page) { }"),
            None
        );
    }

    #[test]
    fn a_field_declaration_is_told_from_a_use() {
        assert!(declares_field("private BigDecimal price;", "price"));
        assert!(declares_field(
            "private List<String> price = null;",
            "price"
        ));
        assert!(declares_field("private int[] price;", "price"));
        assert!(!declares_field("return this.price;", "price"));
        assert!(!declares_field("x = price;", "price"));
        assert!(!declares_field("private BigDecimal priceMax;", "price"));
    }
}
