#!/bin/sh
# CI prerequisites of the dashboard screenshot and docker tests (idempotent; run as root):
#
#   sh docker/ci_prereqs.sh                # chromium, docker.io, compose, debootstrap, mosquitto; dockerd up
#   sh docker/ci_prereqs.sh --base-image   # ... and build infotrafic-base:local if missing
#
# Installs only what is missing (Debian/Ubuntu packages), starts dockerd when no engine answers
# (log: /tmp/dockerd.log), and waits until `docker info` works.
set -eu

if [ "$(id -u)" != 0 ]; then
    echo "ci_prereqs.sh: run as root (sudo sh docker/ci_prereqs.sh)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

missing=""
have() { command -v "$1" >/dev/null 2>&1; }
have chromium || have chromium-browser || missing="$missing chromium"
have debootstrap || missing="$missing debootstrap"
# the MQTT ingest tests start their own broker on a loopback port
[ -x /usr/sbin/mosquitto ] || have mosquitto || missing="$missing mosquitto"
if ! have dockerd; then
    missing="$missing docker.io"
fi
if ! docker compose version >/dev/null 2>&1 && ! have docker-compose; then
    # Debian bookworm ships compose v1 as `docker-compose`; newer releases have the v2 plugin.
    if apt-cache show docker-compose-plugin >/dev/null 2>&1; then
        missing="$missing docker-compose-plugin"
    elif apt-cache show docker-compose-v2 >/dev/null 2>&1; then
        missing="$missing docker-compose-v2"
    else
        missing="$missing docker-compose"
    fi
fi
if [ -n "$missing" ]; then
    echo "ci_prereqs.sh: installing$missing"
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing ca-certificates
fi

if ! docker info >/dev/null 2>&1; then
    if pgrep -x dockerd >/dev/null 2>&1; then
        echo "ci_prereqs.sh: dockerd is running; waiting for it"
    else
        echo "ci_prereqs.sh: starting dockerd (log /tmp/dockerd.log)"
        nohup dockerd >>/tmp/dockerd.log 2>&1 &
    fi
    i=0
    until docker info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 60 ]; then
            echo "ci_prereqs.sh: dockerd did not come up; see /tmp/dockerd.log" >&2
            tail -n 30 /tmp/dockerd.log >&2 || true
            exit 1
        fi
        sleep 1
    done
fi
echo "ci_prereqs.sh: docker $(docker version --format '{{.Server.Version}}') ready"

if [ "${1:-}" = "--base-image" ]; then
    sh "$(dirname "$0")/build_base.sh"
fi
