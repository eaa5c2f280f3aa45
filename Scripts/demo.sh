#!/usr/bin/env bash
# The demo: installs what is missing, builds effdx in release mode, and trains on the bundled
# samples. Extra arguments go to `effdx demo` (try --epochs 30 or --seed 1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
swift build -c release --product effdx
.build/release/effdx demo "$@"
