//! Design family `derived-field`: "add a column to a table, from the request that creates the
//! record down to the table", derived from an HTTP flow that inserts into a table with mapper
//! XML. The design walks every layer the value crosses in this repository: the request body the
//! endpoint binds (the model itself or a separate parameter class), the method that issues the
//! insert, the update endpoint when there is one, the model and result map, and each statement
//! on the table, telling generated ones (regenerate) from hand-written ones (edit).
//!
//! Claims about existing code: which endpoint handles the request and which type it binds the
//! body to (its signature), which method issues the insert and through which statement (the
//! flow and the caller's code), which statements on the table are generated and which are
//! hand-written (the index), which model the result map fills.

use acdp_analysis::sql::SqlOperation;
use acdp_analysis::{Analysis, Flow, FlowStep};
use acdp_sample::{
    ComponentAction, ComponentChange, Design, ReusedComponent, SampleLanguage, SampleSource, Task,
};

use super::Written;
use super::design_parts::{
    add_entry, design_written, pick_lang, request_body_type, step, step_cited, trigger,
    writer_claim,
};
use super::design_table::{TableFacts, tables_written_by_endpoints};
use super::evidence::{ChunkLookup, EvidenceSet, class_of, short_method, simple_name};

/// Column names a new free-text field may take, the first one the table does not have.
const NEW_COLUMNS: &[(&str, &str)] = &[
    ("remark", "remark"),
    ("memo", "memo"),
    ("extra_note", "extraNote"),
];

/// Columns that already hold free text: a table with one needs no new note column.
const FREE_TEXT_COLUMNS: &[&str] = &[
    "note",
    "remark",
    "memo",
    "description",
    "comment",
    "content",
    "desc",
];

/// Designs of this family per repository (one table per controller).
const MAX_DESIGNS: usize = 6;

pub fn derived_field_designs(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    languages: &[SampleLanguage],
) -> Vec<Written> {
    let mut out = Vec::new();
    // More candidates than designs: tables with a free-text column already are skipped.
    for (table, flow, insert) in tables_written_by_endpoints(analysis, &["insert"], 4 * MAX_DESIGNS)
    {
        if out.len() >= MAX_DESIGNS * languages.len() {
            break;
        }
        let facts = TableFacts::read(lookup, table);
        // A table that already has a free-text column makes the requirement redundant.
        let has_free_text = facts.columns.iter().any(|c| {
            FREE_TEXT_COLUMNS.iter().any(|w| {
                c.column.eq_ignore_ascii_case(w)
                    || c.column.to_ascii_lowercase().ends_with(&format!("_{w}"))
            })
        });
        if facts.model.is_none() || has_free_text {
            continue;
        }
        let designs: Vec<Written> = languages
            .iter()
            .filter_map(|&l| field_design(analysis, lookup, &facts, flow, insert, l))
            .collect();
        if designs.len() == languages.len() {
            out.extend(designs);
        }
    }
    out
}

