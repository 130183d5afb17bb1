#!/bin/bash
# Docker engine and Compose v2, then the DOCKER-USER rules that keep
# published ports behind the firewall.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }
{% if apt %}
# Docker's repository pins packages for one Ubuntu release; refuse others
# rather than install a mismatched engine.
# shellcheck source=/dev/null
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != {{ apt.suite }} ]; then
  echo "clawbake: the docker-ce layer pins packages for {{ apt.suite }}, but this host is ${PRETTY_NAME:-unknown}" >&2
  echo "clawbake: set docker = \"distro\" under [site] to use the distribution's packages" >&2
  exit 1
fi

keyring=/etc/apt/keyrings/docker.asc
if [ ! -s "$keyring" ]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  curl -fsSL --retry 5 --retry-connrefused {{ apt.key_url }} -o "$tmp"
  # Trust the key only if it is exactly one key with the pinned fingerprint.
  primaries=$(gpg --show-keys --with-colons "$tmp" | grep -c '^pub:' || true)
  fingerprint=$(gpg --show-keys --with-colons "$tmp" | awk -F: '$1 == "fpr" { print $10; exit }')
  if [ "$primaries" != 1 ] || [ "$fingerprint" != {{ apt.key_fingerprint }} ]; then
    echo "clawbake: Docker's apt key has fingerprint '$fingerprint' ($primaries keys), expected {{ apt.key_fingerprint }}" >&2
    exit 1
  fi
  install -D -m 0644 "$tmp" "$keyring"
fi
echo "deb [arch=$(dpkg --print-architecture) signed-by=$keyring] {{ apt.url }} {{ apt.suite }} stable" \
  > /etc/apt/sources.list.d/docker.list
apt_get update
{% else %}
# The distribution's packages: add the parts some distributions ship apart,
# by what this host's apt offers (never Compose v1, which Ubuntu still
# calls `docker-compose`).
extra=()
has() { apt-cache show "$1" >/dev/null 2>&1; }
if has docker-cli; then extra+=(docker-cli); fi
# BuildKit's client, which Compose uses to build the gateway image.
if has docker-buildx; then extra+=(docker-buildx); fi
if has docker-compose-v2; then
  extra+=(docker-compose-v2)
# (grep reads all of apt-cache's output: `grep -q` would stop early, and
# under pipefail apt-cache's SIGPIPE would fail the test.)
elif has docker-compose && apt-cache show docker-compose | grep '^Version: 2\.' >/dev/null; then
  extra+=(docker-compose)
else
  echo "clawbake: this distribution offers no Compose v2 package; use docker = \"docker-ce\"" >&2
  exit 1
fi
{% endif %}
apt_get install -y --no-install-recommends {{ packages }}{% if not apt %} "${extra[@]}"{% endif %}
{% if hold %}apt-mark hold {{ hold }} >/dev/null
{% endif %}
systemctl enable --now docker.service

# daemon.json came with the host files; restart only when it changed
# (live-restore keeps containers running across the restart).
stamp=/var/lib/clawbake/daemon.json.sha256
install -d -m 0700 /var/lib/clawbake
if ! sha256sum --status -c "$stamp" 2>/dev/null; then
  systemctl restart docker.service
  sha256sum /etc/docker/daemon.json > "$stamp"
fi

docker compose version
systemctl enable clawbake-docker-user.service
systemctl restart clawbake-docker-user.service
