//! The words of the designs anchored on a flow's write (`design.rs`), in English and Chinese:
//! one function per sentence, so that the logic choosing what to say reads apart from how it
//! is said. Every argument is a name taken from the repository.

use acdp_sample::SampleLanguage;

fn pick(language: SampleLanguage, en: String, zh: String) -> String {
    match language {
        SampleLanguage::En => en,
        SampleLanguage::Zh => zh,
    }
}

/// The controller change of the audit design; `wrapper` only when the repository defines it.
pub(super) fn audit_endpoint(
    language: SampleLanguage,
    base_path: &str,
    wrapper: Option<&str>,
    entry: &str,
) -> String {
    match (language, wrapper) {
        (SampleLanguage::En, Some(w)) => format!(
            "add `GET /{base_path}/audit/{{id}}` returning the entries in `{w}`, as `{entry}` returns its result"
        ),
        (SampleLanguage::En, None) => {
            format!("add `GET /{base_path}/audit/{{id}}` returning the entries of one record")
        }
        (SampleLanguage::Zh, Some(w)) => {
            format!("新增 `GET /{base_path}/audit/{{id}}`，与 `{entry}` 一样用 `{w}` 返回")
        }
        (SampleLanguage::Zh, None) => {
            format!("新增 `GET /{base_path}/audit/{{id}}`，返回某条记录的审计日志")
        }
    }
}

pub(super) fn audit_model(language: SampleLanguage, new_table: &str) -> String {
    pick(
        language,
        format!("one row of `{new_table}`"),
        format!("对应 `{new_table}` 表的一行"),
    )
}

pub(super) fn audit_mapper(language: SampleLanguage) -> String {
    pick(
        language,
        "insert and list-by-record statements, with their SQL in a mapper XML like the others"
            .into(),
        "新增插入与按记录查询的语句，SQL 写在与现有一致的 mapper XML 中".into(),
    )
}

pub(super) fn audit_service(language: SampleLanguage, service: &str) -> String {
    pick(
        language,
        format!("after the write in `{service}`, insert one audit row"),
        format!("在 `{service}` 写库之后插入一条审计记录"),
    )
}

pub(super) fn inside_transaction(language: SampleLanguage, tx_owner: &str) -> String {
    pick(
        language,
        format!(
            "write the audit row inside the existing `@Transactional` boundary of `{tx_owner}` so it commits or rolls back with the change"
        ),
        format!(
            "审计记录在 `{tx_owner}` 已有的 `@Transactional` 事务内写入，与业务修改一起提交或回滚"
        ),
    )
}

pub(super) fn without_transaction(language: SampleLanguage, service: &str) -> String {
    pick(
        language,
        format!(
            "the write path has no `@Transactional` today: add it to `{service}` so the change and its audit row commit together"
        ),
        format!(
            "当前写入路径没有 `@Transactional`：在 `{service}` 上添加事务，保证修改与审计记录一起提交"
        ),
    )
}

/// `rule_en` / `rule_zh`: the status check in each language (the English one without its
/// final period).
pub(super) fn keep_status_check(language: SampleLanguage, rule_en: &str, rule_zh: &str) -> String {
    pick(
        language,
        format!("keep the existing status check in front of the write: {rule_en}"),
        format!("保留写库前现有的状态校验：{rule_zh}"),
    )
}

pub(super) fn reuse_entry(language: SampleLanguage) -> String {
    pick(
        language,
        "the new endpoint sits beside it and follows its mapping and response style".into(),
        "新接口与其并列，沿用相同的映射与返回风格".into(),
    )
}

pub(super) fn entry_step(
    language: SampleLanguage,
    trigger: &str,
    entry: &str,
    controller: &str,
) -> String {
    pick(
        language,
        format!("{trigger} is handled by `{entry}` in `{controller}`."),
        format!("{trigger} 由 `{controller}` 中的 `{entry}` 处理。"),
    )
}

pub(super) fn reuse_service(language: SampleLanguage, table: &str) -> String {
    pick(
        language,
        format!("the audit row is written on this path, after the write of `{table}`"),
        format!("在这条路径上、`{table}` 写入之后写审计记录"),
    )
}

pub(super) fn service_step(
    language: SampleLanguage,
    entry: &str,
    service: &str,
    table: &str,
) -> String {
    pick(
        language,
        format!("`{entry}` calls `{service}` on the way to the write of `{table}`."),
        format!("`{entry}` 在写入 `{table}` 的路径上调用 `{service}`。"),
    )
}

