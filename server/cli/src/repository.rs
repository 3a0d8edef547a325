//! A repository indexed and analysed for answering: what `acdp ask` and `acdp eval` retrieve
//! from.

use std::path::Path;

use acdp_analysis::{Analysis, analyze};
use acdp_config::ProjectConfig;
use acdp_dataset::repo_info;
use acdp_index::{WorkspaceIndex, index_workspace_with_trees};
use acdp_retrieval::{RetrievalMode, Retriever};

use super::index::SelectionArgs;

pub struct AnsweringRepository {
    /// The repository's name as the training data's system prompt gives it.
    pub name: String,
    pub index: WorkspaceIndex,
    pub analysis: Analysis,
}

impl AnsweringRepository {
    pub fn load(repo: &Path, selection: &SelectionArgs) -> anyhow::Result<AnsweringRepository> {
        let options = selection.options(repo)?;
        let settings = ProjectConfig::load(repo)?.analysis;
        let mut index = index_workspace_with_trees(repo, &options)?;
        let analysis = analyze(&index, &settings);
        index.drop_trees();
        for warning in &analysis.warnings {
            eprintln!("acdp: warning: {warning}");
        }
        let name = repo_info(repo).name;
        Ok(AnsweringRepository {
            name,
            index,
            analysis,
        })
    }

    pub fn retriever(&self, mode: RetrievalMode) -> Retriever {
        Retriever::build(&self.index, Some(&self.analysis), mode)
    }
}
