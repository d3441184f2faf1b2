#!/usr/bin/env bash
# bench/h2-config.sh CONFIG OUT - the TLS + HTTP/2 variant of a bench config.
#
# Makes peerbench's certificate (/tmp/peerbench/tls: cert.pem, key.pem and
# haproxy.pem, the pair concatenated) when missing — peerbench.sh makes the
# same one only when missing, so making it first is the same as letting it —
# and writes CONFIG to OUT with that certificate on its 127.0.0.1:8080
# listener. Used by bench/run.sh --h2 and bench/instr.sh --h2.
set -euo pipefail
[ $# = 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
tls=/tmp/peerbench/tls
if [ ! -s "$tls/haproxy.pem" ]; then
  mkdir -p "$tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tls/key.pem" \
    -out "$tls/cert.pem" -days 365 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
  cat "$tls/cert.pem" "$tls/key.pem" >"$tls/haproxy.pem"
fi
sed "s|^bind = \"127.0.0.1:8080\"|&\ntls = { cert = \"$tls/cert.pem\", key = \"$tls/key.pem\" }|" "$1" >"$2"
