#!/bin/sh
# The ingest service: `infotrafic sync` from the portal (INFOTRAFIC_INGEST_MODE=sync, default)
# or `infotrafic stream` from the MQTT broker (INFOTRAFIC_INGEST_MODE=stream), into the store
# /data/processed. Both run under docker/run_periodic.sh, which passes SIGTERM on.
#
#   sync    every INFOTRAFIC_INTERVAL seconds: the hours after the newest stored one of each
#           arc of INFOTRAFIC_ARCS.
#   stream  subscribes to INFOTRAFIC_MQTT_TOPIC on INFOTRAFIC_MQTT_BROKER (HOST:PORT) and stores
#           batches every INFOTRAFIC_MQTT_FLUSH; restarted INFOTRAFIC_INTERVAL seconds after it
#           exits. With INFOTRAFIC_MQTT_RELAY=1 the container also feeds the broker where no
#           sensor feed exists: `infotrafic publish --from-portal` of the newest hour of
#           INFOTRAFIC_ARCS every INFOTRAFIC_RELAY_INTERVAL seconds.
#
# With arguments, runs them instead (`docker compose run --rm ingest infotrafic publish ...`).
set -eu
if [ $# -gt 0 ]; then
    exec "$@"
fi
mode="${INFOTRAFIC_INGEST_MODE:-sync}"
arcs=""
for a in ${INFOTRAFIC_ARCS:-}; do
    arcs="$arcs --arc $a"
done
auth=""
if [ -n "${INFOTRAFIC_MQTT_USERNAME:-}" ]; then
    auth="--username $INFOTRAFIC_MQTT_USERNAME --password-file ${INFOTRAFIC_MQTT_PASSWORD_FILE:?set INFOTRAFIC_MQTT_PASSWORD_FILE}"
fi

case "$mode" in
    sync)
        # shellcheck disable=SC2086
        exec sh docker/run_periodic.sh infotrafic sync --out /data/processed --no-progress $arcs
        ;;
    stream)
        broker="${INFOTRAFIC_MQTT_BROKER:-mosquitto:1883}"
        if [ "${INFOTRAFIC_MQTT_RELAY:-0}" = 1 ]; then
            # shellcheck disable=SC2086
            INFOTRAFIC_INTERVAL="${INFOTRAFIC_RELAY_INTERVAL:-3600}" sh docker/run_periodic.sh \
                infotrafic publish --broker "$broker" $auth --from-portal $arcs &
        fi
        interval="${INFOTRAFIC_INTERVAL:-0}"
        [ "$interval" -le 0 ] 2>/dev/null && interval=10  # a subscriber is restarted, not run once
        # shellcheck disable=SC2086
        INFOTRAFIC_INTERVAL="$interval" exec sh docker/run_periodic.sh infotrafic -v stream \
            --broker "$broker" $auth --topic "${INFOTRAFIC_MQTT_TOPIC:-paris/comptages/#}" \
            --out /data/processed --flush "${INFOTRAFIC_MQTT_FLUSH:-10s}" \
            --client-id "${INFOTRAFIC_MQTT_CLIENT_ID:-infotrafic-ingest}"
        ;;
    *)
        echo "ingest.sh: INFOTRAFIC_INGEST_MODE=$mode: use sync or stream" >&2
        exit 2
        ;;
esac
