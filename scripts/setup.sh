#!/usr/bin/env bash
# Prepares this checkout to run hulld and its tests: the OCI runtime, conmon
# and a static busybox (test and benchmark rootfs) from Debian, then the npm
# dependencies and the build. Safe to run again: it skips what is present.
set -euo pipefail

cd "$(dirname "$0")/.."

missing=()
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v conmon >/dev/null 2>&1 || missing+=(conmon)
[ -x /bin/busybox ] || missing+=(busybox-static)
# setfattr marks opaque directories of image layers for overlayfs.
command -v setfattr >/dev/null 2>&1 || missing+=(attr)
# Image tests and the image benchmark: a real OCI registry on loopback, skopeo
# to push to it (and as the benchmark's reference, with umoci).
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
# hulld learns unix peers' pid/uid/gid from `ss -xpn` (sock_diag).
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
# CRI pods: the CNI plugins (bridge, host-local, loopback, portmap) and the
# iptables portmap drives; util-linux's unshare/nsenter pin the namespaces.
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
command -v iptables-save >/dev/null 2>&1 || missing+=(iptables)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
# CRI PortForward relays each connection inside a pod's network namespace with socat.
command -v socat >/dev/null 2>&1 || missing+=(socat)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing ${missing[*]}; run this script as root to install them" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # docker-registry's package would start its own service on :5000; tests
  # start their own registry on a free loopback port instead.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # Always the full set: they are small, and a half-installed set is what broke.
  apt-get install -y runc conmon busybox-static attr docker-registry skopeo umoci iproute2 containernetworking-plugins iptables util-linux socat
fi

# npm 11 skips dependencies' install scripts; every dependency hull uses
# ships prebuilt binaries, so that is fine.
# `npm install`, not `npm ci`: the lockfile pins every version, but
# node-unix-socket lists prebuilt binaries for other platforms as optional
# dependencies that this registry does not serve (404), so they are not in the
# lockfile and `npm ci` refuses it as out of sync. `npm install` skips them
# and installs exactly the locked versions (the lockfile stays unchanged).
npm install --no-audit --no-fund

npm run build
