#!/usr/bin/env bash
# Docker CI for Berth, run by .ci/run (or by hand, as root, from anywhere).
#
# This machine runs a Docker engine but can pull no image, so the script first
# makes the two base images the Dockerfiles name, locally and under the same
# names:
#   debian:bookworm-slim      a Debian root filesystem made by debootstrap
#                             (variant minbase) from the host's own Debian mirror,
#                             trimmed like the official slim image, `docker import`ed;
#   rust:<X.Y>-slim-bookworm  that image plus this machine's Rust toolchain (the
#                             official image's minimal profile: rustc, cargo,
#                             rust-std) and gcc/libc6-dev from apt.
# Both are reused when they already exist. Then it builds docker/Dockerfile and
# docker/test.Dockerfile unchanged, starts the runtime image and checks that it
# serves the demo page, turns healthy, runs as a non-root user and obeys a
# mounted config, prints the image sizes, and runs the test image.
#
# Environment: BERTH_DOCKER_REBUILD_BASES=1 remakes the base images;
# DEBIAN_MIRROR overrides the mirror read from /etc/apt/sources.list*;
# BERTH_DOCKER_NETWORK=host|bridge forces the build network (default: probed).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== docker: %s (at %ds)\n' "$*" "$SECONDS"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf 'docker/ci.sh: FAILED: %s\n' "$*" >&2
  exit 1
}

RUNTIME_TAG=berth:ci
TEST_TAG=berth-test:ci
SUITE=bookworm
# Every container this script starts carries this label, so cleanup finds them all.
RUN_LABEL="berth-ci=$$"
WORK=$(mktemp -d /tmp/berth-docker-ci.XXXXXX)
started=$SECONDS

# Unmounts whatever a failed debootstrap may have left mounted under $1
# (proc, sys), deepest first, so that removing the folder stays inside it.
unmount_under() {
  awk -v dir="$1/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" || true; done
}

