#!/bin/sh
# Run a command now, then every $INFOTRAFIC_INTERVAL seconds (0 or unset: only once).
# A failed run is reported and retried at the next tick instead of stopping the service.
# SIGTERM/SIGINT (docker stop, Ctrl-C) are passed on to the running command, whose exit status
# becomes the script's: a long-running command such as `infotrafic stream` can finish its work
# (store its pending batch) before the container stops.
set -u
interval="${INFOTRAFIC_INTERVAL:-0}"
child=""

stop() {
    if [ -n "$child" ]; then
        echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] $1: passed on to the running command" >&2
        kill -s "$1" "$child" 2>/dev/null
        wait "$child"
        exit $?
    fi
    exit 0
}
trap 'stop TERM' TERM
trap 'stop INT' INT

while :; do
    echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] run: $*"
    "$@" &
    child=$!
    wait "$child"
    status=$?
    child=""
    if [ "$interval" -le 0 ] 2>/dev/null; then
        exit "$status"
    fi
    [ "$status" -ne 0 ] && echo "run failed with status $status; next try in ${interval}s" >&2
    sleep "$interval" &
    wait $!  # a signal interrupts the wait at once (not the sleep)
done
