#!/usr/bin/env bash
# Installs every Debian 12 package the build, the tests and the benchmarks need, and only those
# that are missing: with nothing missing it needs neither root nor the network. As a normal
# user it installs through sudo when sudo is there; otherwise it names the packages and the
# command to run as root, and exits 1.
#   scripts/install-deps.sh               everything
#   scripts/install-deps.sh --build-only  only what building the server needs (the Dockerfile's
#                                         build stage uses this, so the two never drift apart)
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev ocl-icd-opencl-dev               # oneDNN; its CMake config needs OpenCL's
  libonnx-dev libprotobuf-dev                  # ONNX decoder files
  libcpp-httplib-dev libcurl4-openssl-dev      # HTTP clients in tests and benchmarks, downloads
  nlohmann-json3-dev libpugixml-dev            # JSON, Label Studio XML configs
  libjpeg-dev libpng-dev libwebp-dev zlib1g-dev
  libspdlog-dev libcli11-dev
  libopencv-imgproc-dev                        # contours and polygons
  libhiredis-dev redis-server                  # shared embedding store (and its tests)
  libssl-dev openssl                           # TLS to Redis, SHA-256; certificates in the TLS tests
  libmicrohttpd-dev                            # HTTP server (the binary links only this one)
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev libomp-dev          # fuzzers (libFuzzer, clang's OpenMP) and sanitizer builds
  curl ca-certificates                         # scripts/download_models.sh
  docker-compose                               # compose file checks
)
# Not needed to build the server itself: tests, benchmarks, fuzzers and tools.
not_for_build=(libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev clang libclang-rt-14-dev libomp-dev
               redis-server openssl curl ca-certificates docker-compose)
say() { echo "install-deps: $*" >&2; }

case "${1:-}" in
  "") ;;
  --build-only)
    keep=()
    for p in "${packages[@]}"; do
      [[ " ${not_for_build[*]} " == *" $p "* ]] || keep+=("$p")
    done
    packages=("${keep[@]}") ;;
  *) say "usage: $0 [--build-only]"; exit 2 ;;
esac

command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || {
  say "this script installs Debian 12 packages with apt-get, which this system does not have;"
  say "install the equivalents of: ${packages[*]}"
  exit 1
}
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "all packages present"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    say "missing packages: ${missing[*]}"
    say "installing them needs root, and sudo is not installed. Run as root:"
    say "  su -c 'apt-get update && apt-get install -y --no-install-recommends ${missing[*]}'"
    say "or run this script as root ($0), then run your command again."
    exit 1
  fi
  as_root=(sudo)
  say "installing ${missing[*]} (with sudo)"
else
  say "installing ${missing[*]}"
fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
