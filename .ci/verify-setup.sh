#!/usr/bin/env bash
# Checks that setup.sql loaded completely before anything is measured: for every view listed in
# bench_expected (view text, row_count bigint, text_bytes bigint), `count(*)` must equal
# row_count and `sum(octet_length(data::text))` must equal text_bytes (every benchmark view has
# the single column `data`). Exits non-zero, naming each view that is off, if one is, or if
# bench_expected is missing or empty.
#
# usage: .ci/verify-setup.sh [connection-url]   (default: $JSONWIRE_BENCH_URL)
set -euo pipefail

url="${1:-${JSONWIRE_BENCH_URL:-}}"
if [[ -z "$url" ]]; then
    echo "verify-setup: no database: pass a URL or set JSONWIRE_BENCH_URL" >&2
    exit 2
fi

sql() {
    psql "$url" --no-psqlrc --quiet --tuples-only --no-align --field-separator=$'\t' \
        -v ON_ERROR_STOP=1 -c "$1"
}

if [[ "$(sql "SELECT to_regclass('bench_expected') IS NOT NULL")" != t ]]; then
    echo "verify-setup: FAILED: relation bench_expected does not exist; was setup.sql loaded?" >&2
    exit 1
fi

expected="$(sql 'SELECT "view", row_count, text_bytes FROM bench_expected ORDER BY "view"')"
if [[ -z "$expected" ]]; then
    echo "verify-setup: FAILED: bench_expected is empty" >&2
    exit 1
fi

failures=0
printf '%-24s %12s %12s %14s %14s\n' view rows expected_rows text_bytes expected_bytes
while IFS=$'\t' read -r view row_count text_bytes; do
    # The names come from our own table, but they are spliced into SQL: accept only plain
    # (optionally schema-qualified) identifiers.
    if [[ ! "$view" =~ ^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$ ]]; then
        echo "verify-setup: FAILED: bench_expected names ${view@Q}, which is not a plain identifier" >&2
        failures=$((failures + 1))
        continue
    fi
    if ! actual="$(sql "SELECT count(*), coalesce(sum(octet_length(data::text)), 0) FROM $view" 2>&1)"; then
        echo "verify-setup: FAILED: view $view cannot be counted: $actual" >&2
        failures=$((failures + 1))
        continue
    fi
    IFS=$'\t' read -r rows bytes <<<"$actual"
    printf '%-24s %12s %12s %14s %14s\n' "$view" "$rows" "$row_count" "$bytes" "$text_bytes"
    if [[ "$rows" != "$row_count" ]]; then
        echo "verify-setup: FAILED: view $view has $rows rows, bench_expected says $row_count" >&2
        failures=$((failures + 1))
    elif [[ "$bytes" != "$text_bytes" ]]; then
        echo "verify-setup: FAILED: view $view has $bytes bytes of JSON text, bench_expected says $text_bytes" >&2
        failures=$((failures + 1))
    fi
done <<<"$expected"

if ((failures > 0)); then
    echo "verify-setup: $failures view(s) do not match bench_expected; not benchmarking" >&2
    exit 1
fi
echo "verify-setup: ok, every view has the expected rows and bytes"
