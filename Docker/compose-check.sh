#!/usr/bin/env bash
# Brings the top-level compose.yaml up with every Compose this host has (`docker compose`, v2,
# and `docker-compose`, v1), waits until all six containers are healthy and every virtual client
# is online, then takes it down. Exits non-zero when either Compose fails to; leaves nothing.
#
#   Docker/compose-check.sh        (needs a running engine and the image stormlab:local)
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) compose-check: $*"; }
project=stormlab-compose-check
expected=6   # 1 auth, 3 supernodes, 2 clients

check() {
  local name=$1; shift
  local compose=("$@" --project-name "$project" --file compose.yaml)
  trap '"${compose[@]}" down --volumes --timeout 5 >/dev/null 2>&1 || true' RETURN
  local started=$SECONDS
  log "$name: up"
  "${compose[@]}" up --detach --quiet-pull >/dev/null 2>&1 || "${compose[@]}" up --detach
  local healthy=0
  for _ in $(seq 1 90); do
    healthy=$(docker ps --filter "label=com.docker.compose.project=$project" --filter health=healthy -q | wc -l)
    [ "$healthy" -ge "$expected" ] && break
    sleep 1
  done
  if [ "$healthy" -lt "$expected" ]; then
    log "$name: FAIL: $healthy of $expected containers healthy after 90 s"
    docker ps -a --filter "label=com.docker.compose.project=$project" --format '{{.Names}} {{.Status}}'
    return 1
  fi
  log "$name: $expected containers healthy $((SECONDS - started)) s after up"
  # Every virtual client online, read from the clients' metrics at their lab-network addresses.
  local online=0 total=0
  for _ in $(seq 1 60); do
    online=0 total=0
    for id in $(docker ps --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.service=client -q); do
      address=$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id")
      page=$(curl --silent --max-time 2 "http://$address:9300/metrics" || true)
      online=$((online + $(awk '/^stormlab_client_online / { printf "%d", $2 }' <<<"$page")))
      total=$((total + $(awk '/^stormlab_client_virtual_clients / { printf "%d", $2 }' <<<"$page")))
    done
    [ "$total" -gt 0 ] && [ "$online" -eq "$total" ] && break
    sleep 1
  done
  if [ "$total" -eq 0 ] || [ "$online" -ne "$total" ]; then
    log "$name: FAIL: $online of $total virtual clients online"
    return 1
  fi
  log "$name: $online of $total virtual clients online $((SECONDS - started)) s after up"
}

status=0
checked=0
if docker compose version >/dev/null 2>&1; then
  checked=$((checked + 1)); check "docker compose (v2)" docker compose || status=1
fi
if command -v docker-compose >/dev/null; then
  checked=$((checked + 1)); check "docker-compose (v1)" docker-compose || status=1
fi
[ "$checked" -gt 0 ] || { log "neither docker compose nor docker-compose is installed"; exit 1; }
left=$(docker ps -aq --filter "label=com.docker.compose.project=$project" | wc -l)
[ "$left" -eq 0 ] || { log "FAIL: $left containers left behind"; status=1; }
exit $status
