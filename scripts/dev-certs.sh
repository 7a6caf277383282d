#!/usr/bin/env bash
# Makes a private CA and certificates for a local or docker-compose cluster (README "Security"):
#
#   scripts/dev-certs.sh [DIR] [NAME...]
#
# DIR (default ./certs) gets ca.pem and ca.key (the CA) and, for each NAME (default: the names
# docker-compose.yml uses: eventbase-1 eventbase-2 nats-1 nats-2 nats-3 client), NAME.pem and
# NAME.key: a certificate signed by the CA for DNS:NAME, DNS:localhost and IP:127.0.0.1, usable
# as a TLS server and as a TLS client (Eventbase uses mutual TLS, so every node is both).
# Existing files are kept, so running it again adds names without replacing the CA; delete DIR
# to start over. Keys are created with mode 0600.
#
# For development and tests only: the CA key sits next to the certificates, unencrypted. In
# production, keep the CA offline and issue one certificate per machine.
set -euo pipefail

dir="${1:-certs}"
shift || true
names=("$@")
if ((${#names[@]} == 0)); then names=(eventbase-1 eventbase-2 nats-1 nats-2 nats-3 client); fi
days="${DEV_CERTS_DAYS:-365}"

command -v openssl >/dev/null || { echo "dev-certs: needs the openssl command" >&2; exit 1; }
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -days "$days" \
    -subj "/CN=eventbase development CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  echo "dev-certs: made $dir/ca.pem" >&2
fi

for name in "${names[@]}"; do
  [ -f "$dir/$name.pem" ] && continue
  ext="$(mktemp)"
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" >"$ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -out "$dir/$name.pem" -days "$days" -extfile "$ext" 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
  echo "dev-certs: made $dir/$name.pem" >&2
done
# Certificates and the CA certificate are public; keys stay 0600.
chmod 644 "$dir"/*.pem
