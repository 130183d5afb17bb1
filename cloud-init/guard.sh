#!/bin/bash
# The lock-out guard of `clawbake provision`. Moving sshd or turning the
# firewall on from an SSH session can lock its admin out, so provision,
# over that session:
#   save          before the first step: records clawbake's sshd drop-ins
#                 and ufw's rules and state as they are now, and copies this
#                 script beside them;
#   arm SECONDS   before the SSH and firewall steps: `revert` in SECONDS,
#                 or at the next boot if the host restarts first;
#   run STEP      each of those steps; refused once the guard has reverted;
#   disarm        once a new login on the new port worked.
# `revert` puts back what `save` recorded. One lock orders all of them: a
# revert waits for the step that runs, and no step runs after a revert.
set -euo pipefail

dir=/var/lib/clawbake/guard
saved=$dir/saved
self=$dir/clawbake-guard
boot_unit=clawbake-guard-boot.service
ssh_files=(
  /etc/ssh/sshd_config.d/10-clawbake.conf
  /etc/systemd/system/ssh.socket.d/10-clawbake.conf
)

install -d -m 0700 "$dir"
exec 9>"$dir/lock"
flock 9

now() { date -u +%FT%TZ; }

save() {
  rm -rf "$saved" "$dir/armed" "$dir/reverted"
  install -d -m 0700 "$saved"
  local i=0 f
  for f in "${ssh_files[@]}"; do
    if [ -e "$f" ]; then cp -p "$f" "$saved/ssh-$i"; fi
    i=$((i + 1))
  done
  if [ -d /etc/ufw ]; then tar -C /etc -cf "$saved/ufw.tar" ufw; fi
  if command -v ufw >/dev/null && ufw status 2>/dev/null | grep -q '^Status: active'; then
    echo active > "$saved/ufw-state"
  else
    echo inactive > "$saved/ufw-state"
  fi
  if [ "$0" != "$self" ]; then install -m 0700 "$0" "$self"; fi
}

arm() {
  local seconds=$1
  if [ ! -d "$saved" ]; then
    echo "clawbake-guard: nothing saved to go back to: run \`$self save\` before the first step" >&2
    exit 2
  fi
  now > "$dir/armed"
  # A timer of systemd-run's is gone after a reboot; this unit is not.
  cat > "/etc/systemd/system/$boot_unit" <<UNIT
[Unit]
Description=clawbake: the lock-out guard was armed when the host stopped; put SSH and the firewall back
After=ssh.service ssh.socket ufw.service
ConditionPathExists=$dir/armed

[Service]
Type=oneshot
ExecStart=$self revert

[Install]
WantedBy=multi-user.target
UNIT
  systemctl enable --quiet "$boot_unit"
  systemctl stop clawbake-guard.timer clawbake-guard.service >/dev/null 2>&1 || true
  systemctl reset-failed clawbake-guard.timer clawbake-guard.service >/dev/null 2>&1 || true
  systemd-run --quiet --unit=clawbake-guard --on-active="${seconds}s" \
    --timer-property=AccuracySec=1s "$self" revert
}

forget_boot_unit() {
  systemctl disable --quiet "$boot_unit" >/dev/null 2>&1 || true
  rm -f "/etc/systemd/system/$boot_unit"
}

disarm() {
  rm -f "$dir/armed"
  systemctl stop clawbake-guard.timer >/dev/null 2>&1 || true
  forget_boot_unit
  rm -rf "$saved"
}

revert() {
  # Disarmed in time, or reverted already: nothing to do.
  [ -e "$dir/armed" ] || return 0
  logger -t clawbake "lock-out guard: putting sshd and ufw back as they were before the provision" || true
  local i=0 f
  for f in "${ssh_files[@]}"; do
    if [ -e "$saved/ssh-$i" ]; then
      install -D -m 0644 "$saved/ssh-$i" "$f"
    else
      rm -f "$f"
    fi
    i=$((i + 1))
  done
  systemctl daemon-reload
  if systemctl is-enabled --quiet ssh.socket 2>/dev/null; then
    systemctl restart ssh.socket
  else
    systemctl restart ssh.service
  fi
  if [ -e "$saved/ufw.tar" ]; then
    rm -rf /etc/ufw
    tar -C /etc -xpf "$saved/ufw.tar"
  fi
  if command -v ufw >/dev/null; then
    # Enabling loads the rules from the restored files.
    if [ "$(cat "$saved/ufw-state")" = active ]; then
      ufw --force enable >/dev/null
    else
      ufw --force disable >/dev/null
    fi
  fi
  rm -f "$dir/armed"
  now > "$dir/reverted"
  forget_boot_unit
}

case "${1:-}" in
  save) save ;;
  arm) arm "${2:?usage: clawbake-guard arm SECONDS}" ;;
  run)
    shift
    if [ ! -e "$dir/armed" ]; then
      echo "clawbake: the lock-out guard put SSH and the firewall back at $(cat "$dir/reverted" 2>/dev/null || echo 'some point'); $(basename "${1:-the step}" .sh) did not run" >&2
      exit 75
    fi
    # The step does not hold the lock itself: a daemon it starts must not.
    "$@" 9>&-
    ;;
  disarm) disarm ;;
  revert) revert ;;
  *)
    echo "usage: clawbake-guard save | arm SECONDS | run STEP | disarm | revert" >&2
    exit 2
    ;;
esac
