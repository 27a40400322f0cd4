#!/usr/bin/env bash
# Installs the CUDA flavour's LibTorch: PyPI's torch wheel (its Linux build is the CUDA one) at
# the versions pinned in scripts/libtorch-cuda-requirements.txt, with timm for the benchmarks,
# into a private venv (never the system Python). Idempotent: a venv already holding exactly
# these pins is left alone. Prints the venv's `torch` package folder (EVAX_LIBTORCH_DIR) last.
#
# usage: scripts/install-libtorch-cuda.sh [VENV_DIR]   (default: build-cuda/libtorch-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=scripts/libtorch-cuda-requirements.txt
venv=$(realpath -m "${1:-${EVAX_LIBTORCH_VENV:-build-cuda/libtorch-venv}}")
stamp="$venv/.evax-requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)

torch_dir() { "$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))'; }

if [[ -f $stamp && $(cat "$stamp") == "$wanted" ]] && torch_dir >/dev/null 2>&1; then
  echo "install-libtorch-cuda: $venv already holds the pinned versions" >&2
  torch_dir
  exit 0
fi

# Debian's python3 with python3-venv (scripts/install-deps.sh); pip comes from the venv itself.
[[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv "$venv"
echo "install-libtorch-cuda: installing $(grep -v '^#' "$requirements" | xargs) into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"

# The wheel's CUDA major must match the toolkit that compiles and links against it.
torch_cuda=$("$venv/bin/python" -c 'import torch; print(torch.version.cuda or "")')
[[ -n $torch_cuda ]] || { echo "install-libtorch-cuda: the installed torch has no CUDA (a CPU-only wheel?)" >&2; exit 1; }
if command -v nvcc >/dev/null; then
  toolkit=$(nvcc --version | sed -n 's/.*release \([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1.\2/p')
  if [[ ${torch_cuda%%.*} != "${toolkit%%.*}" ]]; then
    echo "install-libtorch-cuda: torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') was built with CUDA $torch_cuda," \
         "but the toolkit's nvcc is CUDA $toolkit: pin a torch whose CUDA major is ${toolkit%%.*} in $requirements" >&2
    exit 1
  fi
fi
echo "$wanted" >"$stamp"
torch_dir
