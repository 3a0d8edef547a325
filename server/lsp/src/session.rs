//! What the language server knows: one [`Workspace`] per workspace folder (its open documents
//! and the index of its files on disk) and the [`Settings`] the client gave.
//!
//! The session does no I/O on the protocol and no scheduling; the server locks it, calls one
//! method and converts the answer. Edits enter through [`Session::change_document`], which calls
//! [`DocumentStore::apply_changes`] synchronously. Files on disk enter through
//! [`Session::install_index`] (whole folders, after a background [`index_workspace`]) and
//! [`Session::refresh_file`] (one file the watcher reported).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tower_lsp_server::ls_types::{ClientCapabilities, Uri};

use super::convert;
pub use super::settings::{AcdpSettings, InitializationOptions};
use super::snapshot::{AnalysisJob, AnalysisSnapshot};
use acdp_config::{AnalysisSettings, ProjectConfig};
use acdp_dataset::workspace_samples::WorkspaceSamples;
use acdp_index::{
    Chunk, ChunkDelta, ChunkId, Document, DocumentError, DocumentStore, FileAdmission, IndexError,
    IndexOptions, IndexStats, IndexedFile, Position, Range, TextChange, TextPositions, WalkOptions,
    WorkspaceIndex, index_file_at, innermost_chunk_at, java, language_of_text,
};

/// What the client told us at `initialize`.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub options: InitializationOptions,
    /// The client accepts `window/workDoneProgress/create`.
    pub work_done_progress: bool,
    /// The client accepts a dynamic registration of `workspace/didChangeWatchedFiles`.
    pub watch_files_dynamically: bool,
}

impl Settings {
    pub fn new(options: InitializationOptions, capabilities: &ClientCapabilities) -> Settings {
        let work_done_progress = capabilities
            .window
            .as_ref()
            .and_then(|w| w.work_done_progress)
            .unwrap_or(false);
        let watch_files_dynamically = capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|w| w.dynamic_registration)
            .unwrap_or(false);
        Settings {
            options,
            work_done_progress,
            watch_files_dynamically,
        }
    }
}

/// A file of the session: which workspace folder, and its path relative to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    pub workspace: usize,
    pub path: String,
}

/// One workspace folder.
pub struct Workspace {
    pub root: PathBuf,
    documents: DocumentStore,
    /// Open documents: path -> the URI the client used.
    open: BTreeMap<String, Uri>,
    /// Documents the client opened that acdp does not index (a sample's edit file, an XML
    /// file that is no mapper): their edits are none of the index's business.
    open_unindexed: BTreeSet<String>,
    /// The files on disk as last indexed (or reported by the watcher, or saved), by path.
    files: BTreeMap<String, IndexedFile>,
    options: Option<IndexOptions>,
    filter: Option<FileAdmission>,
    /// Bumped each time indexing starts, so an older run never overwrites a newer one.
    generation: u64,
    analysis_settings: AnalysisSettings,
    /// The last installed index, until its analysis job is taken.
    unanalysed: Option<(u64, Arc<acdp_index::WorkspaceIndex>)>,
    snapshot: Option<Arc<AnalysisSnapshot>>,
    /// `<state dir>/samples.jsonl`, as last read.
    pub samples: WorkspaceSamples,
}

/// A text the session can answer from: an open document, or a file as indexed.
#[derive(Clone, Copy)]
pub enum FileView<'a> {
    Open(&'a Document),
    Indexed(&'a IndexedFile),
}

impl<'a> FileView<'a> {
    pub fn text(&self) -> &'a str {
        match self {
            FileView::Open(document) => &document.text,
            FileView::Indexed(file) => &file.text,
        }
    }

    pub fn chunks(&self) -> &'a [Chunk] {
        match self {
            FileView::Open(document) => &document.chunks,
            FileView::Indexed(file) => &file.chunks,
        }
    }

    /// The editor's version for open documents.
    pub fn version(&self) -> Option<i32> {
        match self {
            FileView::Open(document) => Some(document.version),
            FileView::Indexed(_) => None,
        }
    }

    /// The innermost chunk at an LSP position.
    pub fn chunk_at(&self, position: Position) -> Option<&'a Chunk> {
        let offset = match self {
            FileView::Open(document) => document.offset(position)?,
            FileView::Indexed(file) => TextPositions::new(&file.text).offset(position)?,
        };
        innermost_chunk_at(self.chunks(), offset)
    }

    /// The LSP range a chunk covers in this text.
    pub fn range_of(&self, chunk: &Chunk) -> Option<Range> {
        match self {
            FileView::Open(document) => Some(Range {
                start: document.position(chunk.start_byte)?,
                end: document.position(chunk.end_byte)?,
            }),
            FileView::Indexed(file) => {
                let positions = TextPositions::new(&file.text);
                Some(Range {
                    start: positions.position(chunk.start_byte)?,
                    end: positions.position(chunk.end_byte)?,
                })
            }
        }
    }
}

