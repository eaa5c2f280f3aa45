#!/usr/bin/env bash
# The test suite: installs what is missing, builds, and runs every test.
# Parity tests read ../shared/fixtures (or $EFFDX_FIXTURES) and skip, saying so, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
