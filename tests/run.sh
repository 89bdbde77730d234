#!/bin/sh
# Runs every unit test binary and every command-line test; exits non-zero if any fails.
BUILD=${1:-build}
export BUILD
failed=""
count=0
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue ;; esac
    count=$((count + 1))
    echo "== $(basename "$t")"
    if ! "$t"; then failed="$failed $(basename "$t")"; fi
done
for t in tests/cli/*.sh; do
    [ -f "$t" ] || continue
    count=$((count + 1))
    echo "== $t"
    if ! sh "$t"; then failed="$failed $t"; fi
done
echo
if [ -n "$failed" ]; then
    echo "FAILED:$failed"
    exit 1
fi
echo "all $count test programs passed"
