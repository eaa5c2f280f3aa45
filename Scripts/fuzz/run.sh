#!/usr/bin/env bash
# Builds the decoder fuzzers with libFuzzer + AddressSanitizer and runs one.
#   bash Scripts/fuzz/run.sh png|jpeg|tiff [SECONDS]        (default 600)
# Seeds come from Tests/TestData/images; crashes are written to Scripts/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?png, jpeg or tiff}
seconds=${2:-600}
case "$target" in png) product=FuzzPNG; ext=png ;; jpeg) product=FuzzJPEG; ext=jpg ;; tiff) product=FuzzTIFF; ext=tif ;; *) echo "png, jpeg or tiff" >&2; exit 2 ;; esac
swift build -c release --scratch-path .build-fuzz --product "$product" -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address
corpus=$(mktemp -d)
cp ../../Tests/TestData/images/*."$ext" "$corpus"/
mkdir -p artifacts
./.build-fuzz/release/"$product" "$corpus" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -artifact_prefix=artifacts/"$target"- -print_final_stats=1
