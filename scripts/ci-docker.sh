#!/usr/bin/env bash
# A real Docker engine and a build image for the Docker tests, without any registry.
#
#   eval "$(scripts/ci-docker.sh start)"   # installs, starts dockerd, builds the image;
#                                          # prints the exports the tests read
#   scripts/ci-docker.sh stop              # stops the dockerd started above, by its PID
#
# The engine runs with the vfs storage driver and no bridge or iptables (what a CI
# container allows); build containers therefore use the host network. The images are
# debootstrap'ed Debian: bookworm (Python 3.11) serves python3.11 targets, trixie
# (Python 3.13) serves python3.13 targets.
# Everything but the final exports goes to stderr. Needs root.
set -euo pipefail

IMAGE="${MLAYER_TEST_DOCKER_IMAGE:-mlayer-ci/bookworm-python3.11:latest}"
IMAGE_313="${MLAYER_TEST_DOCKER_IMAGE_313:-mlayer-ci/trixie-python3.13:latest}"
STATE="${MLAYER_CI_DOCKER_STATE:-/tmp/mlayer-ci-docker}"
PIDFILE="$STATE/dockerd.pid"
log() { echo "ci-docker: $*" >&2; }

engine_answers() { docker version >/dev/null 2>&1; }

start() {
    mkdir -p "$STATE"
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
        log "installing docker.io and debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >&2
    fi
    if engine_answers; then
        log "a Docker engine already answers; using it"
    else
        log "starting dockerd (vfs, no bridge, no iptables)"
        dockerd --storage-driver=vfs --iptables=false --bridge=none \
            >"$STATE/dockerd.log" 2>&1 &
        echo $! >"$PIDFILE"
        for _ in $(seq 1 60); do engine_answers && break; sleep 1; done
        engine_answers || { log "dockerd did not answer; see $STATE/dockerd.log"; exit 1; }
    fi
    build_image "$IMAGE" bookworm
    build_image "$IMAGE_313" trixie
    echo "export MLAYER_TEST_DOCKER_IMAGE='$IMAGE'"
    echo "export MLAYER_TEST_DOCKER_IMAGE_313='$IMAGE_313'"
}

# build_image IMAGE SUITE: a minimal Debian SUITE with python3, pip, venv and zip,
# imported as IMAGE (skipped when IMAGE exists).
build_image() {
    local image="$1" suite="$2"
    if docker image inspect "$image" >/dev/null 2>&1; then
        log "image $image already exists"
        return
    fi
    log "building $image from Debian $suite with debootstrap (about a minute)"
    local rootfs="$STATE/rootfs-$suite"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,zip \
        "$suite" "$rootfs" >"$STATE/debootstrap-$suite.log" 2>&1 \
        || { log "debootstrap failed; see $STATE/debootstrap-$suite.log"; exit 1; }
    tar -C "$rootfs" -c . | docker import - "$image" >&2
    rm -rf "$rootfs"
}

stop() {
    if [[ -f "$PIDFILE" ]]; then
        local pid
        pid=$(cat "$PIDFILE")
        log "stopping dockerd (pid $pid)"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        rm -f "$PIDFILE"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
