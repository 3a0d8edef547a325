//! Analysis of an indexed repository: symbols, call graph, domains, business rules, flows and
//! state machines, each fact citing the chunks it was read from.
//!
//! Pure: [`analyze`] takes a [`WorkspaceIndex`] (file texts and chunks) and settings and does
//! no I/O; the CLI writes the results. Java files are parsed here (one tree-sitter parser per
//! rayon thread) unless the index kept their trees (`index_workspace_with_trees`); mapper
//! statements are read from their chunks. The passes run in pipeline
//! order, each in its own module:
//!
//! - [`syntax`]: declarations read off each tree (types, fields, methods, annotations);
//! - [`generated`]: which code is generated (kept out of rule evidence by default);
//! - [`symbols`] and [`sql`]: the symbol table and mapper statement summaries;
//! - [`call_graph`]: calls resolved through injection, implementations and mapper XML;
//! - [`domains`], [`rules`], [`flows`], [`states`]: the business facts;
//! - [`report`]: markdown and Mermaid renderings of the result.
//!
//! Heuristics are generic (annotations, naming patterns, SQL shapes); docs/analysis.md lists
//! them with their known limits.

pub mod call_graph;
pub mod domain_assignment;
pub mod domains;
mod facts_by_chunk;
pub mod flows;
pub mod generated;
pub mod handlers;
pub mod path_text;
pub mod paths;
pub mod report;
pub mod rules;
pub mod sql;
pub mod states;
pub mod symbols;
pub mod syntax;
mod values;

use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

pub use acdp_config::{AnalysisSettings, DomainSettings};
use acdp_index::{Language, WorkspaceIndex, java};
pub use call_graph::CallGraphStats;
pub use domains::{Domain, DomainMap};
pub use facts_by_chunk::{ChunkAnalysis, FactsByChunk};
pub use flows::{BoundBody, Flow, FlowEntry, FlowStep};
pub use rules::{Rule, RuleKind};
pub use states::{StateMachine, StateValue, Transition};

/// Everything the analysis found, sorted for byte-identical output across runs.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub domains: DomainMap,
    pub rules: Vec<Rule>,
    pub flows: Vec<Flow>,
    pub states: Vec<StateMachine>,
    /// `@ExceptionHandler` methods: where thrown business errors become responses.
    pub handlers: Vec<handlers::ExceptionHandler>,
    /// Failures written in the code that no execution reaches (see `Rule::never_reached_by`):
    /// not rules of their methods, named where a list of a method's checks is given.
    pub never_reached: Vec<Rule>,
    /// The packages each Spring Boot application scans (which advice applies where).
    pub applications: Vec<Vec<String>>,
    pub stats: AnalysisStats,
    /// Problems that did not stop the analysis (bad globs in acdp.toml ...).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AnalysisStats {
    /// Java files parsed and analysed.
    pub java_files: usize,
    /// MyBatis Generator criteria classes (`*Example`), not parsed: calls on them are external.
    pub criteria_files_skipped: usize,
    pub types: usize,
    pub methods: usize,
    pub mapper_statements: usize,
    pub generated_types: usize,
    pub call_graph: CallGraphStats,
    pub rules: usize,
    pub flows: usize,
    pub state_machines: usize,
    pub transitions: usize,
    /// Wall time of [`analyze`], indexing excluded. Not part of the deterministic output.
    #[serde(skip)]
    pub elapsed_ms: f64,
    /// Wall time of each pass in run order, for `acdp analyze`'s summary and benchmarks.
    #[serde(skip)]
    pub pass_ms: Vec<(&'static str, f64)>,
}

