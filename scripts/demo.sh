#!/usr/bin/env bash
# Quick start without Docker: Redis (started if none answers), one indexer and the API as local
# processes sharing one data dir, then imports a catalogue in the Kaggle "Fashion Product Images"
# layout (styles.csv + images/<id>.jpg) and serves the demo page. Ctrl-C stops everything.
#   scripts/demo.sh                      # ../shared/data/fashion-sample when present, else empty
#   scripts/demo.sh --catalogue DIR      # your own catalogue
#   scripts/demo.sh --no-import          # just run the services
# Environment: PORT (8080), REDIS_URL, DATA_DIR (./.data/demo), MODEL, MODEL_CACHE_DIR, MODEL_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

catalogue=""
do_import=1
while [ $# -gt 0 ]; do
  case "$1" in
    --catalogue) catalogue="$2"; shift 2 ;;
    --no-import) do_import=0; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "demo: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$catalogue" ] && [ -f ../shared/data/fashion-sample/styles.csv ]; then
  catalogue=$(cd ../shared/data/fashion-sample && pwd)
fi
if [ -n "$catalogue" ]; then
  catalogue=$(cd "$catalogue" && pwd)
  [ -f "$catalogue/styles.csv" ] && [ -d "$catalogue/images" ] \
    || { echo "demo: $catalogue must hold styles.csv and images/<id>.jpg" >&2; exit 2; }
fi

scripts/setup.sh

say() { printf '\033[1m[demo]\033[0m %s\n' "$*"; }
export PORT="${PORT:-8080}"
export DATA_DIR="${DATA_DIR:-$repo/.data/demo}"
export MODEL_CACHE_DIR="${MODEL_CACHE_DIR:-$repo/.cache/models}"
if [ -z "${MODEL_MIRROR:-}" ] && [ -d ../shared/models ]; then export MODEL_MIRROR=$(cd ../shared/models && pwd); fi
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export QUEUE_PREFIX="${QUEUE_PREFIX:-lookalike-demo}"
[ -n "$catalogue" ] && export CATALOGUE_ROOT="$catalogue/images"
mkdir -p "$DATA_DIR" .data/logs

pids=()
redis_dir=""
stop_all() {
  trap - INT TERM EXIT
  say "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$redis_dir" ]; then redis-cli -u "$REDIS_URL" shutdown >/dev/null 2>&1 || true; fi
}
trap stop_all INT TERM EXIT

if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  redis_dir="$repo/.data/redis"
  mkdir -p "$redis_dir"
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  say "no Redis at $REDIS_URL; starting redis-server on port $port (AOF in $redis_dir)"
  redis-server --port "$port" --bind 127.0.0.1 --appendonly yes --dir "$redis_dir" --daemonize yes \
    --logfile "$redis_dir/redis.log"
  export REDIS_URL="redis://127.0.0.1:$port"
  for _ in $(seq 50); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

say "starting the indexer (log: .data/logs/indexer.log)"
node services/indexer/dist/main.js >>.data/logs/indexer.log 2>&1 &
pids+=($!)
say "starting the API on port $PORT (log: .data/logs/api.log)"
node services/api/dist/server.js >>.data/logs/api.log 2>&1 &
pids+=($!)

url="http://127.0.0.1:$PORT/"
for _ in $(seq 120); do
  curl -fsS "${url}healthz" >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { say "the API exited; see .data/logs/api.log"; tail -20 .data/logs/api.log; exit 1; }
  sleep 0.5
done
say "demo page: $url   (API docs: ${url}docs)"

if [ "$do_import" = 1 ] && [ -n "$catalogue" ]; then
  say "importing $catalogue (the page fills in as snapshots are published)"
  node packages/cli/dist/bin.js import --csv "$catalogue/styles.csv" --images "$catalogue/images" --wait \
    || say "import finished with failures (see above)"
elif [ -z "$catalogue" ]; then
  say "no catalogue found: the index is empty. Import one (Kaggle layout: styles.csv + images/<id>.jpg) with"
  say "  REDIS_URL=$REDIS_URL QUEUE_PREFIX=$QUEUE_PREFIX pnpm lookalike import --csv DIR/styles.csv --images DIR/images --base64 --wait"
  say "or restart with: scripts/demo.sh --catalogue DIR"
fi
say "serving at $url — press Ctrl-C to stop"
wait "${pids[1]}"
