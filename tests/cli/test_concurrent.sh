#!/bin/sh
# Writers adding entries to one result file at once (a pipeline running analyses in
# parallel).  Each one copies the file, adds its entry and renames the copy over the file;
# without the lock of src/commit.c the last rename wins and the others' entries are lost while
# every writer exits 0.  Here, in every round, each entry must be in the file, or its writer
# must have exited non-zero saying why.
set -u
BUILD=${BUILD:-build}
BIN=${MVA_BIN:-$BUILD/bin}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-concurrent-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }
ROUNDS=${ROUNDS:-6}
WRITERS=4

"$BIN/mva-gen" -q --rows 30 --cols 40 --channels 256 --counts 800 --seed 7 -o "$T/map.h5" ||
    ko "mva-gen"
round=1
while [ $round -le $ROUNDS ]; do
    rm -f "$T/same.h5"
    # Odd rounds add to an existing file, even rounds start from none (all race to create).
    [ $((round % 2)) = 1 ] && { "$BIN/mva-roi" "$T/map.h5" --roi base=10:20 -q --entry base \
        -o "$T/same.h5" || ko "round $round: first entry"; }
    pids=""
    w=1
    while [ $w -le $WRITERS ]; do
        "$BIN/mva-roi" "$T/map.h5" --roi "e$w=$((w * 20)):$((w * 20 + 9))" -q --entry "w$w" \
            -o "$T/same.h5" 2>"$T/err$w" &
        pids="$pids $!"
        w=$((w + 1))
    done
    w=1
    for p in $pids; do
        if wait "$p"; then echo "w$w" >>"$T/ok$round"; else
            [ -s "$T/err$w" ] || ko "round $round: writer w$w failed without a message"
            echo "round $round: w$w exited non-zero: $(cat "$T/err$w")"
        fi
        w=$((w + 1))
    done
    touch "$T/ok$round"
    if $PY - "$T/same.h5" "$T/ok$round" $((round % 2)) <<'PYEOF'; then
import sys, h5py
path, oks, base = sys.argv[1], open(sys.argv[2]).read().split(), sys.argv[3] == "1"
with h5py.File(path, "r") as f:
    have = set(f.keys())
    want = set(oks) | ({"base"} if base else set())
    missing = want - have
    assert not missing, f"entries of writers that exited 0 are missing: {sorted(missing)}"
    for e in oks:
        assert f[e]["roi_raw/data"].shape[1:] == (30, 40), e
PYEOF
        ok "round $round: every entry of a successful writer is in the file ($(wc -w <"$T/ok$round") of $WRITERS)"
    else
        ko "round $round: entries lost"
    fi
    [ -z "$(ls "$T" | grep -e '\.tmp\.' -e '\.lock$')" ] || ko "round $round: left $(ls "$T" | grep -e '\.tmp\.' -e '\.lock$')"
    round=$((round + 1))
done
if [ $fails -eq 0 ]; then echo "all concurrent-writer tests passed"; else echo "$fails failed"; fi
[ $fails -eq 0 ]
