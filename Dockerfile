# sam-ml-backend image: build on Debian 12 with the -dev packages, run on debian:12-slim with
# only the shared libraries the binary links and the binary itself.
#
#   docker build -t sam-ml-backend .
#   docker build -t sam-ml-backend --build-arg DOWNLOAD_MODELS="mobile_sam" \
#                --build-arg MODEL_DIR=/opt/models .        # checkpoints baked into the image
#
# Without DOWNLOAD_MODELS the checkpoints come from the volume mounted at /data
# (MODEL_DIR=/data/models, as in docker-compose.yml). Builds with the classic builder of
# Debian's docker.io as well as with BuildKit.

FROM debian:12 AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The build packages of scripts/install-deps.sh, from the script itself: the two cannot drift.
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN bash /tmp/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The one build runs on any x86-64-v2 CPU and picks its kernels' ISA at run time (AVX2, AVX-512).
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DSAM_BUILD_TESTS=OFF -DSAM_BUILD_BENCH=OFF \
 && cmake --build build --target sam-ml-backend \
 && strip build/sam-ml-backend
# The Debian packages that own the libraries the binary links (their own dependencies come
# with them when installed): exactly what the runtime stage needs.
RUN arch="$(gcc -print-multiarch)" \
 && objdump -p build/sam-ml-backend | awk '$1 == "NEEDED" { print $2 }' \
  | while read -r lib; do \
      pkg="$(dpkg -S "*/$arch/$lib" 2>/dev/null | awk -F: 'NR == 1 { print $1 }')"; \
      [ -n "$pkg" ] || { echo "no Debian package owns $lib" >&2; exit 1; }; \
      echo "$pkg"; \
    done | sort -u > build/runtime-packages \
 && echo "runtime packages: $(tr '\n' ' ' < build/runtime-packages)"

FROM debian:12-slim AS runtime
# ca-certificates for HTTPS image downloads, curl for the health check and DOWNLOAD_MODELS.
COPY --from=build /src/build/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(cat /tmp/runtime-packages) ca-certificates curl \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/runtime-packages

RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin sam
COPY --from=build /src/build/sam-ml-backend /usr/local/bin/sam-ml-backend
COPY scripts/download_models.sh /usr/local/bin/download_models.sh

# DOWNLOAD_MODELS: space-separated names for download_models.sh (mobile_sam vit_h vit_l vit_b
# sam2.1_hiera_tiny sam2.1_hiera_small sam2.1_hiera_base_plus sam2.1_hiera_large).
# DOWNLOAD_BASE_URL: a mirror to fetch them from instead of the official hosts
# (download_models.sh fetches $DOWNLOAD_BASE_URL/<file name>).
# A bind mount on /data hides anything baked under it: bake into another MODEL_DIR.
ARG DOWNLOAD_MODELS=""
ARG DOWNLOAD_BASE_URL=""
ARG MODEL_DIR=/data/models
ENV MODEL_DIR=${MODEL_DIR} \
    PORT=9090
RUN mkdir -p "$MODEL_DIR" && chown sam:sam "$MODEL_DIR"
USER sam
RUN if [ -n "$DOWNLOAD_MODELS" ]; then DOWNLOAD_BASE_URL="$DOWNLOAD_BASE_URL" download_models.sh $DOWNLOAD_MODELS; fi

EXPOSE 9090
# /health answers 200 while the server is up; it needs the credentials when basic auth is on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS ${BASIC_AUTH_USER:+-u "$BASIC_AUTH_USER:$BASIC_AUTH_PASS"} \
      "http://127.0.0.1:${PORT:-9090}/health" >/dev/null || exit 1
ENTRYPOINT ["sam-ml-backend"]
CMD ["serve"]
