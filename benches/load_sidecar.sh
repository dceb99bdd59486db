#!/usr/bin/env bash
# Load benchmark of the sidecar against the release binaries, in one run: permission checks
# next to a bare hyper server, hold+capture pairs next to PostgreSQL's hot wallet (load.sh's
# pgbench part), the sidecar's memory with many live tokens, hold+capture with 20 ms between
# the partner and central (central directly vs a sidecar), and revocation propagation.
# STYLE.md: measured here, reported as same-run ratios, never asserted by a test. What it
# measures and what it showed: BENCHMARKS.md, "The sidecar".
#
#   benches/load_sidecar.sh                         # about 4 minutes after the release build
#   LOAD_DURATION_S=5 benches/load_sidecar.sh       # shorter measured windows
#
# Needs cargo, curl, and PostgreSQL's server binaries and pgbench (installed as load.sh does).
# All traffic stays on 127.0.0.1; every process and temp dir it starts is removed on exit.
set -euo pipefail

: "${LOAD_DURATION_S:=10}"
: "${LOAD_WALLETS:=10}" # the pgbench schema's spread wallets (only the hot wallet is used)
hot_tokens=${LOAD_HOT_TOKENS:-100000}
rate=${LOAD_RATE:-10000}
delay_ms=${LOAD_DELAY_MS:-20}
revocations=${LOAD_REVOCATIONS:-50}

# load.sh's definitions and settings (work dir, central, PostgreSQL, pgbench, helpers), without
# its main sequence: everything before `declare -A results`.
# shellcheck source=benches/load.sh
source <(sed '/^declare -A results$/,$d' "$(dirname "$0")/load.sh")

loadgen=target/release/examples/load_sidecar
pids=() # every other process this script starts: sidecars, the bare server, the proxy

cleanup() {
    local status=$? pid
    for pid in "${pids[@]}" "$central_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ -n "$pg_bin" && -f "$pg_data/postmaster.pid" ]]; then
        as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    exit "$status"
}

build() {
    say "== building the release binary and the load generator"
    cargo build --release --quiet --bin protus --example load_sidecar
}

# start_sidecar NAME CENTRAL_URL: starts `protus sidecar` with the seeded company's client
# credentials and waits until /readyz answers 200; sets sidecar_url and sidecar_pid.
start_sidecar() {
    local name=$1 central=$2 address=""
    PROTUS_CLIENT_SECRET=$(sed -n 's/^client_secret=//p' "$work/seed/seed.txt") \
        "$protus" sidecar --listen 127.0.0.1:0 --central "$central" --data-dir "$work/$name" \
        --client-id "$(sed -n 's/^client_id=//p' "$work/seed/seed.txt")" --log-format json 2>"$work/$name.log" &
    sidecar_pid=$!
    pids+=("$sidecar_pid")
    for _ in $(seq 1 300); do
        address=$(grep -m1 '"message":"sidecar listening"' "$work/$name.log" 2>/dev/null |
            sed -n 's/.*"address":"\([^"]*\)".*/\1/p' || true)
        [[ -n "$address" ]] && break
        kill -0 "$sidecar_pid" 2>/dev/null || { cat "$work/$name.log" >&2; return 1; }
        sleep 0.1
    done
    [[ -n "$address" ]] || { say "$name did not report its address"; return 1; }
    sidecar_url="http://$address"
    for _ in $(seq 1 300); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$sidecar_url/readyz") == 200 ]] && return 0
        sleep 0.1
    done
    say "$name was not ready within 30 s"
    return 1
}

# start_helper KIND ARGS...: starts `load_sidecar bare|proxy` and sets helper_address.
start_helper() {
    local kind=$1
    shift
    "$loadgen" "$kind" "$@" >"$work/$kind.out" 2>>"$work/$kind.log" &
    pids+=("$!")
    helper_address=""
    for _ in $(seq 1 100); do
        helper_address=$(head -n1 "$work/$kind.out" 2>/dev/null || true)
        [[ -n "$helper_address" ]] && return 0
        sleep 0.05
    done
    say "$kind did not report its address"
    return 1
}

# Requests central logged under /sync/v1 (the request log line's route), by route.
central_sync_requests() {
    grep '"message":"request"' "$work/central.log" | grep -o '"route":"/sync/v1/[^"]*"' | sort | uniq -c |
        awk '{ printf "%s%s=%d", sep, $2, $1; sep = " " } END { print "" }' | tr -d '"' | sed 's|route:||g'
}

central_sync_total() {
    grep '"message":"request"' "$work/central.log" | grep -c '"route":"/sync/v1/' || true
}

common=(--clients "$clients" --warmup-s "$warmup_s" --duration-s "$duration_s" --seed-dir "$work/seed")

