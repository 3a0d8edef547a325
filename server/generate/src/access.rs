//! The `endpoint-access` family: who may call each endpoint of a controller, from the
//! access-control annotations Spring (or Shiro, Sa-Token) applies to each handler method.
//!
//! One sample per controller, not per endpoint: one annotation restated for one endpoint
//! teaches nothing the code does not say in one line, while the controller's endpoints side by
//! side show which of them need which permission or role, and which carry no annotation at
//! all (an unprotected write next to protected ones is what a reviewer looks for). Annotations
//! are only what the code declares: URL rules in a security configuration are not read, and
//! the answer says so wherever an endpoint carries none.

use acdp_analysis::{Analysis, Flow};
use acdp_index::ChunkId;
use acdp_sample::{SampleLanguage, SampleSource, TraceStep};

use super::Written;
use super::composed_parts::{numbered, trigger, written};
use super::evidence::{ChunkLookup, EvidenceSet, class_of, short_method, simple_name};
use super::qa::step;
use super::text::one_line;

/// Most endpoints one answer lists; a longer controller says how many are left out.
const MAX_ENDPOINTS: usize = 10;

/// One sample per controller with at least one annotated endpoint.
pub(super) fn endpoint_access_samples(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Vec<Written> {
    let mut by_class: Vec<(&str, Vec<&Flow>)> = Vec::new();
    for flow in analysis.flows.iter().filter(|f| f.entry.kind == "http") {
        let Some(class) = class_of(&flow.entry.symbol) else {
            continue;
        };
        match by_class.iter_mut().find(|(c, _)| *c == class) {
            Some((_, flows)) => flows.push(flow),
            None => by_class.push((class, vec![flow])),
        }
    }
    by_class
        .into_iter()
        .filter(|(_, flows)| flows.iter().any(|f| !f.entry.security.is_empty()))
        .filter_map(|(class, flows)| controller_access(class, &flows, lookup, language))
        .collect()
}

fn controller_access(
    class: &str,
    flows: &[&Flow],
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    let controller = simple_name(class);
    let mut evidence = EvidenceSet::new(lookup);
    let mut lines = Vec::new();
    let mut trace: Vec<TraceStep> = Vec::new();
    let mut flow_ids = Vec::new();
    let mut unannotated = 0usize;
    // The class header holds the path prefix (`@RequestMapping`) every endpoint path starts
    // with, and class-level annotations.
    let header = lookup.header(class).and_then(|id| evidence.add(id));
    for flow in flows.iter().take(MAX_ENDPOINTS) {
        let Some(entry_id) = flow.entry.chunk_id.as_ref().and_then(|id| evidence.add(id)) else {
            continue;
        };
        // An annotation declared elsewhere (the class, an interface) is cited where it is
        // written; without that chunk the endpoint is left out rather than half-shown.
        let declared: Vec<ChunkId> = flow
            .entry
            .security_chunks
            .iter()
            .filter_map(|id| evidence.add(id))
            .collect();
        if declared.len() != flow.entry.security_chunks.len() {
            continue;
        }
        let endpoint = trigger(flow);
        let handler = short_method(&flow.entry.symbol);
        let cite: Vec<&ChunkId> = std::iter::once(&entry_id)
            .chain(header.iter())
            .chain(declared.iter())
            .collect();
        flow_ids.push(flow.flow_id.clone());
        if flow.entry.security.is_empty() {
            unannotated += 1;
            lines.push(match language {
                SampleLanguage::En => {
                    format!("{endpoint} (`{handler}`): no access annotation applies to it.")
                }
                SampleLanguage::Zh => format!("{endpoint}（`{handler}`）：没有任何访问控制注解。"),
            });
            trace.push(step(
                match language {
                    SampleLanguage::En => format!(
                        "{endpoint} is handled by `{handler}`, and no access annotation applies to it."
                    ),
                    SampleLanguage::Zh => {
                        format!("{endpoint} 由 `{handler}` 处理，没有访问控制注解作用于它。")
                    }
                },
                &cite,
            ));
            continue;
        }
        let annotations = flow
            .entry
            .security
            .iter()
            .map(|a| format!("`{}`", one_line(a)))
            .collect::<Vec<_>>()
            .join(", ");
        let meanings: Vec<String> = flow
            .entry
            .security
            .iter()
            .filter_map(|a| access_meaning(a, language))
            .collect();
        // What the annotations require, where their meaning is plain; the annotations as
        // written otherwise (a SpEL expression is not paraphrased).
        // JSR-250 annotations on the method and on its class do not add up (the nearest one
        // applies): where several meet, the annotations are shown as written.
        let jsr250 = flow
            .entry
            .security
            .iter()
            .filter(|a| matches!(annotation_name(a), "PermitAll" | "DenyAll" | "RolesAllowed"))
            .count();
        let requirement = if meanings.len() == flow.entry.security.len() && jsr250 < 2 {
            meanings.join(match language {
                SampleLanguage::En => "; ",
                SampleLanguage::Zh => "；",
            })
        } else {
            annotations.clone()
        };
        lines.push(match language {
            SampleLanguage::En => format!("{endpoint} (`{handler}`): {requirement}."),
            SampleLanguage::Zh => format!("{endpoint}（`{handler}`）：{requirement}。"),
        });
        trace.push(step(
            match language {
                SampleLanguage::En => {
                    format!(
                        "{endpoint} is handled by `{handler}`, and {annotations} applies to it."
                    )
                }
                SampleLanguage::Zh => {
                    format!("{endpoint} 由 `{handler}` 处理，作用于它的访问控制为 {annotations}。")
                }
            },
            &cite,
        ));
    }
    // Two endpoints at least: one alone is the single-annotation restatement this family
    // replaces.
    if lines.len() < 2 {
        return None;
    }
    let summary = match language {
        SampleLanguage::En => format!(
            "The access-control annotations on each endpoint of `{controller}`, as Spring applies them (on the method, its class or what it implements). {}",
            checked_when(flows, language)
        ),
        SampleLanguage::Zh => format!(
            "`{controller}` 各接口上的访问控制注解（按 Spring 的规则，包括方法、所在类及其实现的接口上声明的）。{}",
            checked_when(flows, language)
        ),
    };
    let unprotected = match (unannotated, language) {
        (0, _) => String::new(),
        (_, SampleLanguage::En) => "\nAn endpoint with no access annotation has no Spring Security, Jakarta, Shiro or Sa-Token annotation on the method, its class or what it implements; whatever limits it comes from elsewhere (URL rules of a security configuration, a filter, a custom annotation or a check in the method's body), which this answer does not cover.".to_owned(),
        (_, SampleLanguage::Zh) => "\n没有访问控制注解的接口：方法、所在类及其实现的接口上都没有 Spring Security、Jakarta、Shiro 或 Sa-Token 的注解；对它的限制若有，来自别处（安全配置中的 URL 规则、过滤器、自定义注解或方法体内的检查），本回答不涉及。".to_owned(),
    };
    let more = match (flows.len() > MAX_ENDPOINTS, language) {
        (false, _) => String::new(),
        (true, SampleLanguage::En) => {
            format!("\n(More endpoints of `{controller}` are not listed here.)")
        }
        (true, SampleLanguage::Zh) => format!("\n（`{controller}` 还有其他接口未在此列出。）"),
    };
    let (question, answer) = match language {
        SampleLanguage::En => (
            format!("Who may call each endpoint of `{controller}`?"),
            format!("{summary}\n{}{unprotected}{more}", numbered(&lines)),
        ),
        SampleLanguage::Zh => (
            format!("`{controller}` 的各个接口分别允许谁调用？"),
            format!("{summary}\n{}{unprotected}{more}", numbered(&lines)),
        ),
    };
    let source = SampleSource {
        kind: "endpoint-access".into(),
        flow_ids,
        twin_key: format!("{class}:endpoint-access"),
        ..Default::default()
    };
    let domain = flows.first().map(|f| f.domain.as_str()).unwrap_or_default();
    written(language, domain, question, answer, evidence, trace, source)
}

/// When the framework checks the annotations: before the handler runs, except
/// `@PostAuthorize`, which Spring Security evaluates on what the handler returned.
fn checked_when(flows: &[&Flow], language: SampleLanguage) -> String {
    let post = flows
        .iter()
        .flat_map(|f| &f.entry.security)
        .any(|a| annotation_name(a) == "PostAuthorize");
    match (post, language) {
        (false, SampleLanguage::En) => {
            "Where the application enables the annotation support of the framework that defines each annotation, that framework refuses a caller that does not satisfy it before the handler runs.".to_owned()
        }
        (false, SampleLanguage::Zh) => "在应用启用了相应框架的注解支持时，定义注解的框架会在处理方法执行前拒绝不满足条件的调用方。".to_owned(),
        (true, SampleLanguage::En) => {
            "Where the application enables the annotation support of the framework that defines each annotation, that framework refuses a caller that does not satisfy it before the handler runs; `@PostAuthorize` is evaluated after the handler has run, on what it returns.".to_owned()
        }
        (true, SampleLanguage::Zh) => {
            "在应用启用了相应框架的注解支持时，定义注解的框架会在处理方法执行前拒绝不满足条件的调用方；`@PostAuthorize` 则在处理方法执行之后、针对其返回值判断。".to_owned()
        }
    }
}

/// `PreAuthorize` from `@org.x.PreAuthorize("...")`.
fn annotation_name(annotation: &str) -> &str {
    let name = annotation
        .trim_start_matches('@')
        .split(['(', ' '])
        .next()
        .unwrap_or_default();
    name.rsplit('.').next().unwrap_or(name)
}

/// What an access annotation requires, by the documented semantics of its framework, when its
/// argument is a plain literal; `None` for expressions it does not spell out.
fn access_meaning(annotation: &str, language: SampleLanguage) -> Option<String> {
    let name = annotation_name(annotation);
    let literals: Vec<String> = annotation
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    let quoted = |items: &[String]| {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Sa-Token's `orRole` / `type` hold other strings than the required ones: not spelled out.
    if annotation.contains("orRole")
        || annotation.contains("type =")
        || annotation.contains("type=")
    {
        return None;
    }
    // Shiro's `logical = Logical.OR` turns "all of" into "any of".
    let any = annotation.contains("Logical.OR") || annotation.contains("SaMode.OR");
    let en = |s: String| (language == SampleLanguage::En).then_some(s);
    let zh = |s: String| (language == SampleLanguage::Zh).then_some(s);
    match name {
        "RequiresPermissions" | "SaCheckPermission" if !literals.is_empty() => {
            let list = quoted(&literals);
            let (en_how, zh_how) = match (literals.len(), any) {
                (1, _) => ("the permission", ""),
                (_, true) => ("any of the permissions", "其中任一"),
                (_, false) => ("all of the permissions", "全部"),
            };
            en(format!("the caller must hold {en_how} {list}"))
                .or_else(|| zh(format!("调用方必须拥有{zh_how}权限 {list}")))
        }
        "RequiresRoles" | "SaCheckRole" | "RolesAllowed" | "Secured" if !literals.is_empty() => {
            let list = quoted(&literals);
            let any = any || matches!(name, "RolesAllowed" | "Secured");
            let (en_how, zh_how) = match (literals.len(), any) {
                (1, _) => ("the role", ""),
                (_, true) => ("one of the roles", "其中任一"),
                (_, false) => ("all of the roles", "全部"),
            };
            en(format!("the caller must have {en_how} {list}"))
                .or_else(|| zh(format!("调用方必须具有{zh_how}角色 {list}")))
        }
        "RequiresAuthentication" | "SaCheckLogin" => en("the caller must be logged in".to_owned())
            .or_else(|| zh("调用方必须已登录".to_owned())),
        "RequiresUser" => en("the caller must be logged in or remembered".to_owned())
            .or_else(|| zh("调用方必须已登录或被记住".to_owned())),
        "RequiresGuest" => en("only callers that are not logged in may call it".to_owned())
            .or_else(|| zh("只有未登录的调用方可以调用".to_owned())),
        "PermitAll" => en("every caller may call it".to_owned())
            .or_else(|| zh("所有调用方都可以调用".to_owned())),
        "DenyAll" => {
            en("no caller may call it".to_owned()).or_else(|| zh("任何调用方都不能调用".to_owned()))
        }
        _ => None,
    }
}
