#!/usr/bin/env bash
# Builds pam_bearer.so (release) and installs it into the system's PAM module directory, with
# /etc/pam.d/pg_bearer and, when there is none, an example /etc/pg_bearer/pam.toml.
# Run as root (or with sudo). Needs cargo and libpam0g-dev; idempotent.
#   PAM_BEARER_SERVICE   the service name (default pg_bearer)
#   PAM_BEARER_MODULE_DIR  where PAM modules live (default: that of pam_unix.so)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
service=${PAM_BEARER_SERVICE:-pg_bearer}
if [ "$(id -u)" != 0 ]; then echo "install-pam.sh: run as root (sudo $0)" >&2; exit 1; fi
if [ ! -e /usr/include/security/pam_modules.h ]; then
  echo "install-pam.sh: installing libpam0g-dev" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libpam0g-dev >/dev/null
fi
moddir=${PAM_BEARER_MODULE_DIR:-}
if [ -z "$moddir" ]; then
  unix=$(find /lib /usr/lib /lib64 /usr/lib64 -name pam_unix.so -path '*security*' 2>/dev/null | head -n1 || true)
  [ -n "$unix" ] || { echo "install-pam.sh: no PAM module directory found; set PAM_BEARER_MODULE_DIR" >&2; exit 1; }
  moddir=$(dirname "$unix")
fi
cargo build -p pam_bearer --release --locked
install -m 0644 target/release/libpam_bearer.so "$moddir/pam_bearer.so.new"
mv -f "$moddir/pam_bearer.so.new" "$moddir/pam_bearer.so"
echo "installed $moddir/pam_bearer.so" >&2
mkdir -p /etc/pg_bearer
if [ ! -e /etc/pg_bearer/pam.toml ]; then
  cat > /etc/pg_bearer/pam.toml <<'TOML'
# pam_bearer's configuration: docs/pam.md. Fill in your issuer and audience.
http_timeout = "3s"

[[issuer]]
issuer = "https://idp.example.com/realms/db"
audience = "postgres-db"
identity_claim = "preferred_username"
scope = "postgres"
TOML
  chmod 0644 /etc/pg_bearer/pam.toml
  echo "wrote the example /etc/pg_bearer/pam.toml: edit it" >&2
fi
if [ ! -e "/etc/pam.d/$service" ]; then
  cat > "/etc/pam.d/$service" <<PAMD
# pg_hba.conf: hostssl all all 0.0.0.0/0 pam pamservice=$service
auth     required  pam_bearer.so config=/etc/pg_bearer/pam.toml
account  required  pam_bearer.so config=/etc/pg_bearer/pam.toml
PAMD
  echo "wrote /etc/pam.d/$service" >&2
fi
