#!/usr/bin/env bash
# Installs what lookalike needs on a Debian/Ubuntu machine, then the workspace, then builds it.
# Idempotent: a second run only checks. Needs root (or sudo) for apt-get the first time.
#   scripts/setup.sh            system packages + pnpm + workspace + build
#   scripts/setup.sh --browser  also Debian's chromium (the demo-page browser test)
#   scripts/setup.sh --bench    also python3-sklearn (the seed's method, run as a benchmark peer)
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
want_bench=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --bench) want_bench=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] %s\033[0m\n' "$*" >&2; exit 1; }

# --- system packages -------------------------------------------------------------------------
# redis-server: queue backend for local runs and tests. libfaiss-dev (+ BLAS/LAPACK/OpenMP, cmake,
# g++): faiss-node is compiled against Debian's faiss through patches/faiss-node@*.patch.
# docker-compose: only to validate docker-compose.yml (`docker-compose config`) where no engine runs.
packages=(redis-server libfaiss-dev libopenblas-dev liblapack-dev cmake g++ make python3 docker-compose)
[ "$want_browser" = 1 ] && packages+=(chromium fonts-dejavu-core)
[ "$want_bench" = 1 ] && packages+=(python3-sklearn python3-numpy)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} with your package manager, then re-run."
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo="sudo"
  fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq || die "apt-get update failed (is a Debian mirror reachable?)"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
else
  say "Debian packages present: ${packages[*]}"
fi

# --- Node.js and pnpm ------------------------------------------------------------------------
command -v node >/dev/null || die "Node.js 20+ is required (https://nodejs.org or Debian's nodejs)."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js 20+ is required, found $(node --version)."
pnpm_version=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "$pnpm_version" ]; then
  # corepack cannot download pnpm on machines that only reach the npm registry; npm can.
  say "installing pnpm@$pnpm_version with npm"
  npm install -g --silent "pnpm@$pnpm_version" || die "npm install -g pnpm@$pnpm_version failed"
fi

# --- workspace -------------------------------------------------------------------------------
# onnxruntime-node's own install script only downloads CUDA parts (offline it fails); its CPU
# binaries ship in the package. pnpm runs build scripts only for onlyBuiltDependencies (faiss-node).
export ONNXRUNTIME_NODE_INSTALL=skip
say "pnpm install"
pnpm install --frozen-lockfile --reporter=append-only >/dev/null || die "pnpm install failed"
node -e "require('./packages/index-store/node_modules/faiss-node')" 2>/dev/null \
  || die "faiss-node did not build: check that libfaiss-dev, cmake and g++ are installed, then run pnpm rebuild faiss-node"
say "building (tsc -b, then the widget bundle)"
pnpm -s build || die "build failed"
say "ready"
