#!/usr/bin/env bash
# CTest fixture of the container image tests: builds packaging/Dockerfile with podman (no daemon,
# no registry) into OUT_DIR's image, on debian:12 and debian:12-slim bases debootstrapped from
# this machine's Debian mirror; `--clean` removes the containers and images the tests made.
# usage: container_image.sh SOURCE_DIR OUT_DIR | container_image.sh --clean OUT_DIR
#
# Writes to OUT_DIR: `podman` (podman on the test's own image store, with this host's limits),
# `image` (the tag), `build.log`, `build.txt` (build time and image size); or `skipped` (the
# reason, also printed) where podman cannot run here, exiting 77 (CTest: skipped).
#
# The bases are cached in EVAX_CONTAINER_TEST_STORE (default /var/tmp/evax-node-container-test),
# a store of their own so that a real debian:12 elsewhere on the machine is never replaced.
# They are rebuilt when the mirror, the debootstrap version or this recipe changes, or after
# EVAX_CONTAINER_BASE_MAX_AGE_DAYS (default 7) so that security updates reach them.
set -euo pipefail

store=${EVAX_CONTAINER_TEST_STORE:-/var/tmp/evax-node-container-test}

if [[ $1 == --clean ]]; then
  out=$2
  if [[ -x $out/podman && -s $out/image ]]; then
    image=$(cat "$out/image")
    # Containers the tests started (labelled with the image's tag), then the image and the
    # untagged layers its build left; the tagged bases stay.
    "$out/podman" ps -aq --filter "label=evax-node-test=$image" | xargs -r "$out/podman" rm -f -v >/dev/null || true
    "$out/podman" rmi -f "$image" >/dev/null 2>&1 || true
    "$out/podman" image prune -f >/dev/null || true
  fi
  rm -rf "$out"
  exit 0
fi

source_dir=$1 out=$2
rm -rf "$out"
mkdir -p "$out"

skip() {
  echo "$1" >"$out/skipped"
  echo "SKIPPED: container image tests: $1"
  exit 77
}
for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps.sh installs it)"
done
# debootstrap, and podman on a store under /var/tmp, need root.
[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap and the image store); running as $(id -un)"

mkdir -p "$store"
# Limits a container may have here: podman's defaults (nofile 1048576) exceed this host's hard
# limits, and even the host's own nproc limit (96363 here) was refused inside the build's chroot
# ("was soft=32768"); so the host's hard limit, at most 20000.
limit() { [[ $1 == unlimited || $1 -gt 20000 ]] && echo 20000 || echo "$1"; }
nofile=$(limit "$(ulimit -Hn)") nproc=$(limit "$(ulimit -Hu)")
cat >"$store/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
cat >"$out/podman" <<EOF
#!/bin/sh
CONTAINERS_CONF=$store/containers.conf exec podman --root $store/storage --runroot $store/run "\$@"
EOF
chmod +x "$out/podman"
podman=$out/podman
"$podman" info >"$out/podman-info.txt" 2>&1 || skip "podman cannot run here: $(tail -1 "$out/podman-info.txt")"

# --- the bases, cached ------------------------------------------------------------------------
# This machine's Debian mirror (and its security mirror) as apt knows them.
targets=$(apt-get indextargets --format '$(ORIGIN) $(RELEASE) $(REPO_URI)' 2>/dev/null | sort -u || true)
mirror=${EVAX_DEBIAN_MIRROR:-$(awk '$1 == "Debian" && $2 == "bookworm" {print $3; exit}' <<<"$targets")}
mirror=${mirror:-http://deb.debian.org/debian/}
security=$(awk '$1 == "Debian" && $2 == "bookworm-security" {print $3; exit}' <<<"$targets")
security=${security:-http://deb.debian.org/debian-security/}
sources="Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
recipe=1  # bump when the base recipe below changes
key=$(printf '%s\n%s\n%s\n' "$recipe" "$(dpkg-query -W -f='${Version}' debootstrap)" "$sources" | sha256sum | cut -c1-16)
max_age_s=$((${EVAX_CONTAINER_BASE_MAX_AGE_DAYS:-7} * 86400))

exec 9>"$store/base.lock"
flock 9  # another build tree's run may be making the bases
read -r cached_key cached_at 2>/dev/null <"$store/base.key" || true
if [[ ${cached_key:-} == "$key" ]] && ((EPOCHSECONDS - ${cached_at:-0} < max_age_s)) &&
  "$podman" image exists docker.io/library/debian:12 && "$podman" image exists docker.io/library/debian:12-slim; then
  echo "bases: cached debian:12 and debian:12-slim (key $key, $(((EPOCHSECONDS - cached_at) / 3600)) h old)"
else
  start=$SECONDS
  rootfs=$store/rootfs
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$out/debootstrap.log" 2>&1 ||
    { tail -20 "$out/debootstrap.log"; exit 1; }
  rm -f "$rootfs/etc/apt/sources.list"
  printf '%s\n' "$sources" >"$rootfs/etc/apt/sources.list.d/debian.sources"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | "$podman" import -q --change 'CMD ["bash"]' - docker.io/library/debian:12 >/dev/null
  # slim: as Debian's, without documentation now or from later installs.
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/info/*' >"$rootfs/etc/dpkg/dpkg.cfg.d/docker"
  find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  tar -C "$rootfs" -c . | "$podman" import -q --change 'CMD ["bash"]' - docker.io/library/debian:12-slim >/dev/null
  rm -rf "$rootfs"
  "$podman" image prune -f >/dev/null  # the bases these replaced
  echo "$key $EPOCHSECONDS" >"$store/base.key"
  echo "bases: debootstrapped debian:12 and debian:12-slim from $mirror in $((SECONDS - start)) s (key $key)"
fi
flock -u 9

# --- the image --------------------------------------------------------------------------------
# One tag per build tree, so that trees testing at once do not collide. --format docker keeps
# HEALTHCHECK, STOPSIGNAL and USER (podman's OCI default drops them); chroot isolation needs
# no nested runtime; --pull=never: no registry.
image=localhost/evax-node-test:$(printf '%s' "$out" | sha256sum | cut -c1-12)
echo "$image" >"$out/image"
start=$SECONDS
if ! "$podman" build --pull=never --isolation chroot --format docker --layers=false --force-rm \
  -f "$source_dir/packaging/Dockerfile" -t "$image" "$source_dir" >"$out/build.log" 2>&1; then
  echo "podman build failed after $((SECONDS - start)) s; the end of $out/build.log:"
  tail -30 "$out/build.log"
  exit 1
fi
size=$("$podman" image inspect --format '{{.Size}}' "$image")
echo "image $image: built in $((SECONDS - start)) s, $size bytes" | tee "$out/build.txt"