pub(super) fn reuse_write(language: SampleLanguage, table: &str) -> String {
    pick(
        language,
        format!("its key columns identify the `{table}` row the audit entry refers to"),
        format!("其关键列用于标识审计记录对应的 `{table}` 行"),
    )
}

pub(super) fn write_step(language: SampleLanguage, write: &str, table: &str) -> String {
    pick(
        language,
        format!("`{write}` writes `{table}`."),
        format!("`{write}` 写入 `{table}` 表。"),
    )
}

pub(super) fn generated_write_step(
    language: SampleLanguage,
    caller: &str,
    table: &str,
    statement_id: &str,
) -> String {
    pick(
        language,
        format!(
            "`{caller}` writes `{table}` by calling the generated mapper method `{statement_id}`."
        ),
        format!("`{caller}` 通过调用生成的 mapper 方法 `{statement_id}` 写入 `{table}` 表。"),
    )
}

pub(super) fn reuse_wrapper(language: SampleLanguage) -> String {
    pick(
        language,
        "the new endpoint returns its results in this wrapper".into(),
        "新接口使用该统一返回对象".into(),
    )
}

pub(super) fn wrapper_step(language: SampleLanguage, wrapper: &str) -> String {
    pick(
        language,
        format!("Endpoints return `{wrapper}`, the repository's response wrapper."),
        format!("接口统一返回 `{wrapper}`。"),
    )
}

/// `@Transactional` inherited from `from` (an interface method), or on `tx_owner` itself.
pub(super) fn transaction_step(
    language: SampleLanguage,
    tx_owner: &str,
    inherited_from: Option<&str>,
    annotation: &str,
) -> String {
    match inherited_from {
        Some(from) => pick(
            language,
            format!(
                "`{tx_owner}` carries no `@Transactional` itself; `{from}` declares `{annotation}`, which Spring applies to it, so the write runs in that transaction."
            ),
            format!(
                "`{tx_owner}` 自身没有 `@Transactional`；`{from}` 声明了 `{annotation}`，Spring 会应用到实现类，写库在该事务中进行。"
            ),
        ),
        None => pick(
            language,
            format!(
                "`{tx_owner}` is annotated `{annotation}`, so the write runs in its transaction."
            ),
            format!("`{tx_owner}` 标注了 `{annotation}`，写库在其事务中进行。"),
        ),
    }
}

pub(super) fn audit_summary(
    language: SampleLanguage,
    domain: &str,
    writer: &str,
    table: &str,
    new_table: &str,
    new_dao: &str,
    entry: &str,
) -> String {
    pick(
        language,
        format!(
            "Extend the existing {domain} flow: after `{writer}` writes `{table}`, insert a row into a new `{new_table}` table through a new `{new_dao}`, and expose the entries beside `{entry}`."
        ),
        format!(
            "扩展现有的 {domain} 流程：`{writer}` 写入 `{table}` 后，通过新增的 `{new_dao}` 向新表 `{new_table}` 插入一行，并在 `{entry}` 旁提供查询接口。"
        ),
    )
}

pub(super) fn audit_api(language: SampleLanguage, base_path: &str, table: &str) -> String {
    pick(
        language,
        format!(
            "`GET /{base_path}/audit/{{id}}`: the audit entries of one `{table}` row, newest first"
        ),
        format!("`GET /{base_path}/audit/{{id}}`：按时间倒序返回某条 `{table}` 记录的审计日志"),
    )
}

pub(super) fn audit_table(language: SampleLanguage, new_table: &str, key_columns: &str) -> String {
    pick(
        language,
        format!(
            "new table `{new_table}` (id, {key_columns}, operator, operated_at, old_value, new_value), indexed by {key_columns}"
        ),
        format!(
            "新表 `{new_table}`（id, {key_columns}, operator, operated_at, old_value, new_value），按 {key_columns} 建索引"
        ),
    )
}

/// The three steps of the audit design's flow.
pub(super) fn audit_flow(
    language: SampleLanguage,
    trigger: &str,
    entry: &str,
    writer: &str,
    table: &str,
    new_model: &str,
    new_dao: &str,
) -> Vec<String> {
    vec![
        pick(
            language,
            format!("{trigger} reaches `{entry}` as today"),
            format!("{trigger} 照常进入 `{entry}`"),
        ),
        pick(
            language,
            format!("`{writer}` performs the existing write on `{table}`"),
            format!("`{writer}` 执行现有的 `{table}` 写操作"),
        ),
        pick(
            language,
            format!("then it builds a `{new_model}` and calls `{new_dao}.insert`"),
            format!("随后构造 `{new_model}` 并调用 `{new_dao}.insert`"),
        ),
    ]
}