cleanup() {
  local ids
  ids=$(docker ps -aq --filter "label=$RUN_LABEL" 2>/dev/null || true)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null 2>&1 || true
  fi
  unmount_under "$WORK"
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The image a Dockerfile's first FROM line names (the Dockerfiles are the one
# source of truth for the base image names).
from_image() {
  awk 'toupper($1) == "FROM" { print $2; exit }' "$1"
}

# The URI of the host's apt source for suite $1 (one-line and deb822 formats).
apt_source_uri() {
  local suite=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uri = ""; ok = 0; deb = 1
        for (l = 1; l <= NF; l++) {
          line = $l
          if (line ~ /^Types:/ && line !~ /[ \t]deb([ \t]|$)/) deb = 0
          if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); split(line, u, /[ \t]+/); uri = u[1] }
          if (line ~ /^Suites:/) {
            n = split(line, s, /[ \t]+/)
            for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1
          }
        }
        if (ok && deb && uri != "") { print uri; exit }
      }' "$f"
  done
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# --- debian:bookworm-slim ---------------------------------------------------
make_debian_image() {
  local name=$1 mirror security root
  mirror=${DEBIAN_MIRROR:-$(apt_source_uri "$SUITE" | head -n1)}
  [ -n "$mirror" ] || die "no apt source for $SUITE in /etc/apt/sources.list*; set DEBIAN_MIRROR"
  security=$(apt_source_uri "$SUITE-security" | head -n1)
  if ! command -v debootstrap >/dev/null; then
    info "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  fi
  root=$WORK/rootfs
  info "debootstrap --variant=minbase $SUITE from $mirror"
  debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  unmount_under "$root"

  # The container's apt uses the same mirror as the host.
  rm -f "$root/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$SUITE" "$SUITE"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [ -n "$security" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$SUITE"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$root/etc/apt/sources.list.d/debian.sources"

  # Trim it the way the official slim image is trimmed: no docs, man pages or
  # translations now or from later apt installs, no apt caches.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  printf 'APT::Install-Recommends "false";\n' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf --one-file-system "$root"/usr/share/{man,info,groff,lintian,linda,locale}/* \
    "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*.log \
    "$root"/var/log/apt/* "$root"/tmp/*
  # Left empty, so the image does not carry the build machine's name or resolver.
  : >"$root/etc/hostname"
  : >"$root/etc/resolv.conf"

  info "docker import -> $name"
  tar --numeric-owner -C "$root" -c . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' \
      --message "debootstrap --variant=minbase $SUITE $mirror (berth docker/ci.sh)" \
      - "$name" >/dev/null
  rm -rf --one-file-system "$root"
}

# --- rust:X.Y-slim-bookworm -------------------------------------------------
make_rust_image() {
  local name=$1 base=$2 sysroot version host ctx tc
  sysroot=$(rustc --print sysroot)
  version=$(rustc --version | awk '{ print $2 }')
  host=$(rustc -vV | awk '$1 == "host:" { print $2 }')
  ctx=$WORK/rust-image
  tc=$ctx/toolchain
  mkdir -p "$tc/bin"
  # The official image's minimal profile: rustc (with rustdoc), cargo, rust-std.
  # No rustfmt or clippy, so nothing here depends on what the real image lacks.
  for b in rustc rustdoc cargo rust-gdb rust-gdbgui rust-lldb; do
    if [ -e "$sysroot/bin/$b" ]; then cp -a "$sysroot/bin/$b" "$tc/bin/"; fi
  done
  cp -a "$sysroot/lib" "$tc/"
  if [ -d "$sysroot/libexec" ]; then cp -a "$sysroot/libexec" "$tc/"; fi
  # Modes set here, not by a RUN chmod, which would copy the toolchain into a
  # second layer.
  chmod -R a+rX,a+w "$tc"
  cat >"$ctx/Dockerfile" <<EOF
FROM $base
ENV RUSTUP_HOME=/usr/local/rustup \\
    CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    RUST_VERSION=$version
RUN set -eux; \\
    apt-get update; \\
    apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev; \\
    rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rustup/toolchains/$version-$host
RUN set -eux; \\
    mkdir -p "\$CARGO_HOME/bin"; \\
    for b in /usr/local/rustup/toolchains/$version-$host/bin/*; do ln -s "\$b" "\$CARGO_HOME/bin/"; done; \\
    chmod -R a+w "\$CARGO_HOME"; \\
    rustc --version; cargo --version
EOF
  info "rust $version ($host) from $sysroot -> $name"
  docker build --force-rm "${BUILD_NET[@]}" -t "$name" "$ctx" >"$WORK/rust-image.log" 2>&1 ||
    { tail -n 30 "$WORK/rust-image.log" >&2; die "building $name failed"; }
  rm -rf "$ctx"
}

# Can a container on Docker's default bridge reach the Debian mirror (for the
# apt-get steps of the Dockerfiles)?
probe_bridge_apt() {
  local image=$1 mirror
  mirror=${DEBIAN_MIRROR:-$(apt_source_uri "$SUITE" | head -n1)}
  docker run --rm --label "$RUN_LABEL" "$image" bash -c '
    u=${1#*://}; h=${u%%/*}; p=80
    case $1 in https:*) p=443 ;; esac
    timeout 10 bash -c "exec 3<>/dev/tcp/$h/$p"' probe "$mirror" >/dev/null 2>&1
}

# Can cargo in a build container fetch crates from the crate registry (name lookup, TLS, index)?
probe_crates() {
  docker run --rm --label "$RUN_LABEL" "${BUILD_NET[@]}" "$1" bash -c '
    set -e; cd /tmp; cargo new --quiet --lib probe; cd probe
    printf "cfg-if = \"1\"\n" >>Cargo.toml
    timeout 60 cargo fetch --quiet' >"$WORK/crates-probe.log" 2>&1
}

# The build context: the repository as it is (less target/ and .git/) with its
# crates vendored and a .cargo/config.toml that points cargo at them, so the
# unchanged Dockerfiles build with no registry access.
make_vendored_context() {
  local ctx=$WORK/context
  mkdir -p "$ctx/.cargo"
  tar -C . --exclude=./target --exclude=./.git -cf - . | tar -C "$ctx" -xf -
  (cd "$ctx" && cargo vendor --locked vendor >"$WORK/vendor.toml" 2>"$WORK/vendor.log") ||
    { cat "$WORK/vendor.log" >&2; die "cargo vendor failed"; }
  printf '\n' >>"$ctx/.cargo/config.toml"
  cat "$WORK/vendor.toml" >>"$ctx/.cargo/config.toml"
  info "vendored $(find "$ctx/vendor" -mindepth 1 -maxdepth 1 -type d | wc -l) crates into the context"
  CONTEXT=$ctx
}

# --- checks on the running image --------------------------------------------
http_get() { curl -fsS --max-time 5 "$1"; }

wait_for_page() {
  local url=$1 want=$2 i
  for i in $(seq 1 30); do
    if http_get "$url" 2>/dev/null | grep -q "$want"; then return 0; fi
    sleep 1
  done
  return 1
}

wait_healthy() {
  local c=$1 status i
  for i in $(seq 1 90); do
    status=$(docker inspect --format '{{.State.Health.Status}}' "$c")
    case $status in
      healthy) info "health: healthy after ${i}s"; return 0 ;;
      unhealthy) break ;;
    esac
    sleep 1
  done
  docker inspect --format '{{json .State.Health}}' "$c" >&2
  return 1
}

container_logs() {
  echo "--- logs of $1" >&2
  docker logs "$1" >&2 2>&1 || true
}

# The host port published for the container's 8080, once it is running.
host_port() {
  local c=$1 i port
  for i in $(seq 1 10); do
    port=$(docker port "$c" 8080/tcp 2>/dev/null | awk -F: 'NR == 1 { print $NF }')
    if [ -n "$port" ]; then echo "$port"; return 0; fi
    [ "$(docker inspect --format '{{.State.Running}}' "$c")" = true ] || break
    sleep 1
  done
  info "container ${c:0:12} is not running: $(docker inspect --format '{{.State.Status}} (exit {{.State.ExitCode}})' "$c")"
  return 1
}

# ============================================================================
step "docker engine"
command -v docker >/dev/null || die "docker is not installed"
command -v curl >/dev/null || die "curl is not installed"
docker version --format 'client {{.Client.Version}}, server {{.Server.Version}}' ||
  die "the Docker engine does not answer"

# The builder is the first stage of docker/Dockerfile, the runtime its last.
RUST_IMAGE=$(from_image docker/Dockerfile)
DEBIAN_IMAGE=$(awk 'toupper($1) == "FROM" { img = $2 } END { print img }' docker/Dockerfile)
[ "$DEBIAN_IMAGE" = "debian:$SUITE-slim" ] ||
  die "docker/Dockerfile's last stage is $DEBIAN_IMAGE, expected debian:$SUITE-slim"
[ "$(from_image docker/test.Dockerfile)" = "$RUST_IMAGE" ] ||
  die "docker/Dockerfile and docker/test.Dockerfile name different builder images"
info "builder image: $RUST_IMAGE, runtime image: $DEBIAN_IMAGE"
host_rust=$(rustc --version | awk '{ split($2, v, "."); print v[1] "." v[2] }')
case $RUST_IMAGE in
  rust:"$host_rust"-*) ;;
  *) die "$RUST_IMAGE is not the host's toolchain (rustc $host_rust): update docker/*Dockerfile" ;;
esac

if [ "${BERTH_DOCKER_REBUILD_BASES:-0}" = 1 ]; then
  docker rmi -f "$RUST_IMAGE" "$DEBIAN_IMAGE" >/dev/null 2>&1 || true
fi

step "base image $DEBIAN_IMAGE"
if image_exists "$DEBIAN_IMAGE"; then
  info "exists, reused ($(docker image inspect -f '{{.Id}}' "$DEBIAN_IMAGE" | cut -c1-19))"
else
  make_debian_image "$DEBIAN_IMAGE"
fi

step "network for builds"
case ${BERTH_DOCKER_NETWORK:-probe} in
  host) BUILD_NET=(--network host) ;;
  bridge) BUILD_NET=() ;;
  *)
    if probe_bridge_apt "$DEBIAN_IMAGE"; then
      BUILD_NET=()
      info "the default bridge reaches the Debian mirror: builds use it"
    else
      BUILD_NET=(--network host)
      info "the default bridge reaches no Debian mirror: builds use --network host"
    fi
    ;;
esac

step "base image $RUST_IMAGE"
host_rust_version=$(rustc --version | awk '{ print $2 }')
if image_exists "$RUST_IMAGE" &&
  ! docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$RUST_IMAGE" |
  grep -qx "RUST_VERSION=$host_rust_version"; then
  info "exists with another toolchain than rustc $host_rust_version: made again"
  docker rmi -f "$RUST_IMAGE" >/dev/null
fi
if image_exists "$RUST_IMAGE"; then
  info "exists, reused ($(docker image inspect -f '{{.Id}}' "$RUST_IMAGE" | cut -c1-19))"
else
  make_rust_image "$RUST_IMAGE" "$DEBIAN_IMAGE"
fi
docker run --rm --label "$RUN_LABEL" "$RUST_IMAGE" rustc --version

step "crates for the builds"
CONTEXT=.
if probe_crates "$RUST_IMAGE"; then
  info "a build container fetches crates from the registry: the context is the repository"
else
  sed 's/^/    probe: /' "$WORK/crates-probe.log" | tail -n 3
  info "a build container cannot fetch crates: cargo vendor on the host"
  make_vendored_context
fi

step "build docker/Dockerfile -> $RUNTIME_TAG"
t0=$SECONDS
docker build --force-rm "${BUILD_NET[@]}" -f docker/Dockerfile -t "$RUNTIME_TAG" "$CONTEXT" || die "docker/Dockerfile does not build"
info "built in $((SECONDS - t0))s"

step "build docker/test.Dockerfile -> $TEST_TAG"
t0=$SECONDS
docker build --force-rm "${BUILD_NET[@]}" -f docker/test.Dockerfile -t "$TEST_TAG" "$CONTEXT" || die "docker/test.Dockerfile does not build"
info "built in $((SECONDS - t0))s"

step "runtime container serves the demo site"
c=$(docker run -d --label "$RUN_LABEL" -p 127.0.0.1::8080 "$RUNTIME_TAG")
port=$(host_port "$c") || { container_logs "$c"; die "the runtime container did not start"; }
info "container ${c:0:12} on 127.0.0.1:$port"
if ! wait_for_page "http://127.0.0.1:$port/" "It works"; then
  container_logs "$c"
  die "GET / did not return the demo page"
fi
http_get "http://127.0.0.1:$port/" | grep -m1 '<title>' | sed 's/^/    GET \/ -> /'

step "health check turns healthy"
if ! wait_healthy "$c"; then
  container_logs "$c"
  die "the container did not turn healthy"
fi

step "runs as a non-root user"
pid=$(docker inspect --format '{{.State.Pid}}' "$c")
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
user=$(docker exec "$c" id -un)
info "berth (pid $pid on the host) runs as uid $uid ($user)"
[ "$uid" != 0 ] || die "berth runs as root in the container"
docker rm -f "$c" >/dev/null

step "a mounted config overrides the default"
site=$WORK/site
mkdir -p "$site"
printf '<!DOCTYPE html><title>mounted</title><p>mounted site %s</p>\n' "$$" >"$site/index.html"
cat >"$WORK/berth.conf" <<'EOF'
server {
    listen 8080;
    root /srv/site;
    index index.html;
}
EOF
chmod -R a+rX "$site" "$WORK/berth.conf"
chmod a+x "$WORK"
c=$(docker run -d --label "$RUN_LABEL" -p 127.0.0.1::8080 \
  -v "$WORK/berth.conf:/etc/berth/berth.conf:ro" -v "$site:/srv/site:ro" "$RUNTIME_TAG")
port=$(host_port "$c") || { container_logs "$c"; die "the container with a mounted config did not start"; }
if ! wait_for_page "http://127.0.0.1:$port/" "mounted site $$"; then
  container_logs "$c"
  die "the mounted config was not used"
fi
info "GET / -> the mounted site"
docker rm -f "$c" >/dev/null

step "image sizes"
for image in "$DEBIAN_IMAGE" "$RUST_IMAGE" "$RUNTIME_TAG" "$TEST_TAG"; do
  docker image inspect --format '{{.Size}}' "$image" |
    awk -v i="$image" '{ printf "    %-26s %7.1f MB\n", i, $1 / 1e6 }'
done
size=$(docker image inspect --format '{{.Size}}' "$RUNTIME_TAG")
info "runtime image $RUNTIME_TAG: $(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }') MB ($size bytes)"
# 130 MB: the 100 MB of before, plus python3 for the CGI demos (Debian's
# python3 with its libraries is about 30 MB installed).
[ "$size" -lt 130000000 ] || die "the runtime image is not under 130 MB"

step "test image: cargo test in a container"
# Loopback only (the tests need no network), with IPv6 on it: Docker turns
# IPv6 off in containers by default and the tests listen on ::1 too.
docker run --rm --label "$RUN_LABEL" --network none --sysctl net.ipv6.conf.lo.disable_ipv6=0 \
  "$TEST_TAG" || die "the tests failed in the test image"

step "remove stale images of earlier runs"
# Images this project's Dockerfiles built (labelled org.berth.image) that no tag
# names any more: earlier builds and the builder stage. Nothing else is touched.
docker image prune -f --filter label=org.berth.image | tail -n 1 | sed 's/^/    /'

step "docker CI passed in $((SECONDS - started))s"
