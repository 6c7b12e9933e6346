#!/usr/bin/env bash
# Runs a command under a Linux kernel that has netem, for hosts whose own kernel lacks it (this
# project's CI host): boots Debian's stock kernel in QEMU (software emulation; KVM is not
# needed), with this host's / shared read-only over 9p under a tmpfs overlay (the guest's
# writes stay in its memory), runs COMMAND as root chrooted into that tree from the current
# folder, and exits with its status.
# The modules the guest needs (9p, overlay, netem, htb, u32, veth) are loaded from the kernel package;
# nothing of the guest outlives it.
#
#   .ci/netem-vm.sh 'tc qdisc add dev lo root netem delay 1ms && tc qdisc show dev lo'
#   .ci/netem-vm.sh --docker 'stormlab run .ci/netem-lab --runtime docker'
#
# With --docker, a Docker engine runs in the guest (its state in memory) with this host's
# images stormlab:local and stormlab:latest loaded, before COMMAND.
#
# Needs root (apt-get), qemu-system-x86, busybox-static, cpio and kmod; fetches the kernel
# package once into $STORMLAB_VM_CACHE (default /tmp/stormlab-netem-vm). Time limit:
# $STORMLAB_VM_TIMEOUT seconds (default 300).
set -euo pipefail
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) netem-vm: $*" >&2; }
docker=false
if [ "${1:-}" = --docker ]; then docker=true; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [--docker] COMMAND" >&2; exit 2; }
for tool in qemu-system-x86_64 busybox cpio depmod; do
  command -v "$tool" >/dev/null || PATH=$PATH:/sbin:/usr/sbin command -v "$tool" >/dev/null || {
    log "needs $tool: apt-get install -y qemu-system-x86 busybox-static cpio kmod"; exit 3; }
done
cache=${STORMLAB_VM_CACHE:-/tmp/stormlab-netem-vm}
mkdir -p "$cache"

# The kernel: the package Debian's linux-image-amd64 points at, unpacked once.
if [ ! -e "$cache/kernel/ready" ]; then
  package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ && !found { print $2; found = 1 }')
  [ -n "$package" ] || { log "apt knows no linux-image-amd64 (run apt-get update)"; exit 3; }
  log "fetching $package"
  rm -rf "$cache/kernel" && mkdir -p "$cache/kernel"
  (cd "$cache" && rm -f ./*.deb && apt-get download -q -o APT::Sandbox::User=root "$package" >/dev/null)
  dpkg-deb -x "$cache"/*.deb "$cache/kernel"
  version=$(ls "$cache/kernel/lib/modules")
  PATH=$PATH:/sbin depmod -b "$cache/kernel" "$version"
  touch "$cache/kernel/ready"
fi
version=$(ls "$cache/kernel/lib/modules")
modules="$cache/kernel/lib/modules/$version"

# The initramfs: busybox and the modules, each after what it depends on.
if [ ! -e "$cache/initrd.gz" ]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,mod,proc,sys,dev,host}
  cp "$(command -v busybox)" "$root/bin/busybox"
  order=()
  add() {  # a module's path under $modules/kernel, after its dependencies
    local path=$1 line
    for seen in "${order[@]:-}"; do [ "$seen" = "$path" ] && return; done
    line=$(grep "^$path:" "$modules/modules.dep")
    for dependency in ${line#*:}; do add "$dependency"; done
    order+=("$path")
  }
  for name in virtio_pci 9pnet_virtio 9p overlay sch_netem sch_htb cls_u32 veth bridge; do
    add "$(grep -m 1 -o "^[^:]*/$name\.ko[^:]*" "$modules/modules.dep")"
  done
  for path in "${order[@]}"; do
    cp "$modules/$path" "$root/mod/"
    echo "$(basename "$path")" >>"$root/mod/order"
  done
  cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
echo; echo "netem-vm: guest up"
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for module in $(cat /mod/order); do insmod "/mod/$module" || echo "netem-vm: insmod $module failed"; done
# The host's tree, read-only, under a tmpfs overlay: the guest writes anywhere, to its memory.
mkdir -p /lower /rw; mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288 host /lower
mount -t tmpfs rw /rw; mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /host
mount -t proc proc /host/proc; mount -t sysfs sys /host/sys; mount -t devtmpfs dev /host/dev
mount -t tmpfs run /host/run
ip link set lo up
arguments=$(sed 's/.*vmcmd=//' /proc/cmdline)
folder=$(echo "${arguments%%,*}" | base64 -d)
command=$(echo "${arguments#*,}" | base64 -d)
chroot /host /bin/sh -c "cd '$folder' && export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TERM=dumb NO_COLOR=1 && $command"
echo "netem-vm: exit $?"
poweroff -f
EOF
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$cache/initrd.gz.part")
  mv "$cache/initrd.gz.part" "$cache/initrd.gz"
  rm -rf "$root"
  trap - EXIT
fi

command=$1
if $docker; then
  log "saving the images stormlab:local and stormlab:latest for the guest's engine"
  docker save stormlab:local stormlab:latest -o "$cache/images.tar"
  command="mount -t cgroup2 none /sys/fs/cgroup && mount -t tmpfs docker /var/lib/docker \
    && (dockerd --iptables=false --ip-masq=false >/tmp/dockerd.log 2>&1 &) \
    && for _ in \$(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 1; done \
    && docker load -q -i '$cache/images.tar' && $command"
fi
log "booting $version (software emulation) to run: $1"
output=$(mktemp)
trap 'rm -f "$output"' EXIT
arguments="$(printf '%s' "$PWD" | base64 -w0),$(printf '%s' "$command" | base64 -w0)"
timeout "${STORMLAB_VM_TIMEOUT:-300}" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 4G -smp 2 \
  -nographic -no-reboot -monitor none -serial stdio -display none \
  -kernel "$cache/kernel/boot/vmlinuz-$version" -initrd "$cache/initrd.gz" \
  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
  -append "console=ttyS0 quiet panic=-1 vmcmd=$arguments" </dev/null \
  | sed -u -e 's/\r//g' | sed -u -n '/^netem-vm: guest up$/,$p' | grep --line-buffered -v 'reboot: Power down' \
  | tee "$output" || true
status=$(sed -n 's/^netem-vm: exit \([0-9]*\)$/\1/p' "$output" | tail -1)
[ -n "$status" ] || { log "the guest did not finish (time limit ${STORMLAB_VM_TIMEOUT:-300} s?)"; exit 1; }
exit "$status"
