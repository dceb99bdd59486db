#!/usr/bin/env bash
# Load benchmark of durable charges through central's HTTP API, against the release binary,
# with PostgreSQL + pgbench doing the same work in the same run as the baseline (issue #4).
# STYLE.md: performance is measured here and reported as same-run ratios, never asserted by a
# test. What it measures and what it showed: BENCHMARKS.md, "Durable charges over HTTP".
#
#   benches/load.sh                         # about 4 minutes after the release build
#   LOAD_DURATION_S=10 benches/load.sh      # shorter measured windows
#   TMPDIR=/mnt/other-disk benches/load.sh  # the temp dir decides which disk is measured
#
# Needs cargo, and PostgreSQL's server binaries and pgbench (Debian's `postgresql`, installed
# with apt-get when missing and run as root). All traffic stays on 127.0.0.1; every process
# and temp dir it starts is removed on exit.
set -euo pipefail

clients=${LOAD_CLIENTS:-64}
warmup_s=${LOAD_WARMUP_S:-2}
duration_s=${LOAD_DURATION_S:-20}
wallets=${LOAD_WALLETS:-10000}
pg_threads=${LOAD_PG_THREADS:-$(nproc)}

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/protus-load.XXXXXX")
central_pid=""
pg_bin=""
pg_data="$work/pg/data"

cleanup() {
    local status=$?
    if [[ -n "$central_pid" ]] && kill -0 "$central_pid" 2>/dev/null; then
        kill -TERM "$central_pid" 2>/dev/null || true
        wait "$central_pid" 2>/dev/null || true
    fi
    if [[ -n "$pg_bin" && -f "$pg_data/postmaster.pid" ]]; then
        as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# "total busy" jiffies of all CPUs, from /proc/stat (busy = everything but idle and iowait).
cpu_now() {
    awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, t - $5 - $6 }' /proc/stat
}

# Percentage of the machine's CPU that was busy between two `cpu_now` readings.
cpu_busy_pct() {
    local t0 b0 t1 b1
    read -r t0 b0 <<<"$1"
    read -r t1 b1 <<<"$2"
    echo $(((b1 - b0) * 100 / ((t1 - t0) > 0 ? (t1 - t0) : 1)))
}

# VmRSS and VmHWM of a process, in KiB.
memory_kib() {
    awk '/^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 } END { print rss, hwm }' "/proc/$1/status"
}

