# syntax=docker/dockerfile:1
# lmactl: the admin and client tool; in Kubernetes it runs the migration Job (`lmactl migrate`).
# Built with the pinned Rust toolchain, run as non-root on distroless cc. From the repository root:
#   docker build -f deploy/docker/lmactl.Dockerfile -t lma/lmactl:VERSION .
# checkov:skip=CKV_DOCKER_2: a one-shot command, not a server: there is nothing for a HEALTHCHECK to probe.

FROM rust:1.95.0-slim-bookworm AS build
# The image's toolchain is the one rust-toolchain.toml pins; naming it keeps rustup offline.
ENV RUSTUP_TOOLCHAIN=1.95.0 CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p lmactl --bin lmactl \
    && install -D -m 0755 target/release/lmactl /out/lmactl

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/lmactl /usr/local/bin/lmactl
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/lmactl"]