/// What to index for one folder; run [`IndexJob::run`] off the session lock.
#[derive(Clone, Debug)]
pub struct IndexJob {
    pub workspace: usize,
    pub root: PathBuf,
    generation: u64,
}

/// Why a folder could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum IndexJobError {
    #[error(transparent)]
    Config(#[from] acdp_config::ConfigError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// The result of an [`IndexJob`].
pub struct IndexOutcome {
    job: IndexJob,
    result: Result<(IndexOptions, AnalysisSettings, WorkspaceIndex), IndexJobError>,
}

impl IndexJob {
    /// Reads `acdp.toml` and indexes the folder (blocking; parallel inside).
    pub fn run(self) -> IndexOutcome {
        let result = ProjectConfig::load(&self.root)
            .map_err(IndexJobError::from)
            .and_then(|config| {
                let options = IndexOptions {
                    settings: config.index,
                    use_cache: true,
                };
                let index = acdp_index::index_workspace(&self.root, &options)?;
                Ok((options, config.analysis, index))
            });
        IndexOutcome { job: self, result }
    }
}

/// What a watched-file event did to the session.
#[derive(Debug, PartialEq, Eq)]
pub enum FileUpdate {
    /// The file is open: the editor's text wins until it is closed.
    SkippedOpen,
    /// Not a file the index takes (language, ignore rules, size, encoding).
    NotIndexed,
    Updated {
        chunks: usize,
    },
    Removed,
}

/// How a whole index run went, for progress messages and `acdp.reindex`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IndexSummary {
    pub folders: usize,
    pub files: usize,
    pub chunks: usize,
    pub skipped: usize,
    pub errors: Vec<String>,
}

pub struct Session {
    workspaces: Vec<Workspace>,
    settings: Settings,
    parser: tree_sitter::Parser,
}

