#!/usr/bin/env bash
# Installs Compose v2 as the Docker CLI plugin (`docker compose`) on a Debian 12 host, beside
# Debian 12's docker-compose 1.29 (v1), which stays `docker-compose`. Debian 12 has no Compose
# v2; Debian 13 (trixie) packages it, a static Go binary. This fetches that package with a
# private apt state (the host's sources stay as they are; apt checks the archive's signatures),
# and puts only the plugin in /usr/local/lib/docker/cli-plugins. Needs root; idempotent.
#
#   Docker/install-compose-v2.sh          (exits 0 when `docker compose` already works)
set -euo pipefail
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) install-compose-v2: $*"; }

if docker compose version >/dev/null 2>&1; then
  log "already installed: $(docker compose version)"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb http://deb.debian.org/debian trixie main" >"$work/sources.list"
apt=(-qq -o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- \
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
log "fetching docker-compose from Debian trixie"
apt-get "${apt[@]}" update
(cd "$work" && apt-get "${apt[@]}" download docker-compose)
dpkg-deb -x "$work"/docker-compose_*.deb "$work/root"
install -D -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" \
  /usr/local/lib/docker/cli-plugins/docker-compose
log "installed: $(docker compose version)"
