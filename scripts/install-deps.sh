#!/usr/bin/env bash
# Installs every Debian 12 package the build, the tests and the benchmarks need. Idempotent.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev ocl-icd-opencl-dev               # oneDNN; its CMake config needs OpenCL's
  libonnx-dev libprotobuf-dev                  # ONNX decoder files
  libcpp-httplib-dev libcurl4-openssl-dev      # server, downloads
  nlohmann-json3-dev libpugixml-dev            # JSON, Label Studio XML configs
  libjpeg-dev libpng-dev libwebp-dev zlib1g-dev
  libspdlog-dev libcli11-dev
  libopencv-imgproc-dev                        # contours and polygons
  libhiredis-dev redis-server                  # shared embedding store (and its tests)
  libmicrohttpd-dev                            # HTTP server
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev libomp-dev          # fuzzers (libFuzzer, clang's OpenMP) and sanitizer builds
  curl docker-compose                          # scripts/download_models.sh, compose file checks
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
