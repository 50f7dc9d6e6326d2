#!/bin/sh
# Start mosquitto with a configuration written from the environment:
#
#   INFOTRAFIC_BIND              listener address (0.0.0.0 in the compose network, 127.0.0.1 on
#                                the host network)
#   INFOTRAFIC_MQTT_PORT         listener port (1883)
#   INFOTRAFIC_MQTT_PASSWORD_FILE  a mosquitto_passwd file: clients must authenticate
#                                (default: anonymous clients allowed; the port is published on
#                                127.0.0.1 only)
#   INFOTRAFIC_MQTT_MAX_QUEUED   messages kept per offline persistent session (default 0: no
#                                cap, so that a subscriber restarted late loses nothing)
#
# Sessions, subscriptions and queued messages persist in /data/mosquitto (saved every
# 60 s and on SIGTERM), so `infotrafic stream` resumes after a broker restart.
set -eu
data=/data/mosquitto
mkdir -p "$data"
conf=/tmp/mosquitto.conf
{
    echo "listener ${INFOTRAFIC_MQTT_PORT:-1883} ${INFOTRAFIC_BIND:-0.0.0.0}"
    echo "persistence true"
    echo "persistence_location $data/"
    echo "autosave_interval 60"
    echo "max_queued_messages ${INFOTRAFIC_MQTT_MAX_QUEUED:-0}"
    echo "log_dest stdout"
    echo "log_type error"
    echo "log_type warning"
    echo "log_type notice"
    echo "log_type information"
    if [ -n "${INFOTRAFIC_MQTT_PASSWORD_FILE:-}" ]; then
        echo "allow_anonymous false"
        echo "password_file $INFOTRAFIC_MQTT_PASSWORD_FILE"
    else
        echo "allow_anonymous true"
    fi
} > "$conf"
# As root, mosquitto runs as the user `mosquitto` (created by the package): let it write there.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown -R mosquitto: "$data"
fi
echo "mosquitto.sh: $(head -n 1 "$conf"), persistence in $data"
exec mosquitto -c "$conf"
