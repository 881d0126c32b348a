# sam-ml-backend image: build on Debian 12 with the -dev packages, run on debian:12-slim with
# only the shared libraries the binary links and the binary itself.
#
#   docker build -t sam-ml-backend .
#   docker build -t sam-ml-backend --build-arg DOWNLOAD_MODELS="mobile_sam" \
#                --build-arg MODEL_DIR=/opt/models .        # checkpoints baked into the image
#
# Without DOWNLOAD_MODELS the checkpoints come from the volume mounted at /data
# (MODEL_DIR=/data/models, as in docker-compose.yml).

FROM debian:12 AS build
# The build packages of scripts/install-deps.sh, without the test, benchmark and compose tools.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libdnnl-dev libonnx-dev libprotobuf-dev \
      libcpp-httplib-dev libcurl4-openssl-dev \
      nlohmann-json3-dev libpugixml-dev \
      libjpeg-dev libpng-dev libwebp-dev zlib1g-dev \
      libspdlog-dev libcli11-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The one build runs on any x86-64-v2 CPU and picks its kernels' ISA at run time (AVX2, AVX-512).
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DSAM_BUILD_TESTS=OFF -DSAM_BUILD_BENCH=OFF \
 && cmake --build build --target sam-ml-backend \
 && strip build/sam-ml-backend

FROM debian:12-slim AS runtime
# Exactly the libraries `ldd sam-ml-backend` asks for (their own dependencies come with them);
# ca-certificates for HTTPS image downloads, curl for the health check and DOWNLOAD_MODELS.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libdnnl2 libonnx1 libprotobuf32 libspdlog1.10 libcurl4 \
      libjpeg62-turbo libpng16-16 libwebp7 libpugixml1v5 libcpp-httplib0.11 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin sam
COPY --from=build /src/build/sam-ml-backend /usr/local/bin/sam-ml-backend
COPY scripts/download_models.sh /usr/local/bin/download_models.sh

# DOWNLOAD_MODELS: space-separated names for download_models.sh (mobile_sam vit_h vit_l vit_b).
# A bind mount on /data hides anything baked under it: bake into another MODEL_DIR.
ARG DOWNLOAD_MODELS=""
ARG MODEL_DIR=/data/models
ENV MODEL_DIR=${MODEL_DIR} \
    PORT=9090
RUN mkdir -p "$MODEL_DIR" && chown sam:sam "$MODEL_DIR"
USER sam
RUN if [ -n "$DOWNLOAD_MODELS" ]; then download_models.sh $DOWNLOAD_MODELS; fi

EXPOSE 9090
# /health answers 200 while the server is up; it needs the credentials when basic auth is on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS ${BASIC_AUTH_USER:+-u "$BASIC_AUTH_USER:$BASIC_AUTH_PASS"} \
      "http://127.0.0.1:${PORT:-9090}/health" >/dev/null || exit 1
ENTRYPOINT ["sam-ml-backend"]
CMD ["serve"]