/// The audit design's assumptions. Whether the endpoint requires a login is often configured
/// outside the code read here (URL whitelists): the design says what it needs instead of
/// claiming it.
pub(super) fn audit_assumptions(language: SampleLanguage, new_table: &str) -> Vec<String> {
    vec![
        pick(
            language,
            "the operator is taken from the authenticated user when the endpoint requires a login; a call open to anonymous users is recorded without an operator".into(),
            "接口需要登录时，操作人取自登录用户；允许匿名访问的调用记录为无操作人".into(),
        ),
        pick(
            language,
            format!("audit rows are never updated or deleted; `{new_table}` only grows"),
            format!("审计记录只增不改，`{new_table}` 只追加"),
        ),
    ]
}

pub(super) fn audit_risk(language: SampleLanguage, new_table: &str, table: &str) -> String {
    pick(
        language,
        format!("`{new_table}` grows with every change of `{table}`: plan archiving"),
        format!("`{new_table}` 会随 `{table}` 的每次修改增长，需要归档策略"),
    )
}

pub(super) fn placed_endpoint(language: SampleLanguage, entry: &str, wrapped: &str) -> String {
    pick(
        language,
        format!("add or extend the endpoint next to `{entry}`{wrapped}"),
        format!("在 `{entry}` 旁新增或扩展接口{wrapped}"),
    )
}

pub(super) fn placed_service(language: SampleLanguage, service: &str) -> String {
    pick(
        language,
        format!(
            "put the new business rule in `{service}`, beside its existing checks and before its write"
        ),
        format!("在 `{service}` 中、现有校验旁、写库之前加入新的业务规则"),
    )
}

pub(super) fn placed_mapper(language: SampleLanguage, write: &str) -> String {
    pick(
        language,
        format!(
            "add the statements the rule needs beside `{write}`, with their SQL in the mapper XML"
        ),
        format!("在 `{write}` 旁新增所需语句，SQL 写在 mapper XML 中"),
    )
}

pub(super) fn placed_summary(
    language: SampleLanguage,
    domain: &str,
    trigger: &str,
    entry: &str,
    service: &str,
    write: &str,
    table: &str,
) -> String {
    pick(
        language,
        format!(
            "Implement the requirement in the existing {domain} flow {trigger}: follow its layering, `{entry}` (controller) -> `{service}` (service) -> `{write}` (mapper on `{table}`), and keep its response wrapper, transaction and status checks."
        ),
        format!(
            "在现有的 {domain} 流程 {trigger} 中实现该需求：沿用其分层，`{entry}`（控制器）-> `{service}`（服务）-> `{write}`（`{table}` 的 mapper），并保留其统一返回、事务与状态校验。"
        ),
    )
}

pub(super) fn placed_api(language: SampleLanguage, trigger: &str, wrapped: &str) -> String {
    pick(
        language,
        format!("an endpoint next to {trigger}{wrapped}"),
        format!("在 {trigger} 旁的接口{wrapped}"),
    )
}

pub(super) fn placed_data(language: SampleLanguage, table: &str) -> String {
    pick(
        language,
        format!(
            "`{table}` changes only if the requirement needs new columns; state them in a migration"
        ),
        format!("仅当需求需要新列时才修改 `{table}`，并写迁移脚本"),
    )
}

/// The three steps of the placed design's flow.
pub(super) fn placed_flow(
    language: SampleLanguage,
    trigger: &str,
    entry: &str,
    service: &str,
    write: &str,
) -> Vec<String> {
    vec![
        pick(
            language,
            format!("{trigger} reaches `{entry}`"),
            format!("{trigger} 进入 `{entry}`"),
        ),
        pick(
            language,
            format!("`{service}` checks the new rule before it writes"),
            format!("`{service}` 在写库前校验新规则"),
        ),
        pick(
            language,
            format!("the write goes through `{write}` as today"),
            format!("照常通过 `{write}` 写库"),
        ),
    ]
}

pub(super) fn placed_assumption(language: SampleLanguage, domain: &str, trigger: &str) -> String {
    pick(
        language,
        format!("the requirement belongs to the {domain} domain and extends the flow {trigger}"),
        format!("该需求属于 {domain} 领域，扩展流程 {trigger}"),
    )
}

pub(super) fn placed_risk(language: SampleLanguage, service: &str) -> String {
    pick(
        language,
        format!("every caller of `{service}` is affected by the new rule: review them"),
        format!("`{service}` 的所有调用方都会受新规则影响，需要逐一确认"),
    )
}
