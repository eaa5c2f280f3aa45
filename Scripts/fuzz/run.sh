#!/usr/bin/env bash
# Builds the fuzzers with libFuzzer + AddressSanitizer and runs one.
#   bash Scripts/fuzz/run.sh png|jpeg|jpeg2000|tiff|pipeline|metadata [SECONDS]        (default 600)
# Seeds: Tests/TestData/images for the decoders, seeds/jpeg2000 (64 x 64 codestreams made
# by Scripts/fuzz/make-jpeg2000-seeds), Pipelines/*.yaml for pipeline, the configs of
# every variant for metadata; crashes are written to Scripts/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?png, jpeg, jpeg2000, tiff, pipeline or metadata}
seconds=${2:-600}
case "$target" in
  png) product=FuzzPNG; ext=png ;; jpeg) product=FuzzJPEG; ext=jpg ;; jpeg2000) product=FuzzJPEG2000 ;; tiff) product=FuzzTIFF; ext=tif ;;
  pipeline) product=FuzzPipeline ;; metadata) product=FuzzCheckpointMetadata ;;
  *) echo "png, jpeg, jpeg2000, tiff, pipeline or metadata" >&2; exit 2 ;;
esac
swift build -c release --scratch-path .build-fuzz --product "$product" -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address
corpus=$(mktemp -d)
case "$target" in
  pipeline) cp ../../Pipelines/*.yaml "$corpus"/ ;;
  metadata) cp seeds/metadata/*.json "$corpus"/ ;;
  jpeg2000) cp seeds/jpeg2000/*.j2k "$corpus"/ ;;
  *) cp ../../Tests/TestData/images/*."$ext" "$corpus"/ ;;
esac
mkdir -p artifacts
./.build-fuzz/release/"$product" "$corpus" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -artifact_prefix=artifacts/"$target"- -print_final_stats=1
