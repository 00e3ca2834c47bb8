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

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing ${missing[*]}; run this script as root to install them" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # Always the full set: they are small, and a half-installed set is what broke.
  apt-get install -y runc conmon busybox-static attr
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
