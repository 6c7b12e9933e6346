#!/usr/bin/env bash
# Builds the image stormlab:local offline, from this checkout: the release binary with the Swift
# standard library linked statically, plus its shared-library closure (libsystemd.so.0 and what
# it needs included), in a FROM scratch image. Needs a running Docker engine; pulls nothing.
#
#   Docker/build-image.sh [TAG]      (default stormlab:local)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-stormlab:local}
scratch=.build-static
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) image: $*"; }

log "release build with the static Swift standard library ($scratch)"
swift build -c release --product stormlab --static-swift-stdlib --scratch-path "$scratch"
binary="$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/stormlab"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/tmp" "$root/etc" "$root/run"
cp "$binary" "$root/usr/bin/stormlab"
strip "$root/usr/bin/stormlab" 2>/dev/null || true

# The dynamic loader and every library the binary and libsystemd need, at their real paths.
# awk reads to the end: exiting at the first match could kill ldconfig with SIGPIPE mid-write,
# which pipefail turns into a silent failure of this script.
libsystemd=$(ldconfig -p | awk '/libsystemd\.so\.0 / && !found { print $NF; found = 1 }')
[ -n "$libsystemd" ] || { echo "libsystemd.so.0 not found: apt-get install libsystemd0" >&2; exit 1; }
for file in "$binary" "$libsystemd"; do
  ldd "$file" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]+ \(/ { print $1 }'
done | sort -u | while read -r library; do
  cp --parents -L "$library" "$root"
done
# Copied with -L: the file itself under its soname, which is what dlopen("libsystemd.so.0") asks
# for. (A soname link to the versioned name would dangle: that file is not copied.)
cp --parents -L "$libsystemd" "$root"
echo "stormlab:x:1000:1000::/tmp:/usr/bin/stormlab" > "$root/etc/passwd"
echo "hosts: files dns" > "$root/etc/nsswitch.conf"

cat > "$root/Dockerfile" <<DOCKERFILE
FROM scratch
COPY . /
# dlopen("libsystemd.so.0") finds the library without an ld.so.cache in the image.
ENV LD_LIBRARY_PATH=$(dirname "$libsystemd")
LABEL org.opencontainers.image.title="stormlab" \\
      org.opencontainers.image.description="Stormlab: the overlay roles and the lab tools, static Swift, FROM scratch" \\
      org.opencontainers.image.source="local build" \\
      stormlab.image="local"
ENTRYPOINT ["/usr/bin/stormlab"]
DOCKERFILE

log "docker build $tag"
docker build --quiet --tag "$tag" --tag stormlab:latest "$root" >/dev/null
size=$(docker image inspect "$tag" --format '{{.Size}}')
log "built $tag: $((size / 1048576)) MiB"
