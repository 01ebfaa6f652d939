#!/usr/bin/env bash
# FedActors: the one entry point.
#   ./run.sh                 set up what is missing, then run the quickstart (hocon/experiments/quickstart.conf)
#   ./run.sh test            set up, then run every test; ends with the line "N passed, N failed, N skipped"
#   ./run.sh ARGS...         set up, then pass ARGS to the fedactors CLI (./run.sh run X.conf, ./run.sh bench overhead)
# Set-up: the Debian package dataset-fashion-mnist (via apt-get), for the tests and `bench cluster` also postgresql, and a Release build
# (NuGet restore included).
# FEDACTORS_SKIP_SETUP=1 skips set-up and FEDACTORS_CLI=path/fedactors.dll picks the build (tests use both).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

DATASET_DIR=/usr/share/datasets/fashion-mnist
CLI="${FEDACTORS_CLI:-src/FedActors.Cli/bin/Release/net10.0/fedactors.dll}"
# One torch thread per concurrently trained client is our default; passive OpenMP waits keep any extra
# threads from spinning (see README, "Threads").
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

require_dotnet() {
  if ! command -v dotnet >/dev/null 2>&1; then
    cat >&2 <<'MSG'
FedActors needs the .NET 10 SDK, and `dotnet` is not on PATH.
Install it, then run ./run.sh again:
  Debian 12:  see https://learn.microsoft.com/dotnet/core/install/linux-debian
              (Microsoft's package feed, then: apt-get install dotnet-sdk-10.0)
  any Linux:  the dotnet-install script from https://dot.net/v1/dotnet-install.sh --channel 10.0
MSG
    exit 1
  fi
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
  echo "need root to run: $* (install it by hand, or run as root)" >&2; exit 1; fi; }

ensure_dataset() {
  if [ ! -f "$DATASET_DIR/train-images-idx3-ubyte.gz" ] || [ ! -f "$DATASET_DIR/t10k-labels-idx1-ubyte.gz" ]; then
    say "installing Debian package dataset-fashion-mnist"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq dataset-fashion-mnist >/dev/null
  fi
}

ensure_postgres() {
  # the tests start throwaway PostgreSQL servers (initdb/pg_ctl on a loopback port) for the postgres state store
  if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    say "installing Debian package postgresql (for the tests' throwaway servers)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
  fi
}

build() {
  say "building (Release)"
  dotnet build FedActors.sln -c Release -nologo -v quiet -clp:ErrorsOnly
}

run_tests() {
  local log; log=$(mktemp)
  set +e
  dotnet test FedActors.sln -c Release --no-build -nologo 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  # dotnet test prints one "Passed!/Failed!  - Failed: F, Passed: P, Skipped: S, Total: T" line per test assembly.
  awk '/(Passed|Failed)! +- +Failed:/ {
         for (i = 1; i <= NF; i++) { gsub(",", "", $(i+1));
           if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
       END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
  rm -f "$log"
  return "$rc"
}

# A run executes a snapshot of the build, never bin/ itself: build outputs are hard links to obj/ (to save disk), so
# the next build rewrites them in place, and with them the assemblies of a run still going (seen: a run whose build was
# redone under it hung). Managed files are copied (~17 MB); the large native libraries, which builds never rewrite in
# place, are hard-linked. Snapshots are keyed by content and the newest three kept.
snapshot_cli() {
  local bin snaps key snap tmp
  bin=$(dirname "$CLI")
  [ -f "$bin/fedactors.dll" ] || return 0
  snaps="${FEDACTORS_SNAPSHOTS:-${XDG_CACHE_HOME:-$HOME/.cache}/fedactors}"
  key=$(find "$bin" -maxdepth 1 -type f ! -name '*.so*' -printf '%f %s %T@\n' | sort | md5sum | cut -c1-16)
  snap="$snaps/cli-$key"
  if [ ! -f "$snap/fedactors.dll" ]; then
    mkdir -p "$snaps"
    tmp=$(mktemp -d "$snaps/.tmp-XXXXXX")
    (cd "$bin" && find . -type f | while read -r f; do
      mkdir -p "$tmp/$(dirname "$f")"
      case "$f" in *.so|*.so.*) ln "$f" "$tmp/$f" 2>/dev/null || cp "$f" "$tmp/$f" ;; *) cp -p "$f" "$tmp/$f" ;; esac
    done)
    mv -T "$tmp" "$snap" 2>/dev/null || rm -rf "$tmp"   # another run made the same snapshot first
    ls -1dt "$snaps"/cli-* 2>/dev/null | tail -n +4 | xargs -r rm -rf
  fi
  CLI="$snap/fedactors.dll"
}

if [ "${FEDACTORS_SKIP_SETUP:-0}" != 1 ]; then
  require_dotnet
  ensure_dataset
  if [ "${1:-}" = test ] || [ "${1:-} ${2:-}" = "bench cluster" ]; then ensure_postgres; fi
  build
fi

case "${1:-}" in
  test) run_tests ;;
  "") [ -n "${FEDACTORS_CLI:-}" ] || snapshot_cli; exec dotnet "$CLI" run ;;
  *) [ -n "${FEDACTORS_CLI:-}" ] || snapshot_cli; exec dotnet "$CLI" "$@" ;;
esac
