#!/usr/bin/env bash
# acdp pipeline --llm against a real llama.cpp server (llama-cpp-python's), end to end.
#
#   tests/llm-real/run.sh MODEL.gguf [EXTRA PIPELINE ARGS...]
#   REPO=path/to/java/repo tests/llm-real/run.sh MODEL.gguf --include 'src/**/*Order*'
#
# Starts `python -m llama_cpp.server` on MODEL.gguf at a free local port, runs `acdp pipeline
# --llm` with the default [llm] settings (only base_url and model set) on a slice of
# fixtures/shop (the return-apply domain and the shared code: 15 files), prints the report and
# checks: at least 90% of the requests sent were answered (not rejected for HTTP or format
# reasons), samples were produced, validated and exported. Exit status 0 when they hold.
#
# Needs llama-cpp-python with its server extras in the Python named by $LLAMA_PYTHON (default
# ~/llama/bin/python; see ../shared/MODELS.md or docs/llm.md for the install), and a release
# build of acdp ($ACDP, default target/release/acdp). Not run in CI: it needs a model file and
# takes tens of minutes on a CPU. Keeps its work in $WORK (default: a temporary folder) so a
# rerun with the same WORK resumes from the response cache.
set -euo pipefail
cd "$(dirname "$0")/../.."

model=${1:?usage: tests/llm-real/run.sh MODEL.gguf [pipeline args...]}
shift
python=${LLAMA_PYTHON:-$HOME/llama/bin/python}
acdp=${ACDP:-target/release/acdp}
threads=${THREADS:-2}
work=${WORK:-$(mktemp -d)}
[ -f "$model" ] || { echo "no model file at $model" >&2; exit 2; }
[ -x "$acdp" ] || { echo "no acdp binary at $acdp: run cargo build --release" >&2; exit 2; }
"$python" -c "import llama_cpp.server" 2>/dev/null || {
    echo "llama-cpp-python's server is not importable by $python: see docs/llm.md" >&2; exit 2; }

port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$port" \
    --n_threads "$threads" --n_ctx 8192 --model_alias local >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break
    kill -0 $server 2>/dev/null || { echo "the server died: see $work/server.log" >&2; exit 1; }
    sleep 1
done

repo=${REPO:-$work/shop}
if [ -z "${REPO:-}" ] && [ ! -d "$repo" ]; then
    cp -r fixtures/shop "$repo"
    base=$repo/src/main/java/com/acme/shop
    rm -rf "$base/order" "$base/coupon" "$base/member" "$base/inventory" "$repo/eval" "$repo/expected"
    find "$repo/src" -name '*.xml' ! -iname '*return*' -delete
fi
[ -f "$repo/acdp.toml" ] && ! grep -q '^# written by tests/llm-real' "$repo/acdp.toml" && {
    echo "$repo/acdp.toml exists: the script would overwrite it" >&2; exit 2; }
printf '# written by tests/llm-real/run.sh\n[llm]\nbase_url = "http://127.0.0.1:%s/v1"\nmodel = "local"\n' \
    "$port" >"$repo/acdp.toml"

start=$(date +%s)
status=0
"$acdp" pipeline "$repo" --out "$work/out" --llm --languages en "$@" 2>&1 | tee "$work/pipeline.log" || status=$?
elapsed=$(( $(date +%s) - start ))
echo "pipeline exit status $status after ${elapsed}s; work in $work"
report=$repo/.acdp/llm-report.json
[ -f "$report" ] || { echo "FAIL: no $report" >&2; exit 1; }

"$python" - "$report" "$work/out" "$elapsed" "$status" <<'PY'
import json, os, sys
report_path, out, elapsed, status = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
report = json.load(open(report_path))
stats_path = f"{out}/stats.json"
stats = json.load(open(stats_path)) if status == 0 and os.path.exists(stats_path) else \
    {"samples": 0, "validation": {"rejected": report.get("samples", 0)}}
rejected = report["rejected"]
transport = {"bad_request", "malformed_response", "timeout", "connection", "unreachable",
             "client_error", "malformed_json", "wrong_schema"}
unanswered = sum(n for cause, n in rejected.items() if cause in transport or cause.startswith("http_"))
sent = report["requests"] - rejected.get("over_limit", 0) - report["cache_hits"]
asked = report["requests"] - rejected.get("over_limit", 0)
answered = asked - unanswered
kept = stats["samples"]
minutes = max(elapsed, 1) / 60
print(f"endpoints        {json.dumps(report.get('endpoints', {}))}")
print(f"requests         {report['requests']} ({report['topics']} topics), {asked} asked, "
      f"{report['cache_hits']} from cache, {report['http_requests']} HTTP + "
      f"{report['probe_requests']} probe")
print(f"answered         {answered}/{asked} = {answered / max(asked, 1):.2f} "
      f"(not rejected for HTTP or format reasons)")
print(f"rejected         {json.dumps(rejected, sort_keys=True)}")
print(f"validation       {json.dumps(report.get('validation_failures', {}), sort_keys=True)}")
print(f"samples          {report['samples']} read, {kept} kept in the dataset "
      f"({stats['validation']['rejected']} rejected by validation)")
print(f"tokens           {report['prompt_tokens']} prompt + {report['completion_tokens']} completion")
print(f"speed            {report['samples'] / minutes:.2f} samples read / min, "
      f"{kept / minutes:.2f} kept / min, {elapsed} s")
ok = answered >= 0.9 * asked and kept > 0
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
