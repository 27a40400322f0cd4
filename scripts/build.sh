#!/usr/bin/env bash
# Configures and builds the node in ./build (Release, Ninja). Extra arguments go to CMake,
# e.g. -DEVAX_ENGINE_ONLY=ON or -DCMAKE_PREFIX_PATH=... for a CUDA LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${EVAX_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build_dir" --parallel "$(nproc)"
