#!/usr/bin/env bash
# Configures and builds the node (Release, Ninja), in one of two flavours:
#   scripts/build.sh [CMAKE ARGS]         Debian's LibTorch 1.13 (CPU only), into build/
#   scripts/build.sh --cuda [CMAKE ARGS]  the CUDA LibTorch of PyPI's torch wheel, into build-cuda/
#                                         (binary: build-cuda/app/evax-node). Installs what it needs
#                                         first, idempotently: the Debian packages and the pinned
#                                         wheel in build-cuda/libtorch-venv (scripts/install-libtorch-cuda.sh).
# EVAX_BUILD_DIR overrides the folder. Extra arguments go to CMake, e.g. -DEVAX_ENGINE_ONLY=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --cuda ]]; then
  shift
  build_dir=${EVAX_BUILD_DIR:-build-cuda}
  if ! command -v nvcc >/dev/null; then
    echo "build.sh --cuda: the CUDA flavour needs the CUDA toolkit (nvcc on PATH, e.g. /usr/local/cuda/bin)" >&2
    exit 1
  fi
  bash scripts/install-deps.sh
  libtorch_dir=$(bash scripts/install-libtorch-cuda.sh "$build_dir/libtorch-venv" | tail -1)
  set -- -DEVAX_LIBTORCH_DIR="$libtorch_dir" "$@"
else
  build_dir=${EVAX_BUILD_DIR:-build}
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build_dir" --parallel "$(nproc)"
