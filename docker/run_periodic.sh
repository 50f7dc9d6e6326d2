#!/bin/sh
# Run a command now, then every $INFOTRAFIC_INTERVAL seconds (0 or unset: only once).
# A failed run is reported and retried at the next tick instead of stopping the service.
set -u
interval="${INFOTRAFIC_INTERVAL:-0}"
while :; do
    echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] run: $*"
    "$@"
    status=$?
    if [ "$interval" -le 0 ] 2>/dev/null; then
        exit "$status"
    fi
    [ "$status" -ne 0 ] && echo "run failed with status $status; next try in ${interval}s" >&2
    sleep "$interval"
done
