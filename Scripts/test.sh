#!/usr/bin/env bash
# The test suite: installs what is missing, builds, and runs every test (XCTest).
# Parity tests read ../shared/fixtures (or $EFFDX_FIXTURES) and skip, saying so, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh --tests
# The release binary users install must carry the Swift runtime (only Debian's libraries left).
# Debian's own ICU (/lib/.../libicuuc, which libxml2 under OpenSlide links) is one of those;
# the Swift toolchain's runtime, Foundation, Dispatch or ICU from anywhere else is not.
swift build -c release --static-swift-stdlib --product effdx
swift_runtime=$(ldd .build/release/effdx | grep -Ei 'swift|foundation|dispatch|blocksruntime|icu' | grep -Ev '=> /(usr/)?lib/x86_64-linux-gnu/libicu(uc|data|i18n)\.so' || true)
if [ -n "$swift_runtime" ]; then
  echo "error: .build/release/effdx links the Swift runtime dynamically:" >&2
  echo "$swift_runtime" >&2
  exit 1
fi
echo "release effdx is self-contained apart from Debian's shared libraries"
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line: "N passed, N failed, N skipped" from XCTest's own summary.
summary=$(grep -E "^\s*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1)
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
skipped=$(grep -cE "Test Case .* skipped" "$log" || true)
if [ -n "$summary" ]; then
  echo "XCTest: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
exit "$status"
