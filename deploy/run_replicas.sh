#!/usr/bin/env bash
# Start N Streamlit replicas of the app on loopback ports and nginx in front of them, with sticky sessions
# (deploy/nginx.conf.template). Students open the front's address; each browser stays on one replica.
#
#   deploy/run_replicas.sh                  # 2 replicas on 127.0.0.1:8601-8602, nginx on 127.0.0.1:8080
#   deploy/run_replicas.sh 4 9000           # 4 replicas, nginx on port 9000
#   LISTEN=0.0.0.0 deploy/run_replicas.sh 3 # the front on every interface (the replicas stay on loopback)
#   BASE_PORT=8701 RUN_DIR=/tmp/class deploy/run_replicas.sh 3
#   deploy/run_replicas.sh --check 4 9000   # write nginx.conf, test it with `nginx -t`, start nothing
#
# It stays in the foreground until interrupted (Ctrl-C, SIGTERM) or until a replica or nginx exits, and then stops
# every process it started (by their process ids). RUN_DIR holds nginx.conf, the logs, replicas.pids (one line
# "port pid" per replica), nginx.pid, and a file "ready" once every replica and the front answer /_stcore/health.
# Needs: the app's Python environment (requirements.txt) and nginx (Debian: apt-get install nginx).
set -euo pipefail

CHECK=0
if [[ "${1:-}" == "--check" ]]; then CHECK=1; shift; fi
N=${1:-2}
PORT=${2:-8080}
BASE_PORT=${BASE_PORT:-8601}
LISTEN=${LISTEN:-127.0.0.1}
PYTHON=${PYTHON:-python}
HEALTH_WAIT_S=${HEALTH_WAIT_S:-180}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE="$REPO/deploy"

die() { echo "run_replicas: $*" >&2; exit 2; }
[[ "$N" =~ ^[0-9]+$ ]] && (( N >= 1 && N <= 64 )) || die "N must be a number from 1 to 64, got '$N'"
for p in "$PORT" "$BASE_PORT"; do
  [[ "$p" =~ ^[0-9]+$ ]] && (( p >= 1024 && p <= 65535 )) || die "ports must be 1024..65535, got '$p'"
done
(( BASE_PORT + N - 1 <= 65535 )) || die "BASE_PORT + N - 1 is past 65535"
(( PORT < BASE_PORT || PORT >= BASE_PORT + N )) || die "the front's port $PORT is one of the replicas' ports"
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x "$NGINX" ]] || die "nginx not found (Debian: apt-get install nginx; or set NGINX=/path/to/nginx)"

RUN_DIR=${RUN_DIR:-$(mktemp -d /tmp/diffrec_replicas.XXXXXX)}
mkdir -p "$RUN_DIR/tmp"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
# nginx's workers drop to an unprivileged user when started as root: they must be able to reach the temp dirs
chmod 755 "$RUN_DIR" "$RUN_DIR/tmp"
rm -f "$RUN_DIR/ready" "$RUN_DIR/replicas.pids" "$RUN_DIR/nginx.pid"

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -f "$RUN_DIR/ready"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

healthy() {   # one /_stcore/health probe; true when it answers "ok"
  "$PYTHON" -c 'import sys, urllib.request
try:
    ok = urllib.request.urlopen(sys.argv[1], timeout=2).read().strip() == b"ok"
except OSError:
    ok = False
sys.exit(0 if ok else 1)' "$1"
}

wait_healthy() {   # bounded: at most HEALTH_WAIT_S seconds; fails early when the process has exited
  local url=$1 pid=$2 i
  for (( i = 0; i < HEALTH_WAIT_S * 2; i++ )); do
    healthy "$url" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

upstreams=""
for (( i = 0; i < N; i++ )); do
  upstreams+="        server 127.0.0.1:$(( BASE_PORT + i ));"$'\n'
done
conf=$(<"$HERE/nginx.conf.template")
conf=${conf//@RUN_DIR@/$RUN_DIR}
conf=${conf//@LISTEN@/$LISTEN:$PORT}
conf=${conf//@UPSTREAMS@/${upstreams%$'\n'}}
printf '%s\n' "$conf" >"$RUN_DIR/nginx.conf"
"$NGINX" -t -q -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" || die "nginx rejected $RUN_DIR/nginx.conf"
if (( CHECK )); then
  echo "run_replicas: $RUN_DIR/nginx.conf is valid ($N replicas on 127.0.0.1:$BASE_PORT-$(( BASE_PORT + N - 1 )), front $LISTEN:$PORT)"
  exit 0
fi

cd "$REPO"
for (( i = 0; i < N; i++ )); do
  p=$(( BASE_PORT + i ))
  "$PYTHON" -m streamlit run app.py --server.headless true --server.address 127.0.0.1 --server.port "$p" \
    --server.fileWatcherType none --browser.gatherUsageStats false >"$RUN_DIR/replica-$p.log" 2>&1 &
  pids+=("$!")
  echo "$p $!" >>"$RUN_DIR/replicas.pids"
done

for (( i = 0; i < N; i++ )); do
  p=$(( BASE_PORT + i ))
  wait_healthy "http://127.0.0.1:$p/_stcore/health" "${pids[$i]}" \
    || die "replica on port $p did not become healthy (log: $RUN_DIR/replica-$p.log)"
done

"$NGINX" -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -g 'daemon off;' &
pids+=("$!")
wait_healthy "http://127.0.0.1:$PORT/_stcore/health" "$!" \
  || die "nginx did not answer on port $PORT (log: $RUN_DIR/error.log)"
touch "$RUN_DIR/ready"
echo "run_replicas: http://$LISTEN:$PORT -> $N replicas on 127.0.0.1:$BASE_PORT-$(( BASE_PORT + N - 1 )); run dir $RUN_DIR"

# until a child exits (then say which) or a signal arrives (the traps stop everything)
set +e
wait -n "${pids[@]}"
code=$?
for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || echo "run_replicas: process $pid exited (status $code); stopping the others" >&2
done
exit 1
