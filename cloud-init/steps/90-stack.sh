#!/bin/bash
# The stack: switch /opt/clawbake/current to this release atomically, bring
# Compose up and wait until every service reports healthy.
set -euo pipefail

/usr/local/sbin/clawbake-env "$RELEASE_DIR"
# OpenClaw's state: same path on the host as in the container, owned by the
# image's user.
install -d -m 0700 -o {{ state_uid }} -g {{ state_uid }} {{ state_dir }}
ln -sfn "$RELEASE_DIR" /opt/clawbake/current.new
mv -T /opt/clawbake/current.new /opt/clawbake/current

docker compose -f /opt/clawbake/current/stack/compose.yaml up -d --remove-orphans \
  --wait --wait-timeout {{ health_timeout }}

# What was applied and when; `previous` is what `clawbake rollback` returns to.
id=$(basename "$RELEASE_DIR")
state=/var/lib/clawbake/state.json
install -d -m 0700 /var/lib/clawbake
previous=""
if [ -f "$state" ]; then
  previous=$(sed -n 's/.*"build_id": "\([0-9a-f]*\)".*/\1/p' "$state")
  if [ "$previous" = "$id" ]; then
    previous=$(sed -n 's/.*"previous": "\([0-9a-f]*\)".*/\1/p' "$state")
  fi
fi
cat > "$state.new" <<STATE
{"build_id": "$id", "applied_at": "$(date -u +%FT%TZ)", "previous": "$previous"}
STATE
mv "$state.new" "$state"
