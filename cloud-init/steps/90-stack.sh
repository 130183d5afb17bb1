#!/bin/bash
# The stack: switch /opt/clawbake/current to this release atomically, bring
# Compose up and wait until every service reports healthy.
set -euo pipefail

/usr/local/sbin/clawbake-env "$RELEASE_DIR"
# OpenClaw's state: same path on the host as in the container, owned by the
# image's user.
install -d -m 0700 -o {{ state_uid }} -g {{ state_uid }} {{ state_dir }}
# Sandbox workspaces: the parent is root's, so the gateway cannot swap a
# workspace for a symlink after the Docker policy checked its bind; each
# workspace is the gateway's.
install -d -m 0755 -o root -g root {{ sandbox_dir }}
{%- for slug in sandbox_slugs %}
install -d -m 0700 -o {{ state_uid }} -g {{ state_uid }} {{ sandbox_dir }}/{{ slug }}
{%- endfor %}
switch_to() {
  ln -sfn "$1" /opt/clawbake/current.new
  mv -T /opt/clawbake/current.new /opt/clawbake/current
}

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

# Images no service runs (the sandboxes'), which Compose would not pull:
# pulled unless a preloaded archive brought them.
release_images() {
  local image
  while read -r image; do
    [ -n "$image" ] || continue
    docker image inspect "$image" >/dev/null 2>&1 || docker pull --quiet "$image" || return 1
  done < "$RELEASE_DIR/stack/images.list"
}

compose() { docker compose -f /opt/clawbake/current/stack/compose.yaml "$@"; }
release_compose() { docker compose -f "$RELEASE_DIR/stack/compose.yaml" "$@"; }

# Compose 2.29.4 to 2.34 stop every service that depends on one they
# recreate (later releases only those marked `restart: true`): with those,
# the gateway also goes down whenever a service it depends on changes.
compose_version=$(docker compose version --short 2>/dev/null || true)
case "$compose_version" in
  2.29.[4-9]* | 2.3[0-4].*)
    echo "clawbake: Compose $compose_version restarts the gateway with every service it depends on; 2.35 or later does not" >&2
    ;;
esac

# Everything that can happen while the old release still serves, so that a
# failure here leaves it serving: the compose file checked, the sandbox
# images, and the gateway image built from this release's directory (tagged
# by its Dockerfile's hash: present already when that did not change).
old=$(readlink /opt/clawbake/current || true)
release_compose config --quiet
release_images
gateway_image=$(release_compose config --format json | jq -r '.services.openclaw.image')
docker image inspect "$gateway_image" >/dev/null 2>&1 || release_compose build openclaw
{%- if openclaw_doctor %}

# The OpenClaw release a release dir runs (manifests before the choice
# existed ran 2026.2.15).
openclaw_of() { jq -r '.openclaw_version // "2026.2.15"' "$1/manifest.json" 2>/dev/null || true; }

# Moving to OpenClaw {{ openclaw_version }} from another release: the old
# gateway stops, then the new image runs `openclaw doctor --fix` once on the
# state, as OpenClaw's Docker guide says, before the gateway starts on it.
# Doctor also rewrites the config: it gets a copy, the release's stays as
# built. One-way; provision took a backup before this step.
migrate_state() {
  [ -n "$old" ] && [ "$old" != "$RELEASE_DIR" ] && [ -d "$old" ] || return 0
  local from
  from=$(openclaw_of "$old")
  [ -n "$from" ] && [ "$from" != "{{ openclaw_version }}" ] || return 0
  echo "clawbake: OpenClaw $from -> {{ openclaw_version }}: stopping the gateway to migrate its state"
  local scratch=/var/lib/clawbake/openclaw-doctor
  rm -rf "$scratch"
  install -d -m 0700 -o {{ state_uid }} -g {{ state_uid }} "$scratch"
  install -m 0600 -o {{ state_uid }} -g {{ state_uid }} "$RELEASE_DIR/stack/openclaw/openclaw.json" "$scratch/openclaw.json"
  compose stop openclaw
  compose run --rm --no-deps -T -v "$scratch:$scratch" -e OPENCLAW_CONFIG_PATH="$scratch/openclaw.json" \
    openclaw openclaw doctor --fix --non-interactive
}
{%- endif %}

# The compose file mounts its config through `current`, so the switch comes
# before `up`. Compose recreates only the services whose inputs changed
# (each carries a hash of its config files as a label), in two stages: the
# services the gateway depends on, while the old gateway still serves; then
# the rest. The old gateway stops only in the second stage, when its own
# inputs changed, and Compose removes it before it creates the new one, so
# two gateways (two Telegram pollers) never run at once; `container_name`
# would refuse a second. If the new stack does not become healthy, the old
# one comes back.
up() { compose up -d --no-build --remove-orphans --wait --wait-timeout {{ health_timeout }} "$@"; }
switch_to "$RELEASE_DIR"
if ! up {{ gateway_depends_on }} {% if openclaw_doctor %}|| ! migrate_state {% endif %}|| ! up; then
  if [ -n "$old" ] && [ "$old" != "$RELEASE_DIR" ] && [ -d "$old" ]; then
    echo "clawbake: the stack of $(basename "$RELEASE_DIR") is not healthy; switching back to $(basename "$old")" >&2
    switch_to "$old"
    /usr/local/sbin/clawbake-env "$old"
    compose up -d --no-build --remove-orphans || true
  fi
  exit 1
fi

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
