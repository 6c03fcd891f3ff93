#!/usr/bin/env bash
# Proves the distributed-runner path locally: the portable job API that
# Dataflow and Flink are reached through, with Beam's prism as a standalone
# job server, and the pretext binary started as a worker the way a cluster
# starts it.
#
# For the image quickstart (configs/quickstart.yaml) and the BERT config
# (configs/text-bert.yaml), with one seed, it runs
#   inprocess  pretext run …                                   (prism in-process, the default)
#   loopback   pretext run … --runner=universal --endpoint=localhost:PORT --environment_type=LOOPBACK
#   external   pretext run … --runner=universal --endpoint=localhost:PORT --environment_type=EXTERNAL
#                --environment_config=localhost:50000 --worker_binary=bin/pretext
# where EXTERNAL goes through Beam's Go SDK container boot program started as
# `boot --worker_pool` (port 50000, fixed in boot.go): for each worker prism
# asks the pool, boot fetches the staged pretext binary from prism's artifact
# service and runs it as `pretext --worker=true --id=… --control_endpoint=…`.
# Every file of every run (shards and manifests) must be byte-identical to the
# in-process run's.
#
# Usage: scripts/portable-test.sh
# Environment:
#   PRETEXT_BIN_DIR        where pretext, prism and boot are built (default: bin/, git-ignored)
#   PRETEXT_PORTABLE_WORK  work folder for configs, outputs and logs (default: a new temp
#                          folder, removed on success, kept and printed on failure);
#                          when given, it is left in place
#   PRETEXT_PORTABLE_SETS  datasets to run (default "image text")
#   PRETEXT_PORTABLE_MODES portable modes to run (default "loopback external")
#   PRETEXT_SEED           seed of every run (default 12345)
#   PRETEXT_RUN_TIMEOUT    seconds one pipeline run may take (default 300)
# Exit status: 0 all identical; 1 a run failed or a file differs; 77 the test
# cannot start here (the reason is printed on the last line) — tests skip on 77.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

status=1
cannot() { # cannot start here: say why, exit 77
  echo "portable-test: SKIP: $*" >&2
  status=77
  exit 77
}
fail() {
  echo "portable-test: FAIL: $*" >&2
  status=1
  exit 1
}

command -v go >/dev/null || cannot "Go is not installed (need go1.26+)"
for tool in cmp sha256sum find sort; do
  command -v "$tool" >/dev/null || cannot "$tool is not installed"
done

bin=${PRETEXT_BIN_DIR:-$root/bin}
sets=${PRETEXT_PORTABLE_SETS:-image text}
modes=${PRETEXT_PORTABLE_MODES:-loopback external}
seed=${PRETEXT_SEED:-12345}
run_timeout=${PRETEXT_RUN_TIMEOUT:-300}
pool_port=50000 # boot --worker_pool always listens on :50000 (container/boot.go)

if [ -n "${PRETEXT_PORTABLE_WORK:-}" ]; then
  work=$PRETEXT_PORTABLE_WORK
  own_work=false
  mkdir -p "$work" || cannot "cannot create $work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/pretext-portable.XXXXXX") || cannot "cannot create a temp folder"
  own_work=true
fi
work=$(cd "$work" && pwd)
mkdir -p "$work/tmp" "$work/logs" "$work/out" "$work/pool"

# --- cleanup: every process this script started, and what boot left in /tmp ---
prism_pid="" boot_pid="" watchdog_pid="" run_pid=""
# The worker binary is staged under its base name: a name of this run's own
# lets cleanup find boot's copy under /tmp/staged.
worker_name=pretext-portable-$$
marker=$work/.started
: >"$marker"
staged_existed=false
[ -d /tmp/staged ] && staged_existed=true
# What boot leaves in /tmp (both paths are fixed in boot.go): a copy of the
# worker binary per worker (/tmp/binNNN/worker) and the staged artifact
# (/tmp/staged/N-NAME). Set once boot runs; run by cleanup and the watchdog.
remove_boot_leftovers=:

