# syntax=docker/dockerfile:1
# ingest-svc: built with the pinned Rust toolchain, run as non-root on distroless cc (glibc, no
# shell, no package manager). Build from the repository root:
#   docker build -f deploy/docker/ingest-svc.Dockerfile -t lma/ingest-svc:VERSION .
# checkov:skip=CKV_DOCKER_2: the image has no shell or client for a HEALTHCHECK; Kubernetes probes grpc.health.v1 natively (deploy/k8s).

FROM rust:1.95.0-slim-bookworm AS build
# The image's toolchain is the one rust-toolchain.toml pins; naming it keeps rustup offline.
ENV RUSTUP_TOOLCHAIN=1.95.0 CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ingest-svc --bin ingest-svc \
    && install -D -m 0755 target/release/ingest-svc /out/ingest-svc

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ingest-svc /usr/local/bin/ingest-svc
# distroless's "nonroot" user, numerically so runAsNonRoot can verify it.
USER 65532:65532
ENV LMA_LISTEN_ADDR=0.0.0.0:50051 LMA_LOG_FORMAT=json
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/ingest-svc"]
