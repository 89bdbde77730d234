#!/bin/sh
# make bench: figures (printed, never asserted), a dim and a bright map side by side.
#   Maps: 101 x 200 x 2000 uint32, gzip by rows: dim (the sample, peak channels ~100 counts)
#   and bright (mva-gen --counts bright: peak channels ~10^3, 5*10^4 counts a pixel).
#   1. mva-pca -k 10 (the default method) vs a plain decompress-only read (the floor), 3 runs
#      interleaved; the -v breakdown of one run.
#   2. The peers, each a whole process loading the stack: PyMca numpyCovariancePCA and
#      scikit-learn PCA(svd_solver='randomized'): wall and peak RSS.
#   3. mva-nmf -k 6 vs scikit-learn NMF(init='nndsvda', solver='cd'), both relative errors.
#   4. This machine's limit for the PCA job: inflate (the floor, one core) + the Gram's
#      arithmetic (n p^2 / 2 multiply-adds at the measured single-core ssyrk rate) on the cores.
#   5. BENCH_BIG=1 (default; 0 skips): the bright 400 x 640 x 2048 map (2.1 GB as uint32, gzip by
#      rows): exact, randomized, auto.  BENCH_HUGE=1 (off by default; needs ~17 GB of disk): the
#      bright 3200 x 640 x 2048 map (16.8 GB, uncompressed): exact, randomized, auto.
#   Every timed command runs under runstat (wall, CPU, peak RSS); the tables at the end give
#   the range over the runs.  The machine's load is printed beside them: timings taken while
#   other jobs run are noisy.
set -e
BUILD=${1:-build}
BIN="$BUILD/bin"
OUT=samples/out
PY=/usr/bin/python3
LOG="$OUT/bench-log.txt"
mkdir -p "$OUT"
: >"$LOG"
cc -O2 -o "$BUILD/runstat" bench/runstat.c
cc -O2 $(pkg-config --cflags hdf5-serial) -o "$BUILD/h5read" bench/h5read.c \
    $(pkg-config --libs hdf5-serial)
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -pthread -o "$BUILD/passread" \
    bench/passread.c "$BUILD/lib/libmva.a" $(pkg-config --libs hdf5-serial lapacke openblas zlib) \
    $(pkg-config --define-variable=GSL_CBLAS_LIB= --libs gsl) -pthread -lm
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Isrc -Iinclude -pthread -o "$BUILD/gramrate" \
    bench/gramrate.c "$BUILD/lib/libmva.a" $(pkg-config --libs hdf5-serial lapacke openblas zlib) \
    $(pkg-config --define-variable=GSL_CBLAS_LIB= --libs gsl) -pthread -lm

# rs LABEL CMD...: CMD under runstat; its line goes to the terminal and, labelled, to $LOG.
rs() {
    label=$1
    shift
    "$BUILD/runstat" "$@" 2>"$OUT/bench-rs.txt" >"$OUT/bench-out.txt" || true
    grep -v '^runstat:' "$OUT/bench-rs.txt" | tail -3
    cat "$OUT/bench-out.txt"
    line=$(grep '^runstat:' "$OUT/bench-rs.txt" | tail -1)
    echo "  $label: ${line#runstat: }"
    echo "$label ${line#runstat: }" >>"$LOG"
}
load() { echo "load: $(uptime | sed 's/.*load average/load average/')"; }

echo "machine: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(free -g | awk '/Mem/{print $2}') GB"
load
DIM="$OUT/bench-101x200x2000.h5"
BRIGHT="$OUT/bench-101x200x2000-bright.h5"
[ -f "$DIM" ] || "$BIN/mva-gen" -o "$DIM" --quiet
[ -f "$BRIGHT" ] || "$BIN/mva-gen" -o "$BRIGHT" --counts bright --quiet
for m in dim bright; do
    f=$DIM
    [ $m = bright ] && f=$BRIGHT
    cat "$f" >/dev/null
    echo "$m map: $f ($(du -m "$f" | cut -f1) MB on disk, 161.6 MB as uint32, gzip by rows)"
done

echo
echo "== 1. mva-pca -k 10 (default method) vs the floor (plain single-threaded H5Dread), 3 rounds"
for i in 1 2 3; do
    for m in dim bright; do
        f=$DIM
        [ $m = bright ] && f=$BRIGHT
        rs "floor-$m" "$BUILD/h5read" "$f" /entry/data/data
        rm -f "$OUT/bench-pca.h5"
        rs "pca-$m" "$BIN/mva-pca" "$f" -k 10 -q -o "$OUT/bench-pca.h5"
    done
done
for m in dim bright; do
    f=$DIM
    [ $m = bright ] && f=$BRIGHT
    echo "-- $m: mva-pca -k 10 -v (where the time goes)"
    rm -f "$OUT/bench-pca.h5"
    "$BIN/mva-pca" "$f" -k 10 -v -o "$OUT/bench-pca.h5" | grep -E '^method|pass|eigen|^time'
done
rm -f "$OUT/bench-pca.h5"
load

echo
echo "== 2. the peers, each a whole process that loads the stack (k = 10)"
if $PY -c "import sklearn, PyMca5" 2>/dev/null; then
    for m in dim bright; do
        f=$DIM
        [ $m = bright ] && f=$BRIGHT
        rs "pymca-$m" $PY bench/peers.py pymca-pca "$f" 10
        rs "sklearn-$m" $PY bench/peers.py sklearn-pca "$f" 10
    done
else
    echo "(PyMca5 or scikit-learn missing for $PY: skipped)"
fi
load

