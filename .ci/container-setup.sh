#!/usr/bin/env bash
# Make `podman build/run` work on a machine with no Docker engine and no registry (see shared notes on container CI):
# install podman with runc, relax the ulimit default this sandbox refuses, and build a Debian base image with
# Python from Debian's own packages (cached as localhost/python-base:ci). Prints nothing but progress; idempotent.
set -euo pipefail
BASE=localhost/python-base:ci
# The Debian mirror this machine's apt already uses (override with DEBIAN_MIRROR).
mirror_from_apt() {
  { grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | grep -v security | awk '{print $2}'
  { grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null || true; } | awk '{print $2}'
}
MIRROR=${DEBIAN_MIRROR:-$(mirror_from_apt | head -1)}

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap netavark aardvark-dns catatonit \
    iptables ca-certificates >/dev/null
fi

conf=/etc/containers/containers.conf
if ! grep -q 'cgroup_manager = "cgroupfs"' "$conf" 2>/dev/null; then
  mkdir -p /etc/containers
  cat > "$conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
fi

if podman image exists "$BASE"; then
  echo "container-setup: $BASE is cached"
  exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "container-setup: debootstrap of a bookworm base with python3 (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
  bookworm "$root/fs" "$MIRROR" >/dev/null
rm -rf "$root"/fs/var/cache/apt/* "$root"/fs/var/lib/apt/lists/* "$root"/fs/usr/share/{doc,man,locale}
tar -C "$root/fs" --numeric-owner -cf "$root/base.tar" .
podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' "$root/base.tar" "$BASE" >/dev/null
echo "container-setup: built $BASE"
