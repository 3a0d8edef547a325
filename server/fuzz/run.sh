#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and exits non-zero when one of them crashes.
#
#   server/fuzz/run.sh                 # 60 s per target
#   FUZZ_SECONDS=300 server/fuzz/run.sh java_chunker lsp_input
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). New
# interesting inputs go to server/fuzz/corpus/<target>/ (not committed); the committed seeds are
# in server/fuzz/seeds/<target>/. A crash leaves its input under server/fuzz/artifacts/<target>/:
# fix the bug, then copy the input to fixtures/fuzz-regressions/<target>/ so `cargo test`
# (tests/regressions.rs) replays it from then on.
set -uo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build || exit 2

# The fixtures' own files seed the readers too (libFuzzer reads these folders recursively and
# writes new inputs only to the first corpus folder, so the fixtures stay untouched).
fixture_corpus() {
    case "$1" in
        java_chunker) echo ../../fixtures/shop/src/main/java ../../fixtures/textkit/src ;;
        mapper_xml) echo ../../fixtures/shop/src/main/resources/mapper ;;
    esac
}

failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "seeds/$target"
    read -r -a extra <<<"$(fixture_corpus "$target")"
    dict=()
    if [ -f "dict/$target.dict" ]; then
        dict=("-dict=dict/$target.dict")
    fi
    echo "== $target: ${seconds} s"
    # -rss_limit_mb: the LSP target runs a whole server per input.
    if ! cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" "${extra[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=60 -print_final_stats=1 \
        "${dict[@]}"; then
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs under server/fuzz/artifacts/)" >&2
    exit 1
fi
echo "no crashes in ${targets[*]}"
