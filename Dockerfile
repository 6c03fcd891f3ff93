# Custom SDK container for pretext's Beam workers (Dataflow, Flink, any
# portable runner): Beam's Go SDK boot program, ffmpeg and ffprobe for video
# frames and non-WAV audio, CA certificates for gs:// and s3://, and the
# pretext binary. Not built by this repository's scripts or CI (no Docker
# engine there); see docs/running.md. Build it on linux/amd64, from the
# repository root:
#
#   CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o bin/pretext-linux-amd64 ./cmd/pretext
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/pretext-worker:VERSION .
#   docker push REGION-docker.pkg.dev/PROJECT/REPO/pretext-worker:VERSION
#
# apache/beam_go_sdk is distroless (Beam's sdks/go/container/Dockerfile:
# gcr.io/distroless/base-nossl-debian12, copied onto scratch): it has no
# shell and no apt-get, so nothing can be installed on top of it. This image
# takes the other form that Beam and Dataflow document for custom containers:
# a Debian base of the same release, Beam's /opt/apache/beam copied from the
# SDK image of the same version as go.mod's Beam, and its boot as ENTRYPOINT.
ARG BEAM_VERSION=2.77.0
FROM apache/beam_go_sdk:${BEAM_VERSION} AS beam

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# boot fetches the worker binary the job staged (--worker_binary, or the
# launcher's build) and runs it; it needs nothing else from the image.
COPY --from=beam /opt/apache/beam /opt/apache/beam

# The same binary, for launching from this image (the launcher must run the
# build it stages: docker run --entrypoint pretext IMAGE run … --worker_binary=/usr/local/bin/pretext).
COPY bin/pretext-linux-amd64 /usr/local/bin/pretext

# Workers find ffmpeg on PATH; PRETEXT_FFMPEG / PRETEXT_FFPROBE override it.
ENTRYPOINT ["/opt/apache/beam/boot"]
