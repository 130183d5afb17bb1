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

# Preloaded images: image-set archives put on the host before this step
# (a provider image that ships them, or a copy over SSH) are loaded first,
# so Compose finds them locally and never asks a registry for them. An
# archive whose images are all present already is skipped.
shopt -s nullglob
for archive in /var/lib/clawbake/images/*.tar; do
  tags=$(tar -xOf "$archive" manifest.json | jq -r '.[].RepoTags[]?')
  missing=0
  for tag in $tags; do
    docker image inspect "$tag" >/dev/null 2>&1 || missing=1
  done
  if [ "$missing" = 1 ]; then
    echo "clawbake: loading images from $archive"
    docker load --quiet --input "$archive"
  fi
done
shopt -u nullglob

docker compose -f /opt/clawbake/current/stack/compose.yaml up -d --remove-orphans \
  --wait --wait-timeout {{ health_timeout }}

install -d -m 0700 /var/lib/clawbake
cat > /var/lib/clawbake/state.json.new <<STATE
{"build_id": "$(basename "$RELEASE_DIR")", "applied_at": "$(date -u +%FT%TZ)"}
STATE
mv /var/lib/clawbake/state.json.new /var/lib/clawbake/state.json
