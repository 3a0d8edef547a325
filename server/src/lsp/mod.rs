//! The language server: converts LSP messages into index (and later analysis, dataset, model)
//! calls and back. (Being written: see the language-server issue.)