/// Records the wall time of each pass between two calls of [`PassClock::lap`].
struct PassClock {
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl PassClock {
    fn start() -> Self {
        PassClock {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, pass: &'static str) {
        let now = Instant::now();
        self.laps
            .push((pass, (now - self.last).as_secs_f64() * 1000.0));
        self.last = now;
    }
}

/// Java files whose syntax tree is deeper than this are left out of the analysis, with a
/// warning. The passes walk trees recursively, and code nested thousands deep (generated,
/// minified or hostile) would overflow a worker thread's stack; hand-written Java stays far
/// below (ten nested blocks in a method are about 40 levels). In a debug build the pass that
/// recurses deepest per level (call chains, `a.b().c()...`) got through 2,000 levels on a
/// 2 MiB rayon worker stack and overflowed at 5,000: the limit keeps a margin of two.
pub const MAX_SYNTAX_DEPTH: usize = 1_000;

/// Analyses an indexed workspace.
pub fn analyze(index: &WorkspaceIndex, settings: &AnalysisSettings) -> Analysis {
    let started = Instant::now();
    let mut clock = PassClock::start();
    let mut warnings = Vec::new();
    let globs = generated::GeneratedGlobs::new(&settings.generated, &mut warnings);

    let parsed: Vec<Result<symbols::JavaFile, String>> = index
        .files
        .par_iter()
        .enumerate()
        .filter(|(_, f)| {
            f.language == Language::Java && !generated::is_criteria_file(&f.path, &f.text)
        })
        .map_init(java::new_parser, |parser, (i, file)| {
            let tree = match &file.tree {
                Some(tree) => tree.clone(),
                None => java::parse(parser, &file.text, None),
            };
            if syntax::deeper_than(tree.root_node(), MAX_SYNTAX_DEPTH) {
                return Err(format!(
                    "{}: code nested more than {MAX_SYNTAX_DEPTH} levels deep was not analysed (its chunks are still indexed); generated or minified code belongs in index.exclude",
                    file.path
                ));
            }
            let facts = syntax::read_file(tree.root_node(), &file.text);
            Ok(symbols::JavaFile {
                file: i,
                tree,
                facts,
                generated: generated::has_generated_marker(&file.text),
            })
        })
        .collect();
    let mut java_files = Vec::with_capacity(parsed.len());
    for file in parsed {
        match file {
            Ok(file) => java_files.push(file),
            Err(warning) => warnings.push(warning),
        }
    }
    clock.lap("parse");

    let symbols = symbols::Symbols::build(index, java_files, &globs);
    clock.lap("symbols");
    let graph = call_graph::build(&symbols);
    clock.lap("call graph");
    let domain_map = domain_assignment::assign(&symbols, &settings.domains, &mut warnings);
    clock.lap("domains");
    let (never_reached, rules): (Vec<Rule>, Vec<Rule>) =
        rules::extract(&symbols, &graph, &domain_map, settings.include_generated)
            .into_iter()
            .partition(|r| r.never_reached_by.is_some());
    clock.lap("rules");
    let flows = flows::extract(&symbols, &graph, &domain_map);
    clock.lap("flows");
    let states = states::extract(&symbols, &graph);
    clock.lap("states");
    let handlers = handlers::extract(&symbols);
    let applications = handlers::applications(&symbols);
    let domain_map = domains::summarise(domain_map, &symbols, &flows, &rules);
    clock.lap("summary");

    let stats = AnalysisStats {
        java_files: symbols.files.len(),
        criteria_files_skipped: index
            .files
            .iter()
            .filter(|f| {
                f.language == Language::Java && generated::is_criteria_file(&f.path, &f.text)
            })
            .count(),
        types: symbols.types.len(),
        methods: symbols.methods.len(),
        mapper_statements: symbols.statements.len(),
        generated_types: symbols.types.iter().filter(|t| t.generated).count(),
        call_graph: graph.stats.clone(),
        rules: rules.len(),
        flows: flows.len(),
        state_machines: states.len(),
        transitions: states.iter().map(|s| s.transitions.len()).sum(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        pass_ms: clock.laps,
    };
    Analysis {
        domains: domain_map,
        rules,
        flows,
        states,
        handlers,
        never_reached,
        applications,
        stats,
        warnings,
    }
}