stop_group() { # stop_group PID: TERM the process group PID leads, KILL it after 5 s
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
}

cleanup() {
  trap - EXIT INT TERM
  [ -n "$run_pid" ] && kill -TERM "$run_pid" 2>/dev/null
  [ -n "$watchdog_pid" ] && kill -TERM "$watchdog_pid" 2>/dev/null
  stop_group "$boot_pid"
  stop_group "$prism_pid"
  wait 2>/dev/null
  bash -c "$remove_boot_leftovers" 2>/dev/null
  if [ "$status" -eq 0 ] && $own_work; then
    rm -rf "$work"
  elif $own_work; then
    rm -rf "$work/tmp"
    echo "portable-test: configs, outputs and logs kept in $work" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'status=130; cleanup' INT
trap 'status=143; cleanup' TERM

# Beam temp files (LOOPBACK's placeholder worker binaries, go build's work)
# stay inside the work folder.
export TMPDIR=$work/tmp

# --- build ---
t0=$(date +%s.%N)
echo "portable-test: building pretext, prism and boot into $bin" >&2
mkdir -p "$bin"
go build -o "$bin/pretext" ./cmd/pretext 2>"$work/logs/build-pretext.log" ||
  { cat "$work/logs/build-pretext.log" >&2; fail "go build ./cmd/pretext failed"; }
if ! go build -o "$bin/prism" github.com/apache/beam/sdks/v2/go/cmd/prism 2>"$work/logs/build-prism.log"; then
  cannot "cannot build Beam's prism job server: $(tail -n 3 "$work/logs/build-prism.log" | tr '\n' ' ')"
fi
if [[ " $modes " == *" external "* ]] &&
  ! go build -o "$bin/boot" github.com/apache/beam/sdks/v2/go/container 2>"$work/logs/build-boot.log"; then
  cannot "cannot build Beam's Go SDK container boot program: $(tail -n 3 "$work/logs/build-boot.log" | tr '\n' ' ')"
fi
build_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

ln -sf "$bin/pretext" "$work/$worker_name"

# --- configs: absolute paths, because workers do not run in this folder ---
declare -A config
for set in $sets; do
  case $set in
  image) src=configs/quickstart.yaml ;;
  text) src=configs/text-bert.yaml ;;
  *) fail "unknown dataset set $set (image, text)" ;;
  esac
  [ -f "$src" ] || { fail "$src is missing"; }
  config[$set]=$work/$(basename "$src")
  sed -E "s#^([[:space:]]*(input|vocab):[[:space:]]*)(testdata/)#\1$root/\3#" "$src" >"${config[$set]}"
  if grep -Eq "^[[:space:]]*(input|vocab):[[:space:]]*[^/[:space:]]" "${config[$set]}"; then
    fail "${config[$set]}: a relative input or vocab path is left (workers would not find it)"
  fi
done