field() { # field NAME "key=value ..." -> value
    tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

count() { # count NAME "key=value ..." -> value, 0 when absent
    local value
    value=$(field "$1" "$2")
    echo "${value:-0}"
}

psql_bench() { "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U bench -d postgres "$@"; }

machine() {
    say "== machine"
    say "nproc: $(nproc); CPU: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | sort -u | tr '\n' ' ')"
    say "memory: $(awk '/^MemTotal:/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo); kernel $(uname -r)"
    say "temp dir: $work on $(df -T "$work" | awk 'NR == 2 { print $1, $2 }')"
    say "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    say "rustc: $(rustc --version); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted changes in src/')"
}

build() {
    say "== building the release binary and the load generator"
    cargo build --release --quiet --bin protus --example load_charges
}

loadgen=target/release/examples/load_charges
protus=target/release/protus
# Only the issuer of the tokens: central listens on a free port and never needs this URL.
public_url="http://127.0.0.1"

start_central() {
    "$protus" central --listen 127.0.0.1:0 --data-dir "$work/central" --public-url "$public_url" \
        --enable-test-provider --log-format json 2>"$work/central.log" &
    central_pid=$!
    local address=""
    for _ in $(seq 1 300); do
        address=$(grep -m1 '"message":"central listening"' "$work/central.log" 2>/dev/null |
            sed -n 's/.*"address":"\([^"]*\)".*/\1/p' || true)
        [[ -n "$address" ]] && break
        kill -0 "$central_pid" 2>/dev/null || { cat "$work/central.log" >&2; return 1; }
        sleep 0.1
    done
    [[ -n "$address" ]] || { say "central did not report its address"; return 1; }
    central_url="http://$address"
}

stop_central() {
    kill -TERM "$central_pid"
    wait "$central_pid" || true
    central_pid=""
}

run_central() {
    local shape=$1 before after line
    before=$(cpu_now)
    line=$("$loadgen" run --url "$central_url" --seed-dir "$work/seed" --shape "$shape" --clients "$clients" \
        --warmup-s "$warmup_s" --duration-s "$duration_s" --pid "$central_pid")
    after=$(cpu_now)
    read -r rss hwm <<<"$(memory_kib "$central_pid")"
    results[central_$shape]="$line busy_pct=$(cpu_busy_pct "$before" "$after") rss_kib=$rss hwm_kib=$hwm"
}

central_part() {
    say "== seeding 1 hot wallet and $wallets spread wallets (central not running)"
    local started=$SECONDS
    "$loadgen" seed --data-dir "$work/central" --public-url "$public_url" --wallets "$wallets" --out "$work/seed"
    say "seeded in $((SECONDS - started)) s"
    start_central
    say "central pid $central_pid at $central_url"
    sleep 2
    read -r idle_rss idle_hwm <<<"$(memory_kib "$central_pid")"
    say "central idle: VmRSS $idle_rss KiB, VmHWM $idle_hwm KiB"
    say "== central, one hot wallet: $clients clients, ${warmup_s} s warm-up + ${duration_s} s measured"
    run_central hot
    say "== central, $wallets wallets"
    run_central spread
    sleep 2
    read -r after_rss after_hwm <<<"$(memory_kib "$central_pid")"
    say "central after the load, idle 2 s: VmRSS $after_rss KiB, VmHWM $after_hwm KiB"
    say "central log: $(wc -l <"$work/central.log") lines; warnings/errors: $(grep -c -E '"level":"(WARN|ERROR)"' "$work/central.log" || true)"
    stop_central
    say "central's data dir after the load: $(du -sm "$work/central" | cut -f1) MiB" \
        "(central.redb $(($(stat -c %s "$work/central/central.redb") / 1048576)) MiB)"
    say "== protus central verify after the load"
    "$protus" central verify --data-dir "$work/central" >&2
}

find_postgres() {
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
    if [[ -z "$pg_bin" ]]; then
        say "== installing PostgreSQL (Debian's postgresql package)"
        [[ $(id -u) -eq 0 ]] || { say "PostgreSQL is missing; run as root or install postgresql"; exit 1; }
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql postgresql-contrib >&2
        pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    fi
    pgbench="$pg_bin/pgbench"
    [[ -x "$pgbench" ]] || { say "pgbench is missing from $pg_bin"; exit 1; }
}

free_port() {
    local port
    for port in $(seq 55432 55532); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    say "no free port in 55432-55532"
    return 1
}

start_postgres() {
    mkdir -p "$work/pg/sock"
    if [[ $(id -u) -eq 0 ]]; then
        chmod 711 "$work"
        chown -R postgres: "$work/pg"
    fi
    as_pg "$pg_bin/initdb" -D "$pg_data" -U bench --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    pg_port=$(free_port)
    if ! as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/pg/server.log" -w start -o \
        "-c port=$pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/pg/sock \
         -c synchronous_commit=on -c fsync=on -c max_connections=$((clients + 20))" >/dev/null; then
        # The work dir goes on exit: show why here.
        say "PostgreSQL did not start on port $pg_port; the end of its log:"
        tail -n 20 "$work/pg/server.log" >&2 || true
        return 1
    fi
    psql_bench <<SQL
CREATE TABLE wallets (
    id integer PRIMARY KEY,
    available numeric(20, 2) NOT NULL CHECK (available >= 0)
);
CREATE TABLE operations (
    id bigserial PRIMARY KEY,
    wallet_id integer NOT NULL REFERENCES wallets (id),
    amount numeric(20, 2) NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Wallet 1 is the hot wallet; 2 .. $wallets + 1 are the spread wallets, as in central's seed.
INSERT INTO wallets SELECT 1, 10000000;
INSERT INTO wallets SELECT g, 1000 FROM generate_series(2, $wallets + 1) g;
VACUUM ANALYZE;
SQL
    pg_version=$(psql_bench -tA -c 'SHOW server_version')
    say "PostgreSQL $pg_version on 127.0.0.1:$pg_port, data in $pg_data;" \
        "synchronous_commit=$(psql_bench -tA -c 'SHOW synchronous_commit')," \
        "fsync=$(psql_bench -tA -c 'SHOW fsync'), wal_sync_method=$(psql_bench -tA -c 'SHOW wal_sync_method')," \
        "shared_buffers=$(psql_bench -tA -c 'SHOW shared_buffers')"
}

# The pgbench scripts: the issue's transaction (UPDATE, then the operations row, in one
# transaction) and the same work as one statement (one round trip), for a stronger baseline.
write_pg_scripts() {
    local shape pick
    for shape in hot spread; do
        if [[ $shape == hot ]]; then pick='\set id 1'; else pick="\\set id random(2, $((wallets + 1)))"; fi
        cat >"$work/pg/$shape-tx.sql" <<SQL
$pick
\set r random(1, 1000000000000000)
BEGIN;
UPDATE wallets SET available = available - 0.01 WHERE id = :id AND available >= 0.01;
INSERT INTO operations (wallet_id, amount, idempotency_key) VALUES (:id, 0.01, :tag || '-' || :client_id || '-' || :r);
END;
SQL
        cat >"$work/pg/$shape-cte.sql" <<SQL
$pick
\set r random(1, 1000000000000000)
WITH debited AS (UPDATE wallets SET available = available - 0.01 WHERE id = :id AND available >= 0.01 RETURNING id) INSERT INTO operations (wallet_id, amount, idempotency_key) SELECT id, 0.01, :tag || '-' || :client_id || '-' || :r FROM debited;
SQL
    done
}

run_pgbench() {
    local name=$1 script=$2 before after out logged lsn wal
    psql_bench -c CHECKPOINT
    local common=(-n -M prepared -h 127.0.0.1 -p "$pg_port" -U bench -c "$clients" -j "$pg_threads" -f "$script")
    "$pgbench" "${common[@]}" -T "$warmup_s" -D tag="warm-$name" postgres >/dev/null 2>&1
    before=$(cpu_now)
    lsn=$(psql_bench -tA -c 'SELECT pg_current_wal_lsn()')
    out=$(cd "$work/pg" && "$pgbench" "${common[@]}" -T "$duration_s" -D tag="$name" -l --log-prefix="log-$name" postgres 2>&1)
    wal=$(psql_bench -tA -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn')::bigint")
    after=$(cpu_now)
    logged=$("$loadgen" pgbench-log "$work/pg"/log-"$name".*)
    local tps failed
    tps=$(awk '/^tps = / { print int($3); exit }' <<<"$out")
    failed=$(awk '/^number of failed transactions:/ { print $5; exit }' <<<"$out")
    say "pgbench $name: $(grep -E '^(number of transactions actually processed|number of failed|latency average|tps)' <<<"$out" | tr '\n' ';')"
    results[pg_$name]="per_s=$tps failed=${failed:-0} $logged busy_pct=$(cpu_busy_pct "$before" "$after") wal_bytes=$wal"
}

postgres_part() {
    find_postgres
    start_postgres
    write_pg_scripts
    local shape variant
    for variant in tx cte; do
        for shape in hot spread; do
            say "== PostgreSQL $variant, $shape: $clients pgbench clients, ${warmup_s} s warm-up + ${duration_s} s measured"
            run_pgbench "$shape-$variant" "$work/pg/$shape-$variant.sql"
        done
    done
    as_pg "$pg_bin/pg_ctl" -D "$pg_data" -w stop >/dev/null
}

ratio() { # ratio A B -> "A/B" with two decimals, integer arithmetic
    local a=$1 b=$2
    ((b > 0)) || { echo "n/a"; return; }
    local hundredths=$((a * 100 / b))
    printf '%d.%02d×' $((hundredths / 100)) $((hundredths % 100))
}

per_op() { # per_op BYTES_FIELD COUNT_FIELD "key=value ..." -> bytes per operation, or n/a
    local bytes count
    bytes=$(count "$1" "$3")
    count=$(count "$2" "$3")
    if [[ $bytes =~ ^[0-9]+$ && $count =~ ^[0-9]+$ ]] && ((count > 0)); then
        echo "$((bytes / count)) B"
    else
        echo "n/a"
    fi
}

report() {
    local row r
    printf '\n== results (%d clients, %d s measured each)\n' "$clients" "$duration_s"
    printf '%-34s %10s %10s %10s %10s %8s %9s\n' run "charges/s" "p50 µs" "p99 µs" "max µs" "errors" "CPU busy"
    for row in central_hot central_spread pg_hot-tx pg_spread-tx pg_hot-cte pg_spread-cte; do
        r=${results[$row]}
        printf '%-34s %10s %10s %10s %10s %8s %8s%%\n' "$row" "$(field per_s "$r")" "$(field p50_us "$r")" \
            "$(field p99_us "$r")" "$(field max_us "$r")" \
            "$(($(count non_201 "$r") + $(count transport_errors "$r") + $(count failed "$r")))" \
            "$(field busy_pct "$r")"
    done
    local ch cs
    ch=$(field per_s "${results[central_hot]}")
    cs=$(field per_s "${results[central_spread]}")
    printf '\nratios, central / PostgreSQL (goal: hot >= 3×, spread >= 1×)\n'
    printf '  hot wallet:   %s vs the transaction, %s vs the single statement\n' \
        "$(ratio "$ch" "$(field per_s "${results[pg_hot-tx]}")")" "$(ratio "$ch" "$(field per_s "${results[pg_hot-cte]}")")"
    printf '  %s wallets: %s vs the transaction, %s vs the single statement\n' "$wallets" \
        "$(ratio "$cs" "$(field per_s "${results[pg_spread-tx]}")")" "$(ratio "$cs" "$(field per_s "${results[pg_spread-cte]}")")"
    printf '\ncentral memory: idle VmRSS %d KiB (%d MiB); after hot VmRSS %s KiB; after spread VmRSS %s KiB, VmHWM %s KiB (%d MiB); idle after the load VmRSS %d KiB\n' \
        "$idle_rss" $((idle_rss / 1024)) "$(field rss_kib "${results[central_hot]}")" \
        "$(field rss_kib "${results[central_spread]}")" "$after_hwm" $((after_hwm / 1024)) "$after_rss"
    printf '\nwritten per charge, measured window: central to disk (write_bytes): hot %s, spread %s;' \
        "$(per_op central_disk_bytes created "${results[central_hot]}")" \
        "$(per_op central_disk_bytes created "${results[central_spread]}")"
    printf ' PostgreSQL WAL per transaction: hot-tx %s, spread-tx %s, hot-cte %s, spread-cte %s\n' \
        "$(per_op wal_bytes logged "${results[pg_hot-tx]}")" "$(per_op wal_bytes logged "${results[pg_spread-tx]}")" \
        "$(per_op wal_bytes logged "${results[pg_hot-cte]}")" "$(per_op wal_bytes logged "${results[pg_spread-cte]}")"
    local shape r tck
    tck=$(getconf CLK_TCK)
    for shape in hot spread; do
        r=${results[central_$shape]}
        printf 'CPU used in the measured %s s, %s: central %s%% of one core (its writer thread %s%%), load generator %s%%\n' \
            "$duration_s" "$shape" "$(($(count central_cpu_ticks "$r") * 100 / (tck * duration_s)))" \
            "$(($(count writer_cpu_ticks "$r") * 100 / (tck * duration_s)))" \
            "$(($(count loadgen_cpu_ticks "$r") * 100 / (tck * duration_s)))"
    done
    printf '\nraw:\n'
    for row in "${!results[@]}"; do printf '  %s: %s\n' "$row" "${results[$row]}"; done
}

declare -A results
machine
build
central_part
postgres_part
report
