#!/bin/bash
# Install this release's host files (host/ mirrors /) with their modes,
# then load what they configure: sysctl values and systemd units.
set -euo pipefail

cd "$RELEASE_DIR/host"
find . -type f -print0 | sort -z | while IFS= read -r -d '' file; do
  dest="/${file#./}"
  mode=$(stat -c %a "$file")
  install -D -m "$mode" -o root -g root "$file" "$dest"
done

sysctl --quiet --system
systemctl daemon-reload