# --- servers ---
port_open() { (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

start_group() { # start_group LOG DIR CMD…: starts CMD in a process group of its own, echoes its pid
  local log=$1 dir=$2
  shift 2
  if command -v setsid >/dev/null; then
    (cd "$dir" && exec setsid "$@") >"$log" 2>&1 &
  else
    set -m
    (cd "$dir" && exec "$@") >"$log" 2>&1 &
    set +m
  fi
  echo $!
}

wait_port() { # wait_port PORT PID SECONDS: until PORT accepts; fails if PID exits first
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

port=""
for try in 1 2 3 4 5; do
  candidate=$((20000 + RANDOM % 20000))
  port_open "$candidate" && continue
  # --idle_shutdown_timeout: a job server orphaned by a killed test ends itself.
  prism_pid=$(start_group "$work/logs/prism.log" "$work" "$bin/prism" --job_port="$candidate" \
    --serve_http=false --log_level=warn --idle_shutdown_timeout=10m)
  if wait_port "$candidate" "$prism_pid" 30; then
    port=$candidate
    break
  fi
  stop_group "$prism_pid"
  prism_pid=""
done
[ -n "$port" ] || { cannot "prism did not start on a free loopback port: $(tail -n 3 "$work/logs/prism.log" | tr '\n' ' ')"; }

if [[ " $modes " == *" external "* ]]; then
  if port_open "$pool_port"; then
    cannot "port $pool_port is in use; boot --worker_pool cannot listen (the port is fixed in Beam's boot.go)"
  fi
  # Ours are the /tmp/bin* folders that appear from now on holding only a
  # worker binary of our binary's size.
  bins_before=" $(ls -d /tmp/bin* 2>/dev/null | tr '\n' ' ') "
  size=$(stat -Lc %s "$bin/pretext")
  remove_boot_leftovers='
    for d in /tmp/bin*; do
      [ -d "$d" ] && [ "$d" -nt "'"$marker"'" ] && [ "$(ls -A "$d")" = worker ] || continue
      case "'"$bins_before"'" in *" $d "*) continue ;; esac
      [ "$(stat -c %s "$d/worker")" = '"$size"' ] && rm -rf "$d"
    done
    rm -f /tmp/staged/*-'"$worker_name"'
    '"$staged_existed"' || rmdir /tmp/staged'
  # Run in its own folder: boot writes pipeline_options.json where it runs.
  boot_pid=$(start_group "$work/logs/boot.log" "$work/pool" "$bin/boot" --worker_pool)
  wait_port "$pool_port" "$boot_pid" 30 ||
    { cannot "boot --worker_pool did not start: $(tail -n 3 "$work/logs/boot.log" | tr '\n' ' ')"; }
fi

# A watchdog in a session of its own stops the servers, and removes boot's
# copy of the worker binary, if this script is killed without its cleanup.
if command -v setsid >/dev/null; then
  setsid bash -c 'while kill -0 '"$$"' 2>/dev/null; do sleep 1; done
    for g in '"${prism_pid} ${boot_pid}"'; do kill -TERM -- "-$g" 2>/dev/null; done
    sleep 2; bash -c "$0"' "$remove_boot_leftovers" >/dev/null 2>&1 &
  watchdog_pid=$!
fi

# --- runs ---
declare -A secs result
run() { # run SET MODE: runs pretext, records its time
  local set=$1 mode=$2 out=$work/out/$2/$1 log=$work/logs/$2-$1.log
  local args=(run --config "${config[$set]}" --output "$out" --seed "$seed" --progress 0)
  case $mode in
  inprocess) ;;
  loopback) args+=(--runner=universal --endpoint="localhost:$port" --environment_type=LOOPBACK) ;;
  external) args+=(--runner=universal --endpoint="localhost:$port" --environment_type=EXTERNAL
    --environment_config="localhost:$pool_port" --worker_binary="$work/$worker_name" --allow_local_paths) ;;
  esac
  local started
  started=$(grep -c "starting worker" "$work/logs/boot.log" 2>/dev/null)
  local t
  t=$(date +%s.%N)
  echo "+ pretext ${args[*]}" >"$log"
  if command -v timeout >/dev/null; then
    timeout "$run_timeout" "$bin/pretext" "${args[@]}" >>"$log" 2>&1 &
  else
    "$bin/pretext" "${args[@]}" >>"$log" 2>&1 &
  fi
  run_pid=$!
  wait "$run_pid"
  local rc=$?
  run_pid=""
  secs[$set/$mode]=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [ "$rc" -ne 0 ]; then
    result[$set/$mode]="run failed (exit $rc)"
    echo "portable-test: $mode $set failed (exit $rc); last lines of $log:" >&2
    tail -n 20 "$log" | sed 's/^/  /' >&2
    [ "$mode" = inprocess ] || { echo "  prism:" >&2; tail -n 10 "$work/logs/prism.log" | sed 's/^/  /' >&2; }
    [ "$mode" = external ] && { echo "  boot:" >&2; tail -n 10 "$work/logs/boot.log" | sed 's/^/  /' >&2; }
    return 1
  fi
  if [ "$mode" = external ]; then
    local now
    now=$(grep -c "starting worker" "$work/logs/boot.log")
    if [ "$now" -le "$started" ]; then
      result[$set/$mode]="no worker started by the pool"
      return 1
    fi
    workers[$set]=$((now - started))
  fi
  return 0
}

compare() { # compare SET MODE: every file against the in-process run's
  local set=$1 mode=$2 ref=$work/out/inprocess/$1 got=$work/out/$2/$1
  local diffs=0 n=0 shards=0 f
  local ref_list got_list
  ref_list=$(cd "$ref" && find . -type f | LC_ALL=C sort)
  got_list=$(cd "$got" && find . -type f | LC_ALL=C sort)
  if [ "$ref_list" != "$got_list" ]; then
    echo "portable-test: $mode $set: the file lists differ:" >&2
    diff <(echo "$ref_list") <(echo "$got_list") | sed 's/^/  /' >&2
    diffs=$((diffs + 1))
  fi
  while read -r f; do
    [ -n "$f" ] || continue
    [ -f "$got/$f" ] || continue
    n=$((n + 1))
    if ! cmp -s "$ref/$f" "$got/$f"; then
      echo "portable-test: $mode $set: $f differs from the in-process run's" >&2
      diffs=$((diffs + 1))
    fi
    if [[ $f == *.parquet ]]; then
      shards=$((shards + 1))
      # The manifest beside the shard lists its hash.
      local sum
      sum=$(sha256sum "$got/$f" | cut -d' ' -f1)
      if ! grep -qF "\"$sum\"" "$got/$(dirname "$f")/_manifest.json" 2>/dev/null; then
        echo "portable-test: $mode $set: $f (sha256 $sum) is not in its manifest's shard list" >&2
        diffs=$((diffs + 1))
      fi
    fi
  done <<<"$got_list"
  if [ "$n" -eq 0 ]; then
    result[$set/$mode]="no output"
    return 1
  fi
  if [ "$diffs" -gt 0 ]; then
    result[$set/$mode]="DIFFERENT ($diffs of $n files)"
    return 1
  fi
  result[$set/$mode]="identical: $shards shards + $((n - shards)) manifests"
  return 0
}

declare -A workers
failed=0
for set in $sets; do
  if ! run "$set" inprocess; then
    failed=1
    continue
  fi
  result[$set/inprocess]="reference: $(cd "$work/out/inprocess/$set" && find . -name '*.parquet' | wc -l) shards"
  for mode in $modes; do
    if run "$set" "$mode"; then
      compare "$set" "$mode" || failed=1
    else
      failed=1
    fi
  done
done

# --- summary ---
describe() {
  case $1 in
  inprocess) echo "prism, in-process" ;;
  loopback) echo "universal via prism job server, LOOPBACK" ;;
  external) echo "universal via prism job server, EXTERNAL (boot worker pool)" ;;
  esac
}
echo
echo "portable-test: seed $seed; prism job server localhost:$port$([[ " $modes " == *" external "* ]] && echo "; boot --worker_pool localhost:$pool_port"); builds ${build_s}s"
printf '  %-6s %-10s %-58s %7s  %s\n' set mode runner time result
for set in $sets; do
  for mode in inprocess $modes; do
    [ -n "${secs[$set/$mode]:-}" ] || continue
    extra=""
    [ "$mode" = external ] && [ -n "${workers[$set]:-}" ] && extra=" (${workers[$set]} worker(s) started by the pool)"
    printf '  %-6s %-10s %-58s %6ss  %s\n' "$set" "$mode" "$(describe "$mode")" "${secs[$set/$mode]}" "${result[$set/$mode]:-not run}$extra"
  done
done
if [ "$failed" -ne 0 ]; then
  fail "a run failed or its output differs from the in-process run's (logs in $work/logs)"
fi
status=0
echo "portable-test: PASS: every shard and manifest is byte-identical across runners"
