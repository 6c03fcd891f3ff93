# Custom SDK container for pretext's Beam workers (Dataflow, Flink, any
# portable runner): Beam's Go SDK boot program, ffmpeg and ffprobe for video
# frames and non-WAV audio, CA certificates for gs:// and s3://, and the
# pretext binary. Not built by this repository's scripts or CI (no Docker
# engine there); see docs/running.md. Build it from the repository root, on
# any machine:
#
#   CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o bin/pretext-linux-amd64 ./cmd/pretext
#   docker buildx build --platform linux/amd64 -t REGION-docker.pkg.dev/PROJECT/REPO/pretext-worker:VERSION --push .
#
# The image is linux/amd64 whatever the machine that builds it: the worker
# binary is, and so are Dataflow's default workers. Without a platform, an
# arm64 machine (an Apple-silicon laptop) pulls the arm64 variant of Debian
# (and of Beam's SDK image, where it has one), and the workers then cannot
# run the image's boot or ffmpeg ("exec format error"). So every FROM names
# linux/amd64, and the build command does too, so that the pushed manifest
# says amd64; on an arm64 machine the RUN step goes through Docker's
# emulation (slower, same packages).
#
# apache/beam_go_sdk is distroless (Beam's sdks/go/container/Dockerfile:
# gcr.io/distroless/base-nossl-debian12, copied onto scratch): it has no
# shell and no apt-get, so nothing can be installed on top of it. This image
# takes the other form that Beam and Dataflow document for custom containers:
# a Debian base of the same release, Beam's /opt/apache/beam copied from the
# SDK image of the same version as go.mod's Beam, and its boot as ENTRYPOINT.
ARG BEAM_VERSION=2.77.0
FROM --platform=linux/amd64 apache/beam_go_sdk:${BEAM_VERSION} AS beam

FROM --platform=linux/amd64 debian:bookworm-slim
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