impl Session {
    pub fn new(roots: Vec<PathBuf>, settings: Settings) -> Session {
        Session {
            workspaces: roots
                .into_iter()
                .map(|root| Workspace {
                    samples: WorkspaceSamples::new(&root, None),
                    root,
                    documents: DocumentStore::default(),
                    open: BTreeMap::new(),
                    open_unindexed: BTreeSet::new(),
                    files: BTreeMap::new(),
                    options: None,
                    filter: None,
                    generation: 0,
                    analysis_settings: AnalysisSettings::default(),
                    unanalysed: None,
                    snapshot: None,
                })
                .collect(),
            settings,
            parser: java::new_parser(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Replaces the acdp settings (`workspace/didChangeConfiguration`); returns whether they
    /// changed.
    pub fn set_acdp_settings(&mut self, settings: AcdpSettings) -> bool {
        let changed = self.settings.options.settings != settings;
        self.settings.options.settings = settings;
        changed
    }

    /// The model configured for answers, paths resolved against the first folder.
    pub fn model_source(&self) -> Option<acdp_model::ModelSource> {
        self.settings
            .options
            .settings
            .model_source(self.roots().next())
    }

    pub fn roots(&self) -> impl Iterator<Item = &Path> {
        self.workspaces.iter().map(|w| w.root.as_path())
    }

    /// The session's name for the file at `uri`; `None` outside every workspace folder.
    pub fn locate(&self, uri: &Uri) -> Option<FileKey> {
        let roots: Vec<PathBuf> = self.workspaces.iter().map(|w| w.root.clone()).collect();
        let (workspace, path) = convert::workspace_path(&roots, uri)?;
        Some(FileKey { workspace, path })
    }

    /// The URI of a file: the client's own for open documents.
    pub fn uri_of(&self, key: &FileKey) -> Option<Uri> {
        let workspace = self.workspaces.get(key.workspace)?;
        match workspace.open.get(&key.path) {
            Some(uri) => Some(uri.clone()),
            None => convert::file_uri(&workspace.root, &key.path),
        }
    }

    /// The open document at `key`, or else the file as indexed.
    pub fn file(&self, key: &FileKey) -> Option<FileView<'_>> {
        let workspace = self.workspaces.get(key.workspace)?;
        match workspace.documents.get(&key.path) {
            Some(document) => Some(FileView::Open(document)),
            None => workspace.files.get(&key.path).map(FileView::Indexed),
        }
    }

    /// Looks a chunk up by id: open documents first, then indexed files.
    pub fn find_chunk(&self, id: &ChunkId) -> Option<(FileKey, FileView<'_>, &Chunk)> {
        for (i, workspace) in self.workspaces.iter().enumerate() {
            let open = workspace
                .open
                .keys()
                .filter_map(|path| Some((path, FileView::Open(workspace.documents.get(path)?))));
            let indexed = workspace
                .files
                .iter()
                .filter(|(path, _)| !workspace.open.contains_key(*path))
                .map(|(path, file)| (path, FileView::Indexed(file)));
            for (path, view) in open.chain(indexed) {
                if let Some(chunk) = view.chunks().iter().find(|c| &c.chunk_id == id) {
                    let key = FileKey {
                        workspace: i,
                        path: path.clone(),
                    };
                    return Some((key, view, chunk));
                }
            }
        }
        None
    }

    /// Opens a document. `None` when its language is not indexed (the session ignores it).
    pub fn open_document(
        &mut self,
        key: &FileKey,
        uri: Uri,
        version: i32,
        text: String,
    ) -> Option<ChunkDelta> {
        let workspace = self.workspaces.get_mut(key.workspace)?;
        let Some(language) = language_of_text(&key.path, &text) else {
            workspace.open_unindexed.insert(key.path.clone());
            return None;
        };
        workspace.open.insert(key.path.clone(), uri);
        Some(workspace.documents.open(&key.path, language, version, text))
    }

    /// Applies one `didChange`. Call it before any `.await` so edits apply in order. A
    /// document opened but not indexed changes nothing (an empty delta).
    pub fn change_document(
        &mut self,
        key: &FileKey,
        version: i32,
        changes: &[TextChange],
    ) -> Result<ChunkDelta, DocumentError> {
        match self.workspaces.get_mut(key.workspace) {
            Some(workspace) if workspace.open_unindexed.contains(&key.path) => {
                Ok(ChunkDelta::default())
            }
            Some(workspace) => workspace
                .documents
                .apply_changes(&key.path, version, changes),
            None => Err(DocumentError::NotOpen {
                path: key.path.clone(),
            }),
        }
    }

    /// Brings an open document whose last incremental parse had syntax errors to the chunks
    /// of a cold parse ([`DocumentStore::settle`]); `None` when there was nothing to do.
    pub fn settle_document(&mut self, key: &FileKey) -> Option<ChunkDelta> {
        let workspace = self.workspaces.get_mut(key.workspace)?;
        if !workspace.documents.is_unsettled(&key.path) {
            return None;
        }
        workspace.documents.settle(&key.path)
    }

    /// Whether an open document's chunks may differ from a cold parse until it is settled.
    pub fn document_unsettled(&self, key: &FileKey) -> bool {
        self.workspaces
            .get(key.workspace)
            .is_some_and(|w| w.documents.is_unsettled(&key.path))
    }

    /// The version of an open document.
    pub fn document_version(&self, key: &FileKey) -> Option<i32> {
        let workspace = self.workspaces.get(key.workspace)?;
        workspace.documents.get(&key.path).map(|d| d.version)
    }

    /// The editor wrote the document to disk: the indexed file takes its text and chunks.
    pub fn save_document(&mut self, key: &FileKey) -> bool {
        let Some(workspace) = self.workspaces.get_mut(key.workspace) else {
            return false;
        };
        let Some(document) = workspace.documents.get(&key.path) else {
            return false;
        };
        // The workspace index holds what a reindex would: a saved file that the walk does not
        // admit (ignored, hidden, excluded) stays an open document only.
        if !workspace
            .filter
            .as_ref()
            .is_none_or(|filter| filter.admits(&key.path))
        {
            workspace.files.remove(&key.path);
            return false;
        }
        let file = IndexedFile {
            path: key.path.clone(),
            language: document.language,
            file_hash: *blake3::hash(document.text.as_bytes()).as_bytes(),
            text: Arc::from(document.text.as_str()),
            chunks: document.chunks.clone(),
            warnings: document.warnings.clone(),
            tree: None,
        };
        workspace.files.insert(key.path.clone(), file);
        true
    }

    /// Closes a document; the file is read again from disk, since the editor may have
    /// discarded unsaved edits.
    pub fn close_document(&mut self, key: &FileKey) -> bool {
        let Some(workspace) = self.workspaces.get_mut(key.workspace) else {
            return false;
        };
        workspace.open.remove(&key.path);
        workspace.open_unindexed.remove(&key.path);
        let closed = workspace.documents.close(&key.path).is_some();
        self.refresh_file(key);
        closed
    }

    /// Reads one file from disk again (created or changed), or drops it (deleted). Open
    /// documents are left alone: the editor's text is newer than the disk's.
    pub fn refresh_file(&mut self, key: &FileKey) -> FileUpdate {
        self.refresh_files(std::slice::from_ref(key))
            .pop()
            .unwrap_or(FileUpdate::NotIndexed)
    }

    /// [`Session::refresh_file`] for many files, one update each, in order; the files of one
    /// folder are admitted in one walk (a checkout touching many files lists each folder once).
    pub fn refresh_files(&mut self, keys: &[FileKey]) -> Vec<FileUpdate> {
        let mut admitted: BTreeMap<usize, HashSet<String>> = BTreeMap::new();
        for (w, workspace) in self.workspaces.iter().enumerate() {
            let Some(filter) = &workspace.filter else {
                continue;
            };
            let paths = keys
                .iter()
                .filter(|key| key.workspace == w && !workspace.open.contains_key(&key.path))
                .map(|key| key.path.as_str());
            admitted.insert(w, filter.admitted(paths));
        }
        keys.iter()
            .map(|key| {
                let admits = |workspace: usize| {
                    admitted
                        .get(&workspace)
                        .is_none_or(|set| set.contains(&key.path))
                };
                self.refresh_admitted(key, admits(key.workspace))
            })
            .collect()
    }

    fn refresh_admitted(&mut self, key: &FileKey, admitted: bool) -> FileUpdate {
        let Some(workspace) = self.workspaces.get_mut(key.workspace) else {
            return FileUpdate::NotIndexed;
        };
        if workspace.open.contains_key(&key.path) {
            return FileUpdate::SkippedOpen;
        }
        let abs = workspace.root.join(&key.path);
        if !abs.is_file() {
            return match workspace.files.remove(&key.path) {
                Some(_) => FileUpdate::Removed,
                None => FileUpdate::NotIndexed,
            };
        }
        let settings = workspace
            .options
            .as_ref()
            .map_or_else(|| IndexOptions::default().settings, |o| o.settings.clone());
        // Admitted as a reindex would admit it now (a file a nested ignore file came to cover
        // leaves the index too); a file that cannot be read or is not ours now leaves it.
        let file = admitted
            .then(|| index_file_at(&mut self.parser, &workspace.root, &key.path, &settings))
            .and_then(Result::ok)
            .flatten();
        match file {
            Some(file) => {
                let chunks = file.chunks.len();
                workspace.files.insert(key.path.clone(), file);
                FileUpdate::Updated { chunks }
            }
            None => match workspace.files.remove(&key.path) {
                Some(_) => FileUpdate::Removed,
                None => FileUpdate::NotIndexed,
            },
        }
    }

    /// One job per workspace folder; each supersedes the jobs started before it.
    pub fn start_indexing(&mut self) -> Vec<IndexJob> {
        self.workspaces
            .iter_mut()
            .enumerate()
            .map(|(i, workspace)| {
                workspace.generation += 1;
                IndexJob {
                    workspace: i,
                    root: workspace.root.clone(),
                    generation: workspace.generation,
                }
            })
            .collect()
    }

    /// Takes the result of a job, unless a newer job for the same folder has started.
    /// Returns the stats, or the error that stopped it.
    pub fn install_index(&mut self, outcome: IndexOutcome) -> Result<IndexStats, IndexJobError> {
        let IndexOutcome { job, result } = outcome;
        let (options, analysis_settings, index) = result?;
        let stats = index.stats.clone();
        let Some(workspace) = self.workspaces.get_mut(job.workspace) else {
            return Ok(stats);
        };
        if workspace.generation != job.generation {
            return Ok(stats);
        }
        workspace.filter = FileAdmission::new(
            &workspace.root,
            &WalkOptions::from_settings(&options.settings),
        )
        .ok();
        workspace.samples = WorkspaceSamples::new(&workspace.root, Some(&options));
        workspace.options = Some(options);
        workspace.analysis_settings = analysis_settings;
        // Texts are shared (`Arc<str>`); the analysis keeps the index whole.
        workspace.files = index
            .files
            .iter()
            .map(|file| (file.path.clone(), file.clone()))
            .collect();
        workspace.unanalysed = Some((job.generation, Arc::new(index)));
        Ok(stats)
    }

    /// Analysis jobs for the folders whose index changed since their last analysis.
    pub fn take_analysis_jobs(&mut self) -> Vec<AnalysisJob> {
        self.workspaces
            .iter_mut()
            .enumerate()
            .filter_map(|(i, workspace)| {
                let (generation, index) = workspace.unanalysed.take()?;
                Some(AnalysisJob {
                    workspace: i,
                    generation,
                    index,
                    settings: workspace.analysis_settings.clone(),
                })
            })
            .collect()
    }

    /// Takes a finished analysis, unless a newer one is already installed.
    pub fn install_analysis(&mut self, workspace: usize, snapshot: AnalysisSnapshot) {
        let Some(workspace) = self.workspaces.get_mut(workspace) else {
            return;
        };
        if workspace
            .snapshot
            .as_ref()
            .is_none_or(|old| old.generation <= snapshot.generation)
        {
            workspace.snapshot = Some(Arc::new(snapshot));
        }
    }

    /// The analysis of a folder, once one has been computed.
    pub fn snapshot(&self, workspace: usize) -> Option<&Arc<AnalysisSnapshot>> {
        self.workspaces.get(workspace)?.snapshot.as_ref()
    }

    /// Every folder's analysis snapshot that is ready, with the folder's position.
    pub fn snapshots(&self) -> Vec<(usize, Arc<AnalysisSnapshot>)> {
        self.workspaces
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((i, w.snapshot.clone()?)))
            .collect()
    }

    pub fn workspace(&self, workspace: usize) -> Option<&Workspace> {
        self.workspaces.get(workspace)
    }

    pub fn workspace_mut(&mut self, workspace: usize) -> Option<&mut Workspace> {
        self.workspaces.get_mut(workspace)
    }

    pub fn workspace_count(&self) -> usize {
        self.workspaces.len()
    }

    /// Rereads every folder's `samples.jsonl` that changed on disk since it was last read.
    pub fn sync_samples(&mut self) -> Vec<String> {
        self.workspaces
            .iter_mut()
            .filter_map(|w| w.samples.sync().err())
            .collect()
    }

    /// Files and chunks currently known (indexed or open), for status messages and benches.
    pub fn counts(&self) -> (usize, usize) {
        let mut files = 0;
        let mut chunks = 0;
        for workspace in &self.workspaces {
            for (path, file) in &workspace.files {
                files += 1;
                chunks += match workspace.documents.get(path) {
                    Some(document) => document.chunks.len(),
                    None => file.chunks.len(),
                };
            }
        }
        (files, chunks)
    }
}

#[cfg(test)]
mod tests {
    use tower_lsp_server::ls_types::{
        DidChangeTextDocumentParams, DidOpenTextDocumentParams, TextDocumentContentChangeEvent,
        TextDocumentItem, VersionedTextDocumentIdentifier,
    };

