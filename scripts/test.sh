#!/usr/bin/env bash
# The project's test command (README, CI): setup → lint → typecheck → every jest suite.
# Uses the Redis at $REDIS_URL (default redis://127.0.0.1:6379) when it answers; otherwise starts a
# private redis-server on a free port for this run. Tests keep to their own key prefixes either way.
set -euo pipefail
cd "$(dirname "$0")/.."

# --browser: Debian's chromium for the demo-page browser test, which then must run (not skip).
scripts/setup.sh --browser "$@"
export LOOKALIKE_REQUIRE_BROWSER=1

say() { printf '\033[1m[test]\033[0m %s\n' "$*"; }

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
private_redis_dir=""
cleanup() {
  if [ -n "$private_redis_dir" ]; then
    redis-cli -p "$private_redis_port" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$private_redis_dir"
  fi
}
trap cleanup EXIT
if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  private_redis_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  private_redis_dir=$(mktemp -d)
  say "no Redis at $REDIS_URL; starting a private redis-server on port $private_redis_port"
  redis-server --port "$private_redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$private_redis_dir" --daemonize yes --logfile "$private_redis_dir/redis.log"
  export REDIS_URL="redis://127.0.0.1:$private_redis_port"
  for _ in $(seq 50); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

say "lint (eslint + prettier)"
pnpm -s lint
say "typecheck"
pnpm -s typecheck
if node -e 'process.exit(require("./services/api/package.json").scripts?.["openapi:check"] ? 0 : 1)'; then
  say "OpenAPI document up to date"
  pnpm -s --filter @lookalike/api openapi:check
fi
# The typed client's types are generated from that document: they must match it too.
say "typed client (@lookalike/client) up to date"
pnpm -s --filter @lookalike/client client:check
say "jest (unit + system) with REDIS_URL=$REDIS_URL"
pnpm -s exec jest --ci
