#!/usr/bin/env bash
# Local registries for gsi's registry tests, all on 127.0.0.1:
#   plain  Debian's docker-registry over plain HTTP                            (port $GSI_REG_PLAIN_PORT, 5000)
#   tls    docker-registry over TLS (a test CA made here) with htpasswd Basic (port $GSI_REG_TLS_PORT, 5443)
#   token  regproxy.py: Bearer token service + auth proxy in front of plain  (port $GSI_REG_TOKEN_PORT, 5600)
#   fault  regproxy.py: fault-injecting proxy in front of plain              (port $GSI_REG_FAULT_PORT, 5700)
#
#   tests/registry/start.sh          start what is not running yet (idempotent), wait until all answer,
#                                    and write $STATE/env (shell exports the tests source)
#   tests/registry/start.sh stop     stop everything started from $STATE
#   tests/registry/start.sh status   exit 0 when all four answer
#
# State (configs, certificates, htpasswd, registry storage, logs, pid files) lives in $GSI_REG_STATE,
# default /tmp/gsi-registries.  The password and the CA are made once and kept across restarts.
set -euo pipefail

STATE=${GSI_REG_STATE:-/tmp/gsi-registries}
# The ports a running set was started with are in $STATE/env, so status and stop (and a second
# start) find them without the variables.
saved_port() { [ -f "$STATE/env" ] && sed -n "s/^export GSI_REG_$1_PORT=//p" "$STATE/env" || true; }
PLAIN_PORT=${GSI_REG_PLAIN_PORT:-$(saved_port PLAIN)}
TLS_PORT=${GSI_REG_TLS_PORT:-$(saved_port TLS)}
TOKEN_PORT=${GSI_REG_TOKEN_PORT:-$(saved_port TOKEN)}
FAULT_PORT=${GSI_REG_FAULT_PORT:-$(saved_port FAULT)}
PLAIN_PORT=${PLAIN_PORT:-5000}
TLS_PORT=${TLS_PORT:-5443}
TOKEN_PORT=${TOKEN_PORT:-5600}
FAULT_PORT=${FAULT_PORT:-5700}
REGISTRY_BIN=${GSI_DOCKER_REGISTRY:-/usr/bin/docker-registry}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${GSI_REG_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3 || true)}
USER_NAME=gsi
SERVICES=(plain tls token fault)

die() { echo "registry/start.sh: $*" >&2; exit 1; }

pid_alive() { # name -> 0 when its pid file names a live process
  local f=$STATE/run/$1.pid
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

port_of() {
  case $1 in plain) echo "$PLAIN_PORT" ;; tls) echo "$TLS_PORT" ;; token) echo "$TOKEN_PORT" ;; fault) echo "$FAULT_PORT" ;; esac
}

port_open() { # port -> 0 when something listens on 127.0.0.1:port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The HTTP status of the service's /v2/ (000 when it does not answer).
probe() {
  local url
  case $1 in
    tls) curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$STATE/tls/ca.crt" \
           "https://127.0.0.1:$TLS_PORT/v2/" || true ;;
    *) url="http://127.0.0.1:$(port_of "$1")/v2/"
       curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true ;;
  esac
}

expected_status() { case $1 in plain|fault) echo 200 ;; tls|token) echo 401 ;; esac; }

up() { [ "$(probe "$1")" = "$(expected_status "$1")" ]; }

stop_all() {
  local name pid
  for name in "${SERVICES[@]}"; do
    if pid_alive "$name"; then
      pid=$(cat "$STATE/run/$name.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/run/$name.pid"
  done
  rm -f "$STATE/env"
}

status_all() {
  local name rc=0
  for name in "${SERVICES[@]}"; do
    if up "$name"; then echo "$name: up (127.0.0.1:$(port_of "$name"))"
    else echo "$name: down"; rc=1; fi
  done
  return $rc
}

registry_config() { # name port storage [extra yaml]
  cat >"$STATE/$1/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $3
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$2
  secret: gsi-test-$1
  headers:
    X-Content-Type-Options: [nosniff]
${4:-}
EOF
}

make_tls_material() {
  local d=$STATE/tls
  mkdir -p "$d"
  if [ ! -s "$d/password" ]; then
    openssl rand -hex 12 >"$d/password"
  fi
  if [ ! -s "$d/ca.crt" ] || [ ! -s "$d/server.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=gsi test CA" \
      -keyout "$d/ca.key" -out "$d/ca.crt" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      2>"$d/openssl.log" || die "openssl failed making the CA (see $d/openssl.log)"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$d/server.key" -out "$d/server.csr" 2>>"$d/openssl.log" \
      || die "openssl failed making the server key (see $d/openssl.log)"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -days 3650 -extfile "$d/server.ext" -out "$d/server.crt" 2>>"$d/openssl.log" \
      || die "openssl failed signing the server certificate (see $d/openssl.log)"
  fi
  htpasswd -Bbn "$USER_NAME" "$(cat "$d/password")" >"$d/htpasswd" 2>/dev/null \
    || die "htpasswd -Bbn failed (apache2-utils installed?)"
  mkdir -p "$STATE/certs.d/127.0.0.1:$TLS_PORT" "$STATE/certs.d/localhost:$TLS_PORT"
  cp "$d/ca.crt" "$STATE/certs.d/127.0.0.1:$TLS_PORT/ca.crt"
  cp "$d/ca.crt" "$STATE/certs.d/localhost:$TLS_PORT/ca.crt"
}

launch() { # name command...
  local name=$1; shift
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/run/$name.pid"
}

start_one() {
  local name=$1 port
  port=$(port_of "$name")
  if pid_alive "$name"; then
    return 0
  fi
  rm -f "$STATE/run/$name.pid"
  if port_open "$port"; then
    die "$name: port 127.0.0.1:$port is already taken by another process (not started from $STATE);
  stop it or choose another port with GSI_REG_$(echo "$name" | tr a-z A-Z)_PORT"
  fi
  mkdir -p "$STATE/$name"
  case $name in
    plain)
      registry_config plain "$PLAIN_PORT" "$STATE/plain/data"
      launch plain "$REGISTRY_BIN" serve "$STATE/plain/config.yml" ;;
    tls)
      registry_config tls "$TLS_PORT" "$STATE/tls/data" "  tls:
    certificate: $STATE/tls/server.crt
    key: $STATE/tls/server.key
auth:
  htpasswd:
    realm: gsi-test
    path: $STATE/tls/htpasswd"
      # The registry's TLS listener is http.addr with a tls: block, so the YAML goes under http:.
      launch tls "$REGISTRY_BIN" serve "$STATE/tls/config.yml" ;;
    token)
      launch token "$PYTHON" "$HERE/regproxy.py" token --listen "$TOKEN_PORT" \
        --upstream "127.0.0.1:$PLAIN_PORT" --user "$USER_NAME" --password "$(cat "$STATE/tls/password")" ;;
    fault)
      launch fault "$PYTHON" "$HERE/regproxy.py" fault --listen "$FAULT_PORT" \
        --upstream "127.0.0.1:$PLAIN_PORT" ;;
  esac
}

