#!/usr/bin/env bash
# The README's second command: the whole test suite (GoogleTest through CTest), in both build
# flavours: Debian's LibTorch (build/) and the CUDA LibTorch from PyPI (build-cuda/, where the
# tests labelled `gpu` skip without a GPU). Installs and builds first when needed, so it also
# works on its own on a fresh machine.
#
# usage: scripts/run-tests.sh [--flavour both|debian|cuda] [CTEST ARGS]
#   e.g. scripts/run-tests.sh --flavour debian -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=both
if [[ ${1:-} == --flavour ]]; then
  flavour=${2:?--flavour needs both, debian or cuda}
  shift 2
fi
case $flavour in both | debian | cuda) ;; *) echo "run-tests.sh: --flavour must be both, debian or cuda" >&2; exit 2 ;; esac

failed=()
run_suite() {  # name, build folder, build.sh arguments...
  local name=$1 dir=$2
  shift 2
  echo "=== $name flavour: build ($dir) ==="
  EVAX_BUILD_DIR=$dir bash scripts/build.sh "$@"
  echo "=== $name flavour: $("$dir/app/evax-node" --version | head -1) ==="
  ldd "$dir/app/evax-node" | grep -E "libtorch|libc10|libcudart" || true
  echo "=== $name flavour: tests ==="
  ctest --test-dir "$dir" --output-on-failure --parallel "$(nproc)" "${ctest_args[@]}" || failed+=("$name")
}

ctest_args=("$@")
bash scripts/install-deps.sh
bash scripts/install-python-tools.sh >/dev/null  # highdicom and friends, for both flavours' tests
if [[ $flavour != cuda ]]; then run_suite debian build; fi
if [[ $flavour != debian ]]; then run_suite cuda build-cuda --cuda; fi
if ((${#failed[@]})); then
  echo "run-tests.sh: tests failed in the ${failed[*]} flavour(s)" >&2
  exit 1
fi
echo "run-tests.sh: every suite passed ($flavour)"
