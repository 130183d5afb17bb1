#!/bin/bash
# Base system: packages, time zone, swap file.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# First boot often races unattended-upgrades for the dpkg lock: wait for it.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }

apt_get update
apt_get install -y --no-install-recommends {{ packages }}

if command -v timedatectl >/dev/null && timedatectl set-timezone {{ timezone }} 2>/dev/null; then
  :
else
  ln -sf /usr/share/zoneinfo/{{ timezone }} /etc/localtime
fi

swap_mib={{ swap_mib }}
if [ "$swap_mib" -gt 0 ]; then
  if ! swapon --show=NAME --noheadings | grep -qx /swapfile; then
    if [ ! -f /swapfile ]; then
      fallocate -l "${swap_mib}M" /swapfile || dd if=/dev/zero of=/swapfile bs=1M count="$swap_mib" status=none
      chmod 600 /swapfile
      mkswap /swapfile >/dev/null
    fi
    swapon /swapfile
  fi
  grep -q '^/swapfile ' /etc/fstab || echo '/swapfile none swap sw 0 0' >> /etc/fstab
fi