wait_up() {
  local name=$1 i
  for i in $(seq 100); do
    if up "$name"; then return 0; fi
    if ! pid_alive "$name"; then
      echo "registry/start.sh: $name exited; its log ($STATE/logs/$name.log):" >&2
      tail -n 20 "$STATE/logs/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  echo "registry/start.sh: $name did not answer on 127.0.0.1:$(port_of "$name") within 10 s" \
    "(/v2/ status $(probe "$name"), want $(expected_status "$name")); log:" >&2
  tail -n 20 "$STATE/logs/$name.log" >&2 || true
  exit 1
}

write_env() {
  local pass tmp
  pass=$(cat "$STATE/tls/password")
  tmp=$STATE/env.tmp
  cat >"$tmp" <<EOF
# Written by tests/registry/start.sh: source it to reach the test registries.
export GSI_REG_STATE='$STATE'
export GSI_REG_PLAIN=127.0.0.1:$PLAIN_PORT
export GSI_REG_TLS=127.0.0.1:$TLS_PORT
export GSI_REG_TLS_USER=$USER_NAME
export GSI_REG_TLS_PASS=$pass
export GSI_REG_CA='$STATE/tls/ca.crt'
export GSI_CERTS_DIR='$STATE/certs.d'
export GSI_REG_TOKEN=127.0.0.1:$TOKEN_PORT
export GSI_REG_TOKEN_USER=$USER_NAME
export GSI_REG_TOKEN_PASS=$pass
export GSI_REG_TOKEN_CTL=http://127.0.0.1:$TOKEN_PORT/_ctl
export GSI_REG_FAULT=127.0.0.1:$FAULT_PORT
export GSI_REG_FAULT_CTL=http://127.0.0.1:$FAULT_PORT/_fault
export GSI_REG_PLAIN_PORT=$PLAIN_PORT
export GSI_REG_TLS_PORT=$TLS_PORT
export GSI_REG_TOKEN_PORT=$TOKEN_PORT
export GSI_REG_FAULT_PORT=$FAULT_PORT
EOF
  # A registries.yaml for the tests that want plain HTTP without --tls-verify=false on every call.
  printf 'registries:\n' >"$STATE/registries.yaml"
  for port in "$PLAIN_PORT" "$TOKEN_PORT" "$FAULT_PORT"; do
    printf '  "127.0.0.1:%s":\n    tls-verify: false\n' "$port" >>"$STATE/registries.yaml"
  done
  echo "export GSI_REG_CONF='$STATE/registries.yaml'" >>"$tmp"
  mv "$tmp" "$STATE/env"
}

case ${1:-start} in
  stop) stop_all; exit 0 ;;
  status) status_all; exit $? ;;
  start) ;;
  *) die "usage: start.sh [start|stop|status]" ;;
esac

[ -x "$REGISTRY_BIN" ] || die "$REGISTRY_BIN not found: apt-get install docker-registry (scripts/install-deps.sh)"
for tool in openssl htpasswd curl; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-deps.sh"
done
[ -n "$PYTHON" ] || die "python3 not found: run scripts/install-deps.sh"

mkdir -p "$STATE/run" "$STATE/logs"
make_tls_material
for name in "${SERVICES[@]}"; do
  start_one "$name"
done
for name in "${SERVICES[@]}"; do
  wait_up "$name"
done
write_env
echo "registries up; source $STATE/env"
