#!/usr/bin/env bash
# Installs the test and script tools pinned in scripts/python-tools-requirements.txt (highdicom,
# pydicom, numpy, Pillow, opencv-python-headless) into a private venv, build-tools/venv by default. Idempotent: a venv
# already holding exactly these pins is left alone. Prints the venv's python last.
#
# usage: scripts/install-python-tools.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=scripts/python-tools-requirements.txt
venv=$(realpath -m "${1:-${EVAX_TOOLS_VENV:-build-tools/venv}}")
stamp="$venv/.evax-requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$wanted" ]] && "$venv/bin/python" -c 'import highdicom' 2>/dev/null; then
  echo "install-python-tools: $venv already holds the pinned versions" >&2
else
  # Debian's python3 with python3-venv (scripts/install-deps.sh); pip comes from the venv itself.
  [[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv "$venv"
  echo "install-python-tools: installing $(grep -v '^#' "$requirements" | xargs) into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps -r "$requirements"
  "$venv/bin/python" -c 'import highdicom, pydicom, numpy, PIL, cv2, hl7, fhir.resources, pynetdicom, sklearn, confidenceinterval'
  echo "$wanted" >"$stamp"
fi
echo "$venv/bin/python"
