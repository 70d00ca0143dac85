#!/usr/bin/env bash
# join-code.sh DATA_DIR HOST:PORT [USES] [NOTE]: ask a local core for a join
# code (valid ten minutes, USES uses, default 1) with the admin token in its
# data directory, checking the core by the certificate it made there. Prints
# the code.
set -euo pipefail
data=$1 listen=$2 uses=${3:-1} note=${4:-local agent}
curl -sS --fail-with-body --cacert "$data/tls.crt" \
  -H "Authorization: Bearer $(cat "$data/admin.token")" -H 'Content-Type: application/json' \
  -d "{\"uses\":$uses,\"ttl_seconds\":600,\"note\":\"$note\"}" \
  "https://$listen/api/v1/join-codes" | sed -n 's/.*"code":"\([^"]*\)".*/\1/p'