setup_part() {
    say "== seeding 1 hot wallet with $hot_tokens extra tokens of it (central not running)"
    "$loadgen" seed --data-dir "$work/central" --public-url "$public_url" --wallets "$wallets" \
        --hot-tokens "$hot_tokens" --out "$work/seed"
    start_central
    say "central pid $central_pid at $central_url"
    start_sidecar sidecar "$central_url"
    near_pid=$sidecar_pid
    near_url=$sidecar_url
    say "sidecar pid $near_pid at $near_url, ready"
    sleep 2
    read -r idle_rss idle_hwm <<<"$(memory_kib "$near_pid")"
    say "sidecar idle: VmRSS $idle_rss KiB, VmHWM $idle_hwm KiB"
}

memory_part() {
    say "== memory: $hot_tokens distinct live tokens checked once each at the sidecar"
    results[tokens]=$("$loadgen" tokens --url "$near_url" --seed-dir "$work/seed" --clients "$clients")
    sleep 2
    read -r tokens_rss tokens_hwm <<<"$(memory_kib "$near_pid")"
    say "sidecar after the tokens: VmRSS $tokens_rss KiB, VmHWM $tokens_hwm KiB"
}

authorize_part() {
    start_helper bare
    local bare_pid=${pids[-1]} bare_url="http://$helper_address"
    say "== permission checks, closed loop, $clients connections: bare hyper, then the sidecar"
    results[auth_bare]=$("$loadgen" authorize --url "$bare_url" --pid "$bare_pid" --label "bare hyper" "${common[@]}")
    results[auth_sidecar]=$("$loadgen" authorize --url "$near_url" --pid "$near_pid" --label sidecar "${common[@]}")
    say "== permission checks at $rate/s: the sidecar, then bare hyper"
    results[rate_sidecar]=$("$loadgen" authorize --url "$near_url" --pid "$near_pid" --rate "$rate" \
        --label "sidecar at $rate/s" "${common[@]}")
    results[rate_bare]=$("$loadgen" authorize --url "$bare_url" --pid "$bare_pid" --rate "$rate" \
        --label "bare at $rate/s" "${common[@]}")
    kill -TERM "$bare_pid"
}

holds_part() {
    say "== hold+capture pairs through the sidecar, $clients clients"
    local before after
    before=$(central_sync_total)
    results[holds_sidecar]=$("$loadgen" holds --url "$near_url" --metrics-url "$near_url/metrics" \
        --pid "$near_pid" --label "sidecar hold+capture" "${common[@]}")
    after=$(central_sync_total)
    results[holds_sidecar]+=" central_sync_requests=$((after - before))"
    say "central's /sync/v1 requests so far, by route: $(central_sync_requests)"
    read -r holds_rss holds_hwm <<<"$(memory_kib "$near_pid")"
}

revoke_part() {
    say "== revocation propagation: $revocations tokens revoked at central, first refusal at the sidecar"
    results[revoke]=$("$loadgen" revoke --central "$central_url" --sidecar "$near_url" --seed-dir "$work/seed" \
        --count "$revocations")
}

delay_part() {
    start_helper proxy --upstream "${central_url#http://}" --delay-ms "$delay_ms"
    local proxy_url="http://$helper_address"
    say "== ${delay_ms} ms each way between the partner and central (proxy at $proxy_url)"
    start_sidecar far "$proxy_url"
    local far_pid=$sidecar_pid far_url=$sidecar_url
    say "far sidecar (--central through the proxy) pid $far_pid at $far_url, ready"
    results[far_central]=$("$loadgen" holds --url "$proxy_url" --pid "$central_pid" \
        --label "central through the proxy" "${common[@]}")
    results[far_sidecar]=$("$loadgen" holds --url "$far_url" --metrics-url "$far_url/metrics" --pid "$far_pid" \
        --label "sidecar, central through the proxy" "${common[@]}")
}

pg_part() {
    say "== stopping central and the sidecars; PostgreSQL hot wallet (load.sh's tx script)"
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do # the far sidecar before its proxy
        kill -TERM "${pids[i]}" 2>/dev/null || true
        wait "${pids[i]}" 2>/dev/null || true
    done
    pids=()
    say "sidecar log: $(wc -l <"$work/sidecar.log") lines; warnings/errors: $(grep -c -E '"level":"(WARN|ERROR)"' "$work/sidecar.log" || true)"
    grep -E '"level":"(WARN|ERROR)"' "$work/sidecar.log" "$work/far.log" | cut -c1-300 | sort | uniq -c | sort -rn | head -5 >&2 || true
    stop_central
    find_postgres
    start_postgres
    write_pg_scripts
    say "== PostgreSQL tx, hot: $clients pgbench clients, ${warmup_s} s warm-up + ${duration_s} s measured"
    run_pgbench hot-tx "$work/pg/hot-tx.sql"
    as_pg "$pg_bin/pg_ctl" -D "$pg_data" -w stop >/dev/null
}

