#!/usr/bin/env bash
# The README's second command: the whole test suite (GoogleTest through CTest). Installs and
# builds first when needed, so it also works on its own on a fresh machine.
# Extra arguments go to ctest, e.g. -L unit, or -LE slow.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir "${EVAX_BUILD_DIR:-build}" --output-on-failure --parallel "$(nproc)" "$@"
