#!/usr/bin/env bash
# Captures docs/images/nvim-review.png: real Neovim in tmux on a copy of fixtures/shop, the
# sample review as a user drives it: the "Generate QA samples" code action on cancelOrder
# (vim.lsp.buf.code_action, picked by its number), one sample accepted (:AcdpAccept) and one
# rejected (:AcdpReject), :AcdpSamples (the quickfix list), then :AcdpSample on an entry (the
# float). The pane is captured with colours (capture-pane -e), rendered by ansi_to_html.py
# and headless chromium, and cropped. Needs tmux and chromium; run by hand, not in CI.
#   ACDP_BIN  acdp binary (default: as lib.sh, a cargo debug build)
#   OUT       where the PNG goes (default <repo>/docs/images)
#   PANE_TXT  also keep the captured pane (ANSI text) there
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/../lib.sh"
ensure_acdp_bin
ensure_nvim
shop="$(copy_shop)"
tmp="$(dirname "$shop")"
session="acdp-review-shot-$$"
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$tmp"' EXIT
out="${OUT:-$REPO/docs/images}"
mkdir -p "$out"
file="$shop/src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java"
line="$(grep -n 'public void cancelOrder(' "$file" | cut -d: -f1)"
cols=180 rows=56

pane() { tmux capture-pane -t "$session" -p; }
# wait_for WHAT COMMAND...: polls COMMAND (up to 60 s).
wait_for() {
  local what="$1" i
  shift
  for i in $(seq 1 240); do
    if "$@"; then return 0; fi
    sleep 0.25
  done
  echo "capture_nvim_review: timed out waiting for $what; the pane:" >&2
  pane >&2
  return 1
}
pane_has() { pane | grep -qF -- "$1"; }
keys() { tmux send-keys -t "$session" "$@"; }
# ex COMMAND: an Ex command, typed as a user types it.
ex() { keys Escape; keys -l ":$1"; keys Enter; }

export LANG=C.UTF-8 LC_ALL=C.UTF-8
# From the shop folder: the quickfix list shows paths relative to it.
tmux -u new-session -d -s "$session" -x "$cols" -y "$rows" -c "$shop" \
  "TERM=tmux-256color ACDP_REPO=$REPO ACDP_BIN=$ACDP_BIN ACDP_LOG=$tmp/lsp.log $NVIM -u $EDITOR_TESTS/minimal_init.lua -c 'set termguicolors number nowrap columns=$cols lines=$rows' -c 'colorscheme habamax' +$line $file"
wait_for 'the index (statusline "acdp ✓")' pane_has 'acdp ✓'

# The code action menu (vim.ui.select: a numbered list); pick "Generate QA samples for …".
keys '0fc' # the cursor on cancelOrder
ex 'lua vim.lsp.buf.code_action()'
wait_for 'the code action list' pane_has 'Generate QA samples for'
number="$(pane | sed -n 's/^ *\([0-9][0-9]*\)[.:] *\(\[[^]]*\] *\)\{0,1\}Generate QA samples for .*/\1/p' | head -n1)"
[ -n "$number" ] || { echo "capture_nvim_review: no number for the action:" >&2; pane >&2; exit 1; }
keys -l "$number"
keys Enter
wait_for '.acdp/samples.jsonl' test -s "$shop/.acdp/samples.jsonl"
wait_for 'the "sample(s) added" message' pane_has 'sample(s) added'

# Review two of them; show the one with the shortest answer in the float (it fits whole).
mapfile -t ids < <(python3 - "$shop/.acdp/samples.jsonl" <<'PY'
import json, sys
samples = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
shortest = min(samples, key=lambda s: len(s["answer"]) + sum(len(t["claim"]) for t in s["trace"]))
others = [s["sample_id"] for s in samples if s is not shortest]
print(shortest["sample_id"]); print(others[0])
PY
)
shown="${ids[0]}" rejected="${ids[1]}"
ex "AcdpAccept $shown"
wait_for "$shown accepted" pane_has "$shown accepted"
ex "AcdpReject $rejected"
wait_for "$rejected rejected" pane_has "$rejected rejected"

# The quickfix list; the cursor to the accepted entry; :AcdpSample shows it in a float.
ex 'AcdpSamples'
wait_for 'the quickfix list' pane_has 'acdp samples'
ex 'resize 14'
wait_for 'the accepted entry' pane_has '[accepted]'
ex "call search('\\[accepted\\]')"
ex 'AcdpSample'
wait_for 'the float' pane_has ' acdp sample '
sleep 1
keys C-l
sleep 0.5

pane_file="$tmp/pane.txt"
tmux capture-pane -t "$session" -e -p > "$pane_file"
[ -z "${PANE_TXT:-}" ] || cp "$pane_file" "$PANE_TXT"
python3 "$HERE/ansi_to_html.py" < "$pane_file" > "$tmp/pane.html"
png="$out/nvim-review.png"
# 14px DejaVu Sans Mono: 8.43 px a column, 17.5 px a row, 8 px padding.
width=$(( cols * 843 / 100 + 16 )) height=$(( rows * 35 / 2 + 16 ))
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$width,$height" \
  --screenshot="$png" "file://$tmp/pane.html" 2>/dev/null
# A terminal has few colours: a 256-colour palette keeps it sharp at a third of the size.
python3 "$HERE/png8.py" "$png"
echo "wrote $png ($(stat -c %s "$png") bytes)"
