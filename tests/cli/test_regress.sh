#!/bin/sh
# Replays every input that once crashed a fuzz target (tests/regress/TARGET/*) and the fuzz
# seeds (fuzz/seeds/TARGET/*) through the fuzz targets' own entry points, built here without
# libFuzzer (fuzz/replay.c) against this build's library: no crash, no abort, no sanitizer
# report (under make sanitize).  New crashes found by `make fuzz` are added to tests/regress/.
set -u
BUILD=${BUILD:-build}
T=$(mktemp -d /tmp/mva-regress-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }

PKGS="hdf5-serial lapacke openblas zlib libpng"
CFLAGS="-std=c11 -O1 -g -Iinclude -Isrc -Itools -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(pkg-config --cflags $PKGS gsl)"
LIBS="$(pkg-config --libs $PKGS) $(pkg-config --define-variable=GSL_CBLAS_LIB= --libs gsl) -pthread -lm"
for t in edf spec options hdf5; do
    # shellcheck disable=SC2086
    if ! ${CC:-cc} $CFLAGS fuzz/fuzz_$t.c fuzz/replay.c "$BUILD/tools/cli.o" "$BUILD/lib/libmva.a" \
        $LIBS ${MVA_LINK_EXTRA:-} -o "$T/replay_$t" 2>"$T/cc.log"; then
        ko "build replay_$t: $(head -5 "$T/cc.log")"
        continue
    fi
    n=0
    for f in fuzz/seeds/$t/* tests/regress/$t/*; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        if TMPDIR="$T" "$T/replay_$t" "$f" >"$T/out.log" 2>&1; then :; else
            ko "fuzz_$t on $f: exit $?: $(tail -5 "$T/out.log")"
        fi
    done
    ok "fuzz_$t entry point on $n seed and regression inputs"
done

echo "test_regress: $fails failure(s)"
[ "$fails" -eq 0 ]
