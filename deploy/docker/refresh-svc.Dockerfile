# syntax=docker/dockerfile:1
# refresh-svc: built with the pinned Rust toolchain, run as non-root on distroless cc (glibc, no
# shell, no package manager). Build from the repository root:
#   docker build -f deploy/docker/refresh-svc.Dockerfile -t lma/refresh-svc:VERSION .
# checkov:skip=CKV_DOCKER_2: the image has no shell or client for a HEALTHCHECK; Kubernetes probes grpc.health.v1 natively (deploy/k8s).

FROM rust:1.95.0-slim-bookworm AS build
# The image's toolchain is the one rust-toolchain.toml pins; naming it keeps rustup offline.
ENV RUSTUP_TOOLCHAIN=1.95.0 CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p refresh-svc --bin refresh-svc \
    && install -D -m 0755 target/release/refresh-svc /out/refresh-svc

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/refresh-svc /usr/local/bin/refresh-svc
# distroless's "nonroot" user, numerically so runAsNonRoot can verify it.
USER 65532:65532
ENV LMA_LISTEN_ADDR=0.0.0.0:50053 LMA_LOG_FORMAT=json
EXPOSE 50053
ENTRYPOINT ["/usr/local/bin/refresh-svc"]
