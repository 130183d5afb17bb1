#!/bin/bash
# standins-rootfs.sh OUT.tar: one Debian 13 root filesystem holding every
# stand-in server (Squid, HAProxy, Node, Python and the scripts beside this
# file). The harness turns it into several images that share this one layer,
# each with its own command, environment and user.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
# The hooks run in a shell that mmdebstrap starts with the root as $1.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=essential --mode=root --format=tar \
  --skip=output/dev \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --include=squid,haproxy,python3,nodejs,wget,busybox,tar,gzip,ca-certificates \
  --customize-hook="copy-in $here/standins/bin /usr/local" \
  --customize-hook='install -d -o 1000 -g 1000 "$1"/home/node' \
  --customize-hook='mkdir -p "$1"/opt/busybox && ln -s /usr/bin/busybox "$1"/opt/busybox/wget' \
  --customize-hook='chmod 0755 "$1"/usr/local/bin/*' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
  trixie "$out" http://deb.debian.org/debian
