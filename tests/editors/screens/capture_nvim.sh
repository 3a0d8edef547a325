#!/usr/bin/env bash
# Captures docs/images/nvim-hover.png: Neovim in tmux on a copy of fixtures/shop, hover over
# a service method, capture-pane -e, rendered by ansi_to_html.py and headless chromium.
# Needs tmux and chromium; run by hand, not in CI.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
ensure_acdp_bin
ensure_nvim
shop="$(copy_shop)"
trap 'tmux kill-session -t acdp-shot 2>/dev/null || true; rm -rf "$(dirname "$shop")"' EXIT
file="$shop/src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java"
line="$(grep -n 'public OmsOrder generateOrder' "$file" | cut -d: -f1)"
export LANG=C.UTF-8 LC_ALL=C.UTF-8
tmux -u new-session -d -s acdp-shot -x 120 -y 36 \
  "TERM=tmux-256color ACDP_REPO=$REPO ACDP_BIN=$ACDP_BIN ACDP_LOG=$(dirname "$shop")/lsp.log $NVIM -u $EDITOR_TESTS/minimal_init.lua -c 'set termguicolors number nowrap' -c 'colorscheme habamax' +$line $file"
sleep 4
tmux send-keys -t acdp-shot '0fg' 'zt' C-l
sleep 1
tmux send-keys -t acdp-shot 'K'
sleep 2
tmux send-keys -t acdp-shot C-l
sleep 1
out="$REPO/docs/images"
tmux capture-pane -t acdp-shot -e -p > "$(dirname "$shop")/pane.txt"
python3 "$(dirname "$0")/ansi_to_html.py" < "$(dirname "$shop")/pane.txt" > "$(dirname "$shop")/pane.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1010,740 \
  --screenshot="$out/nvim-hover.png" "file://$(dirname "$shop")/pane.html" 2>/dev/null
echo "wrote $out/nvim-hover.png"
