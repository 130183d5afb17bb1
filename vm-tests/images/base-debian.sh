#!/bin/bash
# base-debian.sh OUT_DIR PRELOAD.tar: the offline guest, a Debian 13 VM with
# what a fresh Ubuntu cloud VPS has (kernel, systemd, cloud-init, OpenSSH,
# ufw, AppArmor, sudo, curl, unattended-upgrades) and no Docker. Writes
# OUT_DIR/rootfs.raw (ext4, no partition table, booted directly),
# OUT_DIR/vmlinuz and
# OUT_DIR/initrd.img. PRELOAD.tar goes to /var/lib/clawbake/images/, where
# the stack step `docker load`s it: this image plays a provider's image
# that ships the stack's images.
set -euo pipefail
out=$1
preload=$2
size=${CLAWBAKE_VM_ROOTFS_SIZE:-16G}
work="$out/rootfs.d"
rm -rf "$work"
mkdir -p "$out"

# The apt timers stay enabled (verify checks them) but fire only in 2099:
# an upgrade run mid-test (sshd restarted, the dpkg lock taken) would make
# the suite flaky, and the guest's clock jumps when a paused VM resumes.
# The hooks run in a shell that mmdebstrap starts with the root as $1.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=minbase --mode=root --format=directory \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --include=linux-image-amd64,initramfs-tools,systemd,systemd-sysv,systemd-resolved,udev,dbus \
  --include=cloud-init,openssh-server,ufw,apparmor,sudo,curl,ca-certificates,iptables,iproute2,unattended-upgrades \
  --include=netbase,kmod,procps,e2fsprogs,less,openssl,gnupg \
  --essential-hook='printf "/dev/vda / ext4 defaults,errors=remount-ro 0 1\n" > "$1"/etc/fstab' \
  --essential-hook='mkdir -p "$1"/etc/initramfs-tools/conf.d && echo FSTYPE=ext4 > "$1"/etc/initramfs-tools/conf.d/fstype' \
  --customize-hook='printf "datasource_list: [ NoCloud, None ]\n" > "$1"/etc/cloud/cloud.cfg.d/90-clawbake-vm.cfg' \
  --customize-hook='printf "locale: false\n" > "$1"/etc/cloud/cloud.cfg.d/91-clawbake-vm-locale.cfg' \
  --customize-hook='chroot "$1" systemctl enable systemd-networkd systemd-resolved' \
  --customize-hook='ln -sf ../run/systemd/resolve/stub-resolv.conf "$1"/etc/resolv.conf' \
  --customize-hook='rm -f "$1"/etc/hostname "$1"/etc/machine-id && touch "$1"/etc/machine-id' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook='for t in apt-daily apt-daily-upgrade; do mkdir -p "$1"/etc/systemd/system/$t.timer.d && printf "[Timer]\nOnCalendar=\nOnCalendar=2099-01-01\n" > "$1"/etc/systemd/system/$t.timer.d/vm-test.conf; done' \
  --customize-hook="install -D -m 0600 $preload \"\$1\"/var/lib/clawbake/images/standins.tar" \
  --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*' \
  trixie "$work" http://deb.debian.org/debian

cp -L "$work"/boot/vmlinuz-* "$out/vmlinuz"
cp -L "$work"/boot/initrd.img-* "$out/initrd.img"
rm -f "$out/rootfs.raw"
truncate -s "$size" "$out/rootfs.raw"
mkfs.ext4 -q -F -L rootfs -d "$work" "$out/rootfs.raw"
rm -rf "$work"