    use super::*;
    use crate::notifications::{did_change::did_change, did_open::did_open};
    use crate::requests::chunk::{ChunkParams, chunk};

    /// The handlers' functions work without a client, as a bench calls them.
    #[test]
    fn edits_through_the_plain_functions_reach_the_chunks() {
        let root = PathBuf::from("/repo");
        let mut session = Session::new(vec![root.clone()], Settings::default());
        let uri = convert::file_uri(&root, "src/A.java").unwrap();
        let text = "class A {\n    void f() {}\n}\n".to_owned();
        let opened = did_open(
            &mut session,
            DidOpenTextDocumentParams {
                text_document: TextDocumentItem::new(uri.clone(), "java".into(), 1, text),
            },
        );
        assert_eq!(opened.chunks_changed.unwrap().added.len(), 2);
        let insert = TextDocumentContentChangeEvent {
            range: Some(convert::range_to_lsp(Range {
                start: Position {
                    line: 2,
                    character: 0,
                },
                end: Position {
                    line: 2,
                    character: 0,
                },
            })),
            range_length: None,
            text: "    void g() {}\n".to_owned(),
        };
        let changed = did_change(
            &mut session,
            DidChangeTextDocumentParams {
                text_document: VersionedTextDocumentIdentifier::new(uri.clone(), 2),
                content_changes: vec![insert],
            },
        );
        let delta = changed.chunks_changed.unwrap();
        assert_eq!((delta.version, delta.added.len()), (2, 1));
        let params = ChunkParams {
            uri,
            position: convert::position_to_lsp(Position {
                line: 2,
                character: 10,
            }),
        };
        let found = chunk(&session, &params).unwrap().unwrap();
        assert_eq!(found.symbol, "A.g()");
        assert_eq!(found.text, "void g() {}");
        assert_eq!(found.version, Some(2));
    }
}
