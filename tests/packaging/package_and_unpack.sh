#!/usr/bin/env bash
# CTest fixture of the package tests: builds this flavour's .deb with CPack into OUT_DIR, then
# unpacks its files (OUT_DIR/root) and control scripts (OUT_DIR/control); `--clean` removes
# OUT_DIR again (the CUDA package is ~2.3 GB, ~3.8 GB unpacked).
# usage: package_and_unpack.sh BUILD_DIR OUT_DIR | package_and_unpack.sh --clean OUT_DIR
set -euo pipefail
if [[ $1 == --clean ]]; then
  rm -rf "$2"
  exit 0
fi
build_dir=$1 out=$2
rm -rf "$out"
mkdir -p "$out"
start=$SECONDS
(cd "$build_dir" && cpack -G DEB -B "$out") >"$out/cpack.log" 2>&1 || { cat "$out/cpack.log"; exit 1; }
deb=$(ls "$out"/*.deb)
dpkg-deb -x "$deb" "$out/root"
dpkg-deb -e "$deb" "$out/control"
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes, $(du -sb "$out/root" | cut -f1) bytes unpacked, built and unpacked in $((SECONDS - start)) s"