fn field_design(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    facts: &TableFacts,
    flow: &Flow,
    insert: &FlowStep,
    language: SampleLanguage,
) -> Option<Written> {
    let t = |en: String, cn: String| pick_lang(language, en, cn);
    let table = facts.table.as_str();
    let (column, property) = NEW_COLUMNS
        .iter()
        .find(|(c, p)| !facts.mentions(lookup, c) && !facts.mentions(lookup, p))?;
    let model = facts.model_name()?.to_owned();
    let mut evidence = EvidenceSet::new(lookup);
    let entry_ids = add_entry(flow, lookup, &mut evidence)?;
    let entry_id = entry_ids[0].clone();
    let entry = short_method(&flow.entry.symbol);
    let entry_code = evidence.get(&entry_id)?.code.clone();
    let body = request_body_type(&entry_code);
    // A collection body (`List<PmsSkuStock>`) is not a form the client fills in once.
    if body
        .as_deref()
        .is_some_and(|b| ["List", "Set", "Collection", "Map", "Iterable"].contains(&b))
    {
        return None;
    }
    let create = trigger(flow);

    let requirement = t(
        format!(
            "Let clients attach a free-text `{property}` to a `{model}` when they call {create}: store it in a new `{table}.{column}` column and return it wherever the record is returned."
        ),
        format!(
            "调用 {create} 时允许客户端为 `{model}` 附带一段自由文本 `{property}`：存入 `{table}` 表新增的 `{column}` 列，并在返回该记录的地方一并返回。"
        ),
    );
    let mut trace = vec![step_cited(
        match &body {
            Some(b) => t(
                format!("{create} is handled by `{entry}`, which binds the request body to `{b}`."),
                format!("{create} 由 `{entry}` 处理，请求体绑定为 `{b}`。"),
            ),
            None => t(
                format!(
                    "{create} is handled by `{entry}`, which reads its input from request parameters, not from a JSON body."
                ),
                format!("{create} 由 `{entry}` 处理，从请求参数而不是 JSON 请求体读取输入。"),
            ),
        },
        &entry_ids,
    )];
    let mut reused = vec![ReusedComponent {
        chunk_id: entry_id.clone(),
        symbol: flow.entry.symbol.clone(),
        how: t(
            format!("the endpoint through which `{property}` arrives"),
            format!("`{property}` 经由该接口传入"),
        ),
    }];
    // Who issues the insert, and through which statement.
    // Rows are named by table only where cited SQL names the table; else by the model.
    let sql_cited = facts.statements.iter().any(|s| !s.generated);
    let row = if sql_cited {
        table.to_owned()
    } else {
        model.clone()
    };
    let writer = writer_claim(flow, insert, &row, &mut evidence, language);
    let writer_method = short_method(&insert.called_from);
    if let Some((claim, id)) = &writer {
        trace.push(step(claim.clone(), id));
        if *id != entry_id {
            reused.push(ReusedComponent {
                chunk_id: id.clone(),
                symbol: insert.called_from.clone(),
                how: t(
                    format!(
                        "issues the `{table}` insert; if it inserts an object of its own rather than the bound body, copy `{property}` onto that object"
                    ),
                    format!(
                        "执行 `{table}` 的插入；如果它插入的是自己新建的对象而不是绑定的请求体，需把 `{property}` 复制到该对象上"
                    ),
                ),
            });
        }
    }
    // The insert statement: hand-written SQL is cited (and edited); generated SQL is not
    // cited, the design says to regenerate it.
    let insert_generated = facts
        .statements
        .iter()
        .any(|s| s.generated && s.symbol == insert.symbol);
    let insert_id = insert
        .chunk_id
        .as_ref()
        .filter(|_| !insert_generated)
        .and_then(|id| evidence.add(id));
    if let Some(id) = &insert_id {
        let name = short_statement(&insert.symbol);
        trace.push(step(
            t(
                format!("`{name}` is hand-written SQL that inserts into `{table}`."),
                format!("`{name}` 是手写 SQL，向 `{table}` 插入数据。"),
            ),
            id,
        ));
    }
    // The update endpoint, when one writes the table on its main line: it carries the value too.
    // An edit endpoint: named or mapped as one (`update`, `edit`, `PUT` ...), it updates the
    // table from the same request body type as the create (a delete or an approval may bind
    // the same type and read only its id).
    let update = analysis
        .flows
        .iter()
        .filter(|f| f.entry.kind == "http" && f.flow_id != flow.flow_id)
        .filter(|f| is_edit_endpoint(f))
        .find(|f| {
            f.steps.iter().any(|s| {
                s.kind == "statement"
                    && s.operation.as_deref() == Some("update")
                    && s.table.as_deref() == Some(table)
                    && s.when.is_main_line()
                    && s.outer.is_main_line()
            }) && body.is_some()
                && f.entry
                    .chunk_id
                    .as_ref()
                    .and_then(|id| lookup.index.chunk(id))
                    .and_then(|(file, c)| request_body_type(c.text(&file.text)))
                    == body
        })
        .map(|f| (f, ()));
    let mut update_trigger = None;
    if let Some((update_flow, _)) = update
        && let Some(id) = update_flow
            .entry
            .chunk_id
            .as_ref()
            .and_then(|id| evidence.add(id))
    {
        let trigger = trigger(update_flow);
        trace.push(step(
            t(
                format!(
                    "{trigger} (`{}`) updates `{table}` on every request that passes its checks.",
                    short_method(&update_flow.entry.symbol)
                ),
                format!(
                    "{trigger}（`{}`）在通过校验的请求中都会更新 `{table}`。",
                    short_method(&update_flow.entry.symbol)
                ),
            ),
            &id,
        ));
        update_trigger = Some(trigger);
    }
    let generated: Vec<&str> = facts
        .statements
        .iter()
        .filter(|s| s.generated)
        .map(|s| s.symbol.rsplit('.').next().unwrap_or(&s.symbol))
        .collect();
    // Hand-written statements are named only when cited: at most four, the rest counted.
    let mut hand_written = Vec::new();
    let hand_written_total = facts
        .statements
        .iter()
        .filter(|s| !s.generated && s.symbol != insert.symbol)
        .count();
    for statement in facts
        .statements
        .iter()
        .filter(|s| !s.generated && s.symbol != insert.symbol)
        .take(4)
    {
        let Some(id) = evidence.add(&statement.chunk_id) else {
            continue;
        };
        hand_written.push(statement);
        let verb = match (statement.operation, language) {
            (SqlOperation::Select, SampleLanguage::En) => "reads",
            (_, SampleLanguage::En) => "writes",
            (SqlOperation::Select, SampleLanguage::Zh) => "读取",
            (_, SampleLanguage::Zh) => "写入",
        };
        let name = short_statement(&statement.symbol);
        trace.push(step(
            t(
                format!("`{name}` is hand-written SQL that {verb} `{table}`."),
                format!("`{name}` 是手写 SQL，{verb} `{table}`。"),
            ),
            &id,
        ));
    }
    let result_map_id = facts.result_map.as_ref().and_then(|id| evidence.add(id));
    if let Some(id) = &result_map_id {
        let map = evidence
            .get(id)
            .map(|e| short_statement(&e.symbol))
            .unwrap_or_default();
        trace.push(step(
            t(
                format!("The result map `{map}` fills `{model}`, one property per column."),
                format!("resultMap `{map}` 映射到 `{model}`，每列对应一个属性。"),
            ),
            id,
        ));
    }
    if trace.len() < Task::Design.min_trace_steps() {
        return None;
    }

    let mut components = Vec::new();
    components.push(ComponentChange {
        layer: "migration".into(),
        component: format!("{table}.{column}"),
        action: ComponentAction::Add,
        description: t(
            format!("`ALTER TABLE {table} ADD COLUMN {column} VARCHAR(500) NULL`: existing rows keep NULL"),
            format!("`ALTER TABLE {table} ADD COLUMN {column} VARCHAR(500) NULL`：已有记录为 NULL"),
        ),
    });
    if generated.is_empty() {
        components.push(ComponentChange {
            layer: "model".into(),
            component: model.clone(),
            action: ComponentAction::Modify,
            description: t(
                format!("add `{property}` with its getter and setter"),
                format!("新增 `{property}` 属性及其 getter/setter"),
            ),
        });
    } else {
        // A generated statement to name: the generated insert, else the first generated one.
        let generated_example = facts
            .statements
            .iter()
            .filter(|s| s.generated)
            .find(|s| s.operation == SqlOperation::Insert)
            .or_else(|| facts.statements.iter().find(|s| s.generated))
            .map(|s| s.symbol.rsplit('.').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let namespace = facts
            .statements
            .iter()
            .find(|s| s.generated)
            .and_then(|s| s.symbol.rsplit_once('.'))
            .map(|(n, _)| simple_name(n).to_owned())
            .unwrap_or_default();
        components.push(ComponentChange {
            layer: "generated".into(),
            // The model is named (the endpoint's code shows it); the generated mapper is
            // described, not cited.
            component: model.clone(),
            action: ComponentAction::Modify,
            description: t(
                format!(
                    "generator output, with the {} statements of {namespace} on `{table}` (`{}` among them): after the migration, run MyBatis Generator again so the model and its statements pick up the column (check that its configuration does not list columns); a hand edit is lost on the next run",
                    generated.len(),
                    generated_example
                ),
                format!(
                    "MyBatis Generator 生成的代码，连同 {namespace} 在 `{table}` 上的 {} 条语句（包括 `{}`）：执行迁移后重新运行 MyBatis Generator，使模型与语句带上该列（确认其配置没有逐列列出字段）；手工修改会在下次生成时丢失",
                    generated.len(),
                    generated_example
                ),
            ),
        });
    }
    if !insert_generated && insert_id.is_some() {
        components.push(ComponentChange {
            layer: "mapper_xml".into(),
            component: short_statement(&insert.symbol),
            action: ComponentAction::Modify,
            description: t(
                format!("the insert {create} runs: add `{column}` to its column list and `#{{{property}}}` to its values"),
                format!("{create} 执行的插入语句：在列清单中加入 `{column}`，在值中加入 `#{{{property}}}`"),
            ),
        });
    }
    if hand_written_total > hand_written.len() {
        components.push(ComponentChange {
            layer: "mapper_xml".into(),
            component: table.to_owned(),
            action: ComponentAction::Modify,
            description: t(
                format!(
                    "{} more hand-written statements on `{table}`: check each the same way",
                    hand_written_total - hand_written.len()
                ),
                format!(
                    "`{table}` 上另有 {} 条手写语句：逐条按同样方式检查",
                    hand_written_total - hand_written.len()
                ),
            ),
        });
    }
    for statement in &hand_written {
        let name = short_statement(&statement.symbol);
        components.push(ComponentChange {
            layer: "mapper_xml".into(),
            component: name.clone(),
            action: ComponentAction::Modify,
            description: match statement.operation {
                SqlOperation::Select => t(
                    format!("hand-written: add `{column}` if it lists columns and its callers need the value"),
                    format!("手写 SQL：如果它逐列列出字段且调用方需要该值，加入 `{column}`"),
                ),
                _ => t(
                    format!("hand-written: write `{column}` too if it lists the columns it writes"),
                    format!("手写 SQL：如果它逐列写入字段，同样写入 `{column}`"),
                ),
            },
        });
    }
    let controller = class_of(&flow.entry.symbol)
        .map(simple_name)
        .unwrap_or_default();
    match &body {
        Some(b) if *b == model => components.push(ComponentChange {
            layer: "controller".into(),
            component: controller.to_owned(),
            action: ComponentAction::Modify,
            description: t(
                format!("no code change: `{entry}` binds the body to `{model}` itself, so `{property}` is read from the JSON once the model has it; document it in the API description"),
                format!("无需改代码：`{entry}` 直接把请求体绑定为 `{model}`，模型有该属性后即可从 JSON 读取；在接口文档中说明该字段"),
            ),
        }),
        Some(b) if holds_type(lookup, b, &model) => components.push(ComponentChange {
            layer: "dto".into(),
            component: b.clone(),
            action: ComponentAction::Modify,
            description: t(
                format!("no field of its own: `{b}` holds a `{model}`, which carries `{property}` once the model has it"),
                format!("无需新增字段：`{b}` 内含 `{model}`，模型有该属性后即可携带 `{property}`"),
            ),
        }),
        Some(b) => components.push(ComponentChange {
            layer: "dto".into(),
            component: b.clone(),
            action: ComponentAction::Modify,
            description: t(
                format!("add `{property}` (with its validation, e.g. a maximum length of 500), and carry it over to the `{model}` that `{writer_method}` inserts"),
                format!("新增 `{property}`（带校验，如最大长度 500），并传递到 `{writer_method}` 插入的 `{model}` 中"),
            ),
        }),
        None => components.push(ComponentChange {
            layer: "controller".into(),
            component: controller.to_owned(),
            action: ComponentAction::Modify,
            description: t(
                format!("accept `{property}` as a request parameter of `{entry}` and pass it on to `{writer_method}`"),
                format!("在 `{entry}` 中接收请求参数 `{property}`，并传给 `{writer_method}`"),
            ),
        }),
    }
    let mut consistency = vec![t(
        format!(
            "`{column}` is nullable, so existing rows keep working and a create request without `{property}` stores NULL"
        ),
        format!("`{column}` 允许为空，已有数据不受影响，不传 `{property}` 的新建请求存为 NULL"),
    )];
    // An edit that writes every column (a non-selective update) clears the value when the
    // client leaves it out.
    let full_update = update.and_then(|(f, _)| {
        f.steps.iter().find(|s| {
            s.kind == "statement"
                && s.operation.as_deref() == Some("update")
                && s.table.as_deref() == Some(table)
                && !s.symbol.contains("Selective")
        })
    });
    if let Some(step) = full_update {
        let name = short_statement(&step.symbol);
        consistency.push(t(
            format!(
                "the edit path updates through `{name}`, which is not a selective update: an edit request that does not send `{property}` would overwrite a stored value with NULL, so edit clients must send it back"
            ),
            format!(
                "编辑路径通过 `{name}` 更新，它不是选择性更新：不传 `{property}` 的编辑请求会把已存的值覆盖为 NULL，编辑客户端必须回传该值"
            ),
        ));
    }
    if insert.symbol.ends_with(".insertSelective") {
        consistency.push(t(
            "the insert goes through the generated `insertSelective`, which writes only the properties that are not null, so a request without the value stores NULL".into(),
            "插入使用生成的 `insertSelective`，只写入非空属性，请求中没有该值时存为 NULL".into(),
        ));
    }
    if let Some(update) = &update_trigger {
        consistency.push(t(
            format!("{update} must accept and store `{property}` too, or an edit cannot change it"),
            format!("{update} 也需要接收并保存 `{property}`，否则编辑时无法修改"),
        ));
    }
    let mut api_changes = vec![t(
        format!("{create}: optional `{property}` (string, at most 500 characters)"),
        format!("{create}：可选字段 `{property}`（字符串，最多 500 个字符）"),
    )];
    if let Some(update) = &update_trigger {
        api_changes.push(t(
            format!("{update}: optional `{property}`"),
            format!("{update}：可选字段 `{property}`"),
        ));
    }
    let added = if column == property {
        format!("`{column}` to `{table}` and to `{model}`")
    } else {
        format!("`{column}` to `{table}` and `{property}` to `{model}`")
    };
    let design = Design {
        summary: t(
            format!(
                "Add {added}, accept it on {create}, and store it through the existing insert issued by `{writer_method}`."
            ),
            format!(
                "为 `{table}` 新增 `{column}` 列、为 `{model}` 新增 `{property}`，在 {create} 中接收，并通过 `{writer_method}` 现有的插入保存。"
            ),
        ),
        components,
        api_changes,
        data_changes: vec![t(
            format!("new nullable column `{table}.{column}` VARCHAR(500)"),
            format!("新增可空列 `{table}.{column}` VARCHAR(500)"),
        )],
        flow: vec![
            t(
                format!("{create} reaches `{entry}` with `{property}` in the request"),
                format!("{create} 携带 `{property}` 进入 `{entry}`"),
            ),
            t(
                format!("the `{model}` that `{writer_method}` inserts carries `{property}`"),
                format!("`{writer_method}` 插入的 `{model}` 带有 `{property}`"),
            ),
            t(
                format!("the insert writes `{table}.{column}`"),
                format!("插入语句写入 `{table}.{column}`"),
            ),
        ],
        consistency,
        reused,
    };
    let assumptions = vec![t(
        format!("`{property}` is free text up to 500 characters, not searched or filtered on"),
        format!("`{property}` 为最多 500 字符的自由文本，不用于搜索或过滤"),
    )];
    let risks = vec![t(
        format!(
            "responses that serialise `{model}` start to include `{property}`: clients that reject unknown fields must be updated"
        ),
        format!(
            "序列化 `{model}` 的响应会多出 `{property}` 字段：拒绝未知字段的客户端需要同步升级"
        ),
    )];
    let source = SampleSource {
        kind: "derived-field".into(),
        flow_ids: vec![flow.flow_id.clone()],
        twin_key: format!("{table}:{column}:field"),
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

/// Whether the type `holder` (simple name) declares a field of type `held`.
fn holds_type(lookup: &ChunkLookup<'_>, holder: &str, held: &str) -> bool {
    lookup
        .header_by_simple_name(holder)
        .and_then(|id| lookup.index.chunk(id))
        .is_some_and(|(file, chunk)| {
            regex::Regex::new(&format!(r"\b{}(?:\[\])?\s+\w+\s*[;=]", regex::escape(held)))
                .is_ok_and(|field| field.is_match(chunk.text(&file.text)))
        })
}

/// An endpoint that edits a record, by its method name, path or verb.
fn is_edit_endpoint(flow: &Flow) -> bool {
    let name = short_method(&flow.entry.symbol).to_lowercase();
    let path = flow
        .entry
        .path
        .as_deref()
        .unwrap_or_default()
        .to_lowercase();
    flow.entry.verb.as_deref() == Some("PUT")
        || ["update", "edit", "modify", "save"]
            .iter()
            .any(|w| name.rsplit('.').next().is_some_and(|m| m.starts_with(w)) || path.contains(w))
}

/// `Mapper.statement` of a `namespace.statement` symbol.
fn short_statement(symbol: &str) -> String {
    let mut parts = symbol.rsplit('.');
    match (parts.next(), parts.next()) {
        (Some(id), Some(mapper)) => format!("{mapper}.{id}"),
        _ => symbol.to_owned(),
    }
}
