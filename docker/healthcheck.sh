#!/bin/bash
# Docker HEALTHCHECK for Berth, with nothing but bash (the image has no curl).
#
# Healthy means the server did a real HTTP exchange: it accepted a connection on
# its port, read and parsed a request, and sent a status line below 500. An open
# port alone would not prove the event loop runs; a 5xx says it runs but fails.
# BERTH_HEALTH_PORT (default 8080) and BERTH_HEALTH_PATH (default /) adapt it to a
# mounted config; any status below 500, a 404 included, counts as serving.
port=${BERTH_HEALTH_PORT:-8080}
path=${BERTH_HEALTH_PATH:-/}

exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: berth-healthcheck\r\nConnection: close\r\n\r\n' \
    "$path" >&3 || exit 1
IFS= read -r -t 4 status <&3 || { echo "no response on port $port"; exit 1; }
status=${status%$'\r'}
case $status in
    "HTTP/1."[01]" "[1234][0-9][0-9]*) echo "$status"; exit 0 ;;
    *) echo "unhealthy: ${status:-empty status line}"; exit 1 ;;
esac
