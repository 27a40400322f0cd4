#!/usr/bin/env bash
# Installs every Debian 12 package the node's build, tests and benchmarks need.
# Idempotent: packages already present are left alone, so it is safe to rerun.
set -euo pipefail

packages=(
  # toolchain; `file` is needed by CPack's DEB generator (dpkg-shlibdeps), and a clean debian:12
  # (the container image's build stage) has none
  build-essential cmake ninja-build pkg-config git file
  # engine: LibTorch 1.13 with OpenBLAS (without libopenblas0-pthread LibTorch
  # silently falls back to reference BLAS and runs 6-10x slower)
  libtorch-dev libopenblas0-pthread
  # DICOM, web, storage, formatting, JSON; OpenCV reads and writes PNG images
  libdcmtk-dev dcmtk libpoco-dev libsqlite3-dev sqlite3 libssl-dev zlib1g-dev libfmt-dev nlohmann-json3-dev
  libopencv-imgcodecs-dev libopencv-imgproc-dev
  # tests: GoogleTest; python3-torch builds the checkpoint fixtures and runs the
  # timm baseline; pydicom and Pillow check produced files and preprocessing
  libgtest-dev python3 python3-torch python3-numpy python3-pil python3-pydicom
  # the venv of the CUDA flavour's LibTorch and its Python baselines (scripts/install-libtorch-cuda.sh)
  python3-venv
  # the Python timm baseline of the CPU benchmark (timm itself imports torchvision)
  python3-torchvision
  # the wall-clock jump test runs the node under libfaketime
  faketime
  # the TLS tests make their certificates with openssl
  openssl
  # the results' validators: dciodvfy and dcentvfy, PixelMed's SR validator (Java); Orthanc is
  # the real PACS of the end-to-end test (each test runs its own, on its own ports), with its
  # DICOMweb plugin as the STOW-RS destination and the PACS the node retrieves from
  dicom3tools pixelmed-apps orthanc orthanc-dicomweb
  # the status page's test renders it in headless Chromium (kept off the network)
  chromium
  # the container image's test builds packaging/Dockerfile with podman (no daemon) on a base
  # debootstrapped from the Debian mirror (no registry): podman's runtime, rootless helpers and
  # storage driver, buildah for the build, debootstrap for the base; iproute2's `ip netns` gives
  # the serving container a loopback of its own
  podman buildah runc uidmap fuse-overlayfs slirp4netns debootstrap iproute2
  # PostgreSQL (several nodes on one database): libpq-dev is the client library the node links;
  # the server is only for the tests, which run a throwaway cluster of their own each (never the
  # system one); haproxy spreads the cluster tests' associations over several nodes
  libpq-dev postgresql haproxy
)

# PostgreSQL refuses to run as root: the tests run their servers as this system user (no login,
# no home) when they run as root. Created here, idempotently, because creating users needs root.
pg_test_user=evax-pgtest
ensure_pg_test_user() {
  if [[ $(id -u) -eq 0 ]] && ! id -u "$pg_test_user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$pg_test_user"
    echo "install-deps: created system user $pg_test_user (the tests run PostgreSQL as it)"
  fi
}

# The viewer tests run OHIF's own loaders (../shared/tools/ohif-check) with node; Debian's nodejs
# where the machine has no node at all.
command -v node >/dev/null || packages+=(nodejs)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  ensure_pg_test_user
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

# Debian's orthanc package enables a system-wide PACS (ports 4242 and 8042). The tests start
# their own; a PACS this script installed is not left running on the machine.
if [[ " ${missing[*]} " == *" orthanc "* ]] && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  "${sudo_cmd[@]}" systemctl disable --now orthanc || true
fi

# Debian's postgresql package creates and starts a system-wide cluster (port 5432), haproxy a
# system-wide proxy. The tests start their own; ones this script installed are not left running.
# Without systemd (a container's build stage, a chroot) the postinsts start them through their
# init scripts unless policy-rc.d forbids it: stop whatever did start.
for service in postgresql haproxy; do
  [[ " ${missing[*]} " == *" $service "* ]] || continue
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    "${sudo_cmd[@]}" systemctl disable --now "$service" || true
  elif [[ $service == postgresql ]]; then
    while read -r version cluster _; do
      "${sudo_cmd[@]}" pg_ctlcluster "$version" "$cluster" stop || true
    done < <(pg_lsclusters --no-header 2>/dev/null | awk '$4 == "online"')
  elif [[ -x /etc/init.d/$service ]]; then
    "${sudo_cmd[@]}" "/etc/init.d/$service" stop >/dev/null 2>&1 || true
  fi
done

ensure_pg_test_user
