#!/bin/bash
# ufw: deny inbound, SSH only from the admin addresses{% if public_ports %}, {{ public_ports }}
# only from Cloudflare{% endif %}. Adding a rule that exists is a no-op, so a re-run is safe.
set -euo pipefail

ufw default deny incoming >/dev/null
ufw default allow outgoing >/dev/null
{% for cidr in admin_cidrs %}
ufw {{ ssh_verb }} proto tcp from {{ cidr }} to any port {{ port }} comment 'clawbake: ssh' >/dev/null
{%- endfor %}
{% for cidr in cloudflare %}
ufw allow proto tcp from {{ cidr }} to any port {{ public_ports }} comment 'clawbake: cloudflare' >/dev/null
{%- endfor %}
ufw --force enable
ufw status verbose
