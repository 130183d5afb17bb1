#!/bin/bash
# Internal secrets, generated here on first apply and kept across releases.
# They never travel in user-data. User secrets (provider keys, bot tokens)
# arrive later with `clawbake secrets set`.
set -euo pipefail
umask 077

dir=/opt/clawbake/secrets
install -d -m 0700 "$dir"

generate() {
  local name=$1 prefix=$2
  if [ ! -s "$dir/$name" ]; then
    # A failed substitution would not stop the step: check the length.
    value=$(openssl rand -hex 32)
    [ "$(printf '%s' "$value" | wc -c)" -eq 64 ] || { echo "60-secrets: openssl made no value for $name" >&2; exit 1; }
    printf '%s%s' "$prefix" "$value" > "$dir/$name.tmp"
    mv "$dir/$name.tmp" "$dir/$name"
  fi
}
generate OPENCLAW_GATEWAY_TOKEN ""
# LiteLLM refuses a master key that does not start with `sk-`.
generate LITELLM_MASTER_KEY "sk-"
# The gateway's own key to LiteLLM: model routes only (litellm_auth.py).
generate LITELLM_GATEWAY_KEY "sk-"
generate BACKUP_KEY ""