pct_of_core() { # pct_of_core TICKS -> % of one core over the measured window
    local ticks=$1
    [[ $ticks =~ ^[0-9]+$ ]] || { echo na; return; }
    echo $((ticks * 100 / ($(getconf CLK_TCK) * duration_s)))
}

row() { # row NAME RESULT UNIT
    local r=$2
    printf '%-40s %10s %10s %10s %10s %8s %8s%% %8s%%\n' "$1" "$(field per_s "$r")" "$(field p50_us "$r")" \
        "$(field p99_us "$r")" "$(field max_us "$r")" \
        "$(($(count unexpected "$r") + $(count transport_errors "$r") + $(count failed "$r")))" \
        "$(pct_of_core "$(field server_cpu_ticks "$r")")" "$(pct_of_core "$(field loadgen_cpu_ticks "$r")")"
}

report() {
    printf '\n== results (%d clients/connections, %d s measured each)\n' "$clients" "$duration_s"
    printf '%-40s %10s %10s %10s %10s %8s %9s %9s\n' run "per s" "p50 µs" "p99 µs" "max µs" errors "server" "loadgen"
    row "authorize, bare hyper, closed loop" "${results[auth_bare]}"
    row "authorize, sidecar, closed loop" "${results[auth_sidecar]}"
    row "authorize, bare hyper, $rate/s" "${results[rate_bare]}"
    row "authorize, sidecar, $rate/s" "${results[rate_sidecar]}"
    row "hold+capture pairs, sidecar" "${results[holds_sidecar]}"
    row "PostgreSQL hot tx (load.sh)" "${results[pg_hot-tx]}"
    row "pairs, central via ${delay_ms} ms proxy" "${results[far_central]}"
    row "pairs, sidecar, central via proxy" "${results[far_sidecar]}"
    local h=${results[holds_sidecar]}
    printf '\nratios\n'
    printf '  permission checks, sidecar / bare hyper: %s (goal >= 0.70×)\n' \
        "$(ratio "$(field per_s "${results[auth_sidecar]}")" "$(field per_s "${results[auth_bare]}")")"
    printf '  hold+capture pairs at the sidecar / PostgreSQL hot tx: %s (goal >= 10×)\n' \
        "$(ratio "$(field per_s "$h")" "$(field per_s "${results[pg_hot-tx]}")")"
    printf '  with %d ms each way, pair p50 central direct / sidecar: %s (goal >= 10×)\n' "$delay_ms" \
        "$(ratio "$(field p50_us "${results[far_central]}")" "$(field p50_us "${results[far_sidecar]}")")"
    printf '\ncentral requests per 100 charges at the sidecar (window): %s /sync/v1 requests in central'"'"'s log, %s usage batches + %s lease calls in the sidecar'"'"'s /metrics, for %s charges\n' \
        "$(field central_sync_requests "$h")" "$(field usage_batches "$h")" "$(field lease_calls "$h")" "$(field charges "$h")"
    printf '  = %s (log) and %s (metrics) per 100 charges (goal <= 1)\n' \
        "$(ratio $(($(field central_sync_requests "$h") * 100)) "$(field charges "$h")")" \
        "$(ratio $((($(field usage_batches "$h") + $(field lease_calls "$h")) * 100)) "$(field charges "$h")")"
    printf '  written to disk per pair (write_bytes in the window): sidecar %s; PostgreSQL hot tx WAL per transaction %s\n' \
        "$(per_op server_disk_bytes ok "$h")" "$(per_op wal_bytes logged "${results[pg_hot-tx]}")"
    printf '  far sidecar: %s usage batches + %s lease calls for %s charges\n' "$(field usage_batches "${results[far_sidecar]}")" \
        "$(field lease_calls "${results[far_sidecar]}")" "$(field charges "${results[far_sidecar]}")"
    local t=${results[tokens]}
    printf '\nsidecar memory: idle VmRSS %d KiB (VmHWM %d); after %s distinct tokens (%s allowed in %s ms) VmRSS %d KiB (VmHWM %d); after the permission and hold+capture runs VmRSS %d KiB (VmHWM %d)\n' \
        "$idle_rss" "$idle_hwm" "$(field tokens "$t")" "$(field ok "$t")" "$(field elapsed_ms "$t")" \
        "$tokens_rss" "$tokens_hwm" "$holds_rss" "$holds_hwm"
    local v=${results[revoke]}
    printf 'revocation → first refusal at the sidecar over %s revocations: p50 %s µs, p99 %s µs, max %s µs, not seen %s (revoke call p50 %s µs)\n' \
        "$(field revocations "$v")" "$(field p50_us "$v")" "$(field p99_us "$v")" "$(field max_us "$v")" \
        "$(field missed "$v")" "$(field revoke_p50_us "$v")"
    printf '\nraw:\n'
    for row in "${!results[@]}"; do printf '  %s: %s\n' "$row" "${results[$row]}"; done
}

declare -A results
machine
build
setup_part
memory_part
authorize_part
holds_part
revoke_part
delay_part
pg_part
report
