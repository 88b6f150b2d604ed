# Berth's test image: the workspace's test suite in a container, so any machine
# with Docker reproduces the tests that CI runs (.ci/run) on Linux.
#
#   docker build -f docker/test.Dockerfile -t berth-test . &&
#     docker run --rm --network none --sysctl net.ipv6.conf.lo.disable_ipv6=0 berth-test
#
# The tests need loopback only (`--network none`), but IPv6 on it: Docker turns
# IPv6 off in containers unless told otherwise, and some tests listen on ::1.
#
# The build compiles everything (so a compile error fails the build); running the
# image runs the README's test command, then the poller suite on its poll(2)
# backend (`--cfg poller_force_poll`), like .ci/run. fmt, clippy and the BSD
# type-check stay in .ci/run: the official Rust image ships no rustfmt or clippy.
FROM rust:1.95-slim-bookworm
LABEL org.berth.image=test
# The external tools the black-box tests use: the ones .ci/run installs, and
# procps for kill(1), which the Debian slim base lacks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl python3 ca-certificates procps \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo fetch --locked
# From here on nothing is downloaded: the tests run with no network.
ENV CARGO_NET_OFFLINE=true \
    CARGO_TERM_COLOR=never
RUN cargo build --workspace --locked --all-targets \
 && cargo test --workspace --locked --no-run \
 && RUSTFLAGS="--cfg poller_force_poll" \
    cargo test -p poller --locked --no-run --target-dir target/force-poll
# The tests' temporary files go to a volume, i.e. the host's file system, not to
# the image's copy-on-write layer: that is faster, and on hosts whose storage
# driver is fuse-overlayfs (rootless Docker, this project's CI machines) a file
# in the layer is a FUSE file, which epoll accepts where it refuses any regular
# file, so the layer is not what the tests mean by a regular file.
VOLUME /tmp
CMD cargo test --workspace --locked \
 && RUSTFLAGS="--cfg poller_force_poll" \
    cargo test -p poller --locked --target-dir target/force-poll
