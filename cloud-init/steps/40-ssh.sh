#!/bin/bash
# sshd: key-only on port {{ port }}. On Ubuntu 24.04 sshd is socket-activated
# and the port lives in ssh.socket; elsewhere sshd itself listens.
set -euo pipefail

sshd -t
if systemctl is-enabled --quiet ssh.socket 2>/dev/null; then
  systemctl daemon-reload
  systemctl restart ssh.socket
else
  # A restart keeps open sessions: each is its own sshd process.
  systemctl restart ssh.service
fi

for _ in $(seq 1 20); do
  if ss -Hltn "sport = :{{ port }}" | grep -q .; then
    exit 0
  fi
  sleep 0.5
done
echo "clawbake: nothing listens on port {{ port }} after restarting sshd" >&2
exit 1
