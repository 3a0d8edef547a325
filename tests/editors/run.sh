#!/usr/bin/env bash
# The editor tests, as CI runs them (after `cargo test`):
#   1. Neovim: real headless Neovim 0.11+ with editors/nvim against `acdp lsp` (nvim_e2e.sh)
#   2. pytest-lsp: a second real client over the same flows (pytest_lsp/)
#   3. VS Code: npm ci, compile, lint, unit tests, package to a .vsix (when npm exists)
# Installs what it needs into target/editor-venv (PyPI) and editors/vscode/node_modules (npm),
# once: a rerun reinstalls only what changed. ACDP_BIN picks the binary (default: cargo build).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_acdp_bin
ensure_venv

echo "== editors: Neovim end-to-end"
bash "$EDITOR_TESTS/nvim_e2e.sh"

echo "== editors: pytest-lsp"
(cd "$EDITOR_TESTS/pytest_lsp" && timeout -s INT 600 "$VENV/bin/pytest" -q -p no:cacheprovider)

echo "== editors: VS Code extension"
if command -v npm >/dev/null; then
  cd "$REPO/editors/vscode"
  lock="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ "$(cat node_modules/.acdp-lock.sha256 2>/dev/null)" != "$lock" ]; then
    npm ci --no-audit --no-fund
    echo "$lock" > node_modules/.acdp-lock.sha256
  fi
  npm run --silent compile
  npm run --silent lint
  npm test --silent
  npm run --silent package
  ls -l acdp.vsix
else
  echo "editors: npm not found; the VS Code extension was not built"
fi
