#!/usr/bin/env bash
# Write a development CA, a server certificate and a client certificate for mTLS between
# the services. Usage: bash scripts/gen_certs.sh [OUTDIR]   (default: tls_certs)
# The server certificate's names cover every compose service plus localhost, so one pair
# serves every internal gRPC link. Not for production use.
#
# The server and client keys are left readable by every user, so the compose containers
# (uid 1000) can read them whoever ran this script; the CA key stays owner-only. Real keys
# must never be world-readable: make them owned by uid 1000 with mode 600 instead.
set -euo pipefail

out="${1:-tls_certs}"
days="${CERT_DAYS:-825}"
server_names="DNS:model-gateway,DNS:memory-service,DNS:rust-sandbox,DNS:agent-planner,DNS:localhost,IP:127.0.0.1,IP:::1"

command -v openssl >/dev/null || { echo "error: openssl is required" >&2; exit 1; }
mkdir -p "$out"
chmod 755 "$out"
cd "$out"
umask 077

openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -sha256 \
  -subj "/CN=PAGI dev CA" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null

issue() {  # name, subject CN, extended key usage, subjectAltName (optional)
  local name=$1 cn=$2 usage=$3 sans=${4:-}
  local ext
  ext=$(mktemp)
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -sha256 -extfile "$ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$ext"
}

issue server model-gateway serverAuth "$server_names"
issue client pagi-client clientAuth
rm -f ca.srl
chmod 644 ./*.crt server.key client.key
chmod 600 ca.key
echo "wrote $(pwd)/{ca.crt,server.crt,server.key,client.crt,client.key}"
echo "warning: development keys only: server.key and client.key are readable by every user" \
  "so that the containers (uid 1000) can read them; real keys must be owner-only (mode 600," \
  "owned by the user the services run as)" >&2