echo
echo "== 3. mva-nmf -k 6 vs scikit-learn NMF(init='nndsvda', solver='cd', default tol), k = 6"
for m in dim bright; do
    f=$DIM
    [ $m = bright ] && f=$BRIGHT
    for i in 1 2; do
        rm -f "$OUT/bench-nmf.h5"
        rs "nmf-$m" "$BIN/mva-nmf" "$f" -k 6 -q -o "$OUT/bench-nmf.h5"
    done
    $PY -c "import sys, h5py; e = h5py.File(sys.argv[1])['mva_nmf/process/nmf']; print('  mva-nmf relative error %.6f, %d passes over the data' % (e['rel_error'][()], e['passes'][()]))" "$OUT/bench-nmf.h5" | tee -a "$LOG" || true
    rm -f "$OUT/bench-nmf.h5"
    if $PY -c "import sklearn" 2>/dev/null; then
        rs "sknmf-$m" $PY bench/peers.py sklearn-nmf "$f" 6
        grep 'relative error' "$OUT/bench-out.txt" | sed 's/^/  /' >>"$LOG"
    fi
done
load

echo
echo "== 4. this machine's limit for mva-pca -k 10 on these maps"
"$BUILD/gramrate" 2000 | tee -a "$LOG"

echo
$PY bench/summary.py "$LOG"

[ "${BENCH_BIG:-1}" = 0 ] && [ "${BENCH_HUGE:-0}" = 0 ] && exit 0

sine() { # largest principal-angle sine between the first $3 eigenspectra of two results
    $PY - "$1" "$2" "$3" <<'PYEOF' 2>/dev/null || echo "(h5py missing)"
import sys, h5py, numpy as np
def comps(f):
    with h5py.File(f, "r") as h:
        e = h[h.attrs["default"]]
        c = e["eigenspectra/data"][: int(sys.argv[3])]
        w = e["var_weight"][()] if "var_weight" in e else np.ones(c.shape[1])
    q, _ = np.linalg.qr((c * w).T)
    return q
a, b = comps(sys.argv[1]), comps(sys.argv[2])
s = np.linalg.svd(a.T @ b, compute_uv=False)
print("%.2e" % np.sqrt(max(0.0, 1 - s.min() ** 2)))
PYEOF
}

# bigmap LABEL FILE: exact, randomized and auto on FILE, wall and RSS, the -v passes, and the
# subspace sine between the exact and randomized components
bigmap() {
    echo "$1: $2 ($(du -m "$2" | cut -f1) MB on disk)"
    "$BUILD/runstat" "$BUILD/h5read" "$2" /entry/data/data 2>&1 | sed 's/^/  floor: /'
    for m in auto exact randomized; do
        echo "-- mva-pca -k 10 --method $m"
        rm -f "$OUT/bench-big-$m.h5"
        rs "$1-$m" "$BIN/mva-pca" "$2" -k 10 --method $m -v -o "$OUT/bench-big-$m.h5"
        grep -E '^method|^pass|^time' "$OUT/bench-out.txt" | sed 's/^/    /' || true
    done
    if [ "$1" = big ] && [ "${BENCH_BIG_PEERS:-1}" != 0 ]; then
        # goal 2 on this map too; the peers hold the whole stack (PyMca ~3 GB, scikit-learn
        # ~7 GB): not run on the 16.8 GB map, which is the point of it
        if $PY -c "import PyMca5" 2>/dev/null; then
            echo "-- PyMca numpyCovariancePCA (whole process)"
            rs "$1-pymca" $PY bench/peers.py pymca-pca "$2" 10
        fi
        if $PY -c "import sklearn" 2>/dev/null; then
            echo "-- scikit-learn PCA randomized (whole process)"
            rs "$1-sklearn" $PY bench/peers.py sklearn-pca "$2" 10
        fi
    fi
    a="$OUT/bench-big-exact.h5" b="$OUT/bench-big-randomized.h5"
    echo "subspace sine, exact vs randomized: first 3 components $(sine "$a" "$b" 3), first 4 $(sine "$a" "$b" 4), all 10 $(sine "$a" "$b" 10)"
    rm -f "$OUT"/bench-big-*.h5
    load
}

if [ "${BENCH_BIG:-1}" != 0 ]; then
    BIG="$OUT/bench-400x640x2048-bright.h5"
    [ -f "$BIG" ] || "$BIN/mva-gen" -o "$BIG" --rows 400 --cols 640 --channels 2048 \
        --counts bright --quiet
    echo
    echo "== 5. the bright 400 x 640 x 2048 map (2.1 GB as uint32, gzip by rows)"
    bigmap big "$BIG"
fi
if [ "${BENCH_HUGE:-0}" = 1 ]; then
    HUGE="$OUT/bench-3200x640x2048-bright.h5"
    free_kb=$(df -k "$OUT" | awk 'NR==2{print $4}')
    if [ ! -f "$HUGE" ] && [ "$free_kb" -lt 18000000 ]; then
        echo "== 6. the 16.8 GB map: skipped, $((free_kb / 1048576)) GB free in $OUT (needs 17)"
        exit 0
    fi
    [ -f "$HUGE" ] || "$BIN/mva-gen" -o "$HUGE" --rows 3200 --cols 640 --channels 2048 \
        --counts bright --compression none --chunk none --quiet
    echo
    echo "== 6. the bright 3200 x 640 x 2048 map (16.8 GB, uncompressed; goal: default <= 40 s, RSS <= 250 MB)"
    bigmap huge "$HUGE"
    echo "(the 16.8 GB file stays in $OUT for the next run: rm $HUGE)"
fi
$PY bench/summary.py "$LOG" big huge
