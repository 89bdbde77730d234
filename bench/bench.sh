#!/bin/sh
# make bench: figures (printed, never asserted).
#   1. 101 x 200 x 2000 uint32, gzip by rows: decompress-only read (the floor) vs mva-roi and
#      mva-pca -k 10 (auto, exact, randomized; and exact decoding on every pass, --no-spill):
#      wall time and peak RSS.
#   2. 400 x 640 x 2048 uint32 uncompressed (2.1 GB; skipped with BENCH_BIG=0): cat, the
#      floor, mva-pca -k 10 with the time and throughput of every pass, peak RSS.
#   3. exact vs randomized on both maps, and the subspace sine between their components.
#   4. mva-nmf -k 6 on map 1 vs scikit-learn NMF (cd, nndsvda): time, peak RSS, relative error.
#   Map 1 is read by the HDF5 reader's parallel inflate; MVA_DECODE_THREADS=0 gives plain
#   H5Dread, shown for one pass with nothing to compute (passread) and for mva-roi.
set -e
BUILD=${1:-build}
BIN="$BUILD/bin"
OUT=samples/out
PY=/usr/bin/python3
mkdir -p "$OUT"
cc -O2 -o "$BUILD/runstat" bench/runstat.c
cc -O2 $(pkg-config --cflags hdf5-serial) -o "$BUILD/h5read" bench/h5read.c \
    $(pkg-config --libs hdf5-serial)
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -pthread -o "$BUILD/passread" \
    bench/passread.c "$BUILD/lib/libmva.a" $(pkg-config --libs hdf5-serial lapacke openblas zlib) \
    $(pkg-config --define-variable=GSL_CBLAS_LIB= --libs gsl) -pthread -lm

sine() { # largest principal-angle sine between the eigenspectra of two results
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

echo "machine: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
MAP="$OUT/bench-101x200x2000.h5"
[ -f "$MAP" ] || "$BIN/mva-gen" -o "$MAP" --rows 101 --cols 200 --channels 2000 \
    --dtype uint32 --compression gzip --quiet
echo "map 1: $MAP ($(du -m "$MAP" | cut -f1) MB on disk, 161.6 MB as uint32, gzip by rows)"
cat "$MAP" >/dev/null
echo
echo "== decompress-only read with HDF5 (the floor), 3 runs"
for i in 1 2 3; do "$BUILD/runstat" "$BUILD/h5read" "$MAP" /entry/data/data; done
echo
echo "== one pass with nothing to compute (passread, best of 5): parallel inflate, plain H5Dread"
"$BUILD/passread" "$MAP" 5
MVA_DECODE_THREADS=0 "$BUILD/passread" "$MAP" 5
echo
echo "== mva-roi, 3 ROIs (one pass), plain H5Dread (MVA_DECODE_THREADS=0)"
MVA_DECODE_THREADS=0 "$BUILD/runstat" "$BIN/mva-roi" "$MAP" --roi Fe=6.2:6.6keV \
    --roi Cu=7.9:8.2keV --roi Pb=10.35:10.75keV -q -o "$OUT/bench-roi.h5"
rm -f "$OUT/bench-roi.h5"
echo
echo "== mva-roi, 3 ROIs (one pass)"
"$BUILD/runstat" "$BIN/mva-roi" "$MAP" --roi Fe=6.2:6.6keV --roi Cu=7.9:8.2keV \
    --roi Pb=10.35:10.75keV -q -o "$OUT/bench-roi.h5"
rm -f "$OUT/bench-roi.h5"
for m in auto exact randomized; do
    echo
    echo "== mva-pca -k 10 --method $m, 2 runs"
    for i in 1 2; do
        rm -f "$OUT/bench-pca-$m.h5"
        "$BUILD/runstat" "$BIN/mva-pca" "$MAP" -k 10 --method $m -q -v -o "$OUT/bench-pca-$m.h5"
    done
done
echo
echo "== mva-pca -k 10 --no-spill (every pass decodes the gzip input), 2 runs"
for i in 1 2; do
    rm -f "$OUT/bench-pca-nospill.h5"
    "$BUILD/runstat" "$BIN/mva-pca" "$MAP" -k 10 --no-spill -q -v -o "$OUT/bench-pca-nospill.h5"
done
echo
echo "subspace sine, exact vs randomized: first 3 components $(sine "$OUT/bench-pca-exact.h5" "$OUT/bench-pca-randomized.h5" 3), first 4 $(sine "$OUT/bench-pca-exact.h5" "$OUT/bench-pca-randomized.h5" 4), all 10 $(sine "$OUT/bench-pca-exact.h5" "$OUT/bench-pca-randomized.h5" 10)"
rm -f "$OUT"/bench-pca-*.h5

echo
echo "== mva-nmf -k 6 (HALS, NNDSVDa start + compressed warm start), 3 runs"
for i in 1 2 3; do
    "$BUILD/runstat" "$BIN/mva-nmf" "$MAP" -k 6 -q -o "$OUT/bench-nmf.h5"
    [ "$i" -eq 3 ] || rm -f "$OUT/bench-nmf.h5"
done
$PY -c "import sys, h5py; e = h5py.File(sys.argv[1])['mva_nmf/process/nmf']; print('relative error %.6f, %d passes over the data' % (e['rel_error'][()], e['passes'][()]))" "$OUT/bench-nmf.h5" || true
rm -f "$OUT/bench-nmf.h5"
if $PY -c "import sklearn" 2>/dev/null; then
    echo
    echo "== scikit-learn NMF(solver='cd', init='nndsvda', tol=1e-4, max_iter=200), k = 6, same map"
    "$BUILD/runstat" $PY - "$MAP" <<'PYEOF'
import sys, time, warnings, h5py, numpy as np
from sklearn.decomposition import NMF
warnings.simplefilter("ignore")
with h5py.File(sys.argv[1], "r") as f:
    d = f["/entry/data/data"]
    x = d[()].astype(float).reshape(-1, d.shape[-1])
t0 = time.time()
m = NMF(n_components=6, solver="cd", init="nndsvda", max_iter=200, tol=1e-4)
w = m.fit_transform(x)
print("fit %.2f s, %d iterations, relative error %.6f" % (time.time() - t0, m.n_iter_,
      np.linalg.norm(x - w @ m.components_) / np.linalg.norm(x)))
PYEOF
fi

echo
echo "== readers: one pass with nothing to compute (passread, best of 3) next to cat"
R="$OUT/bench-readers"
if [ ! -f "$R/map.spec" ] && $PY -c "import h5py" 2>/dev/null; then
    mkdir -p "$R"
    $PY tests/interop/make_edf.py -i "$MAP" -o "$R/row_%04d.edf" --cube "$R/cube.edf"
    $PY tests/interop/make_spec.py -i "$MAP" -o "$R/map.spec" >/dev/null
fi
if [ -f "$R/map.spec" ]; then
    h5raw="$OUT/bench-101x200x2000-raw.h5"
    [ -f "$h5raw" ] || "$BIN/mva-gen" -o "$h5raw" --rows 101 --cols 200 --channels 2000 \
        --compression none --quiet
    for f in "$MAP" "$h5raw" "$R/row_0000.edf" "$R/cube.edf" "$R/map.spec"; do
        case "$f" in *row_0000.edf) files="$R"/row_*.edf ;; *) files="$f" ;; esac
        # shellcheck disable=SC2086
        cat $files >/dev/null
        echo "-- $f ($(du -cm $files | tail -1 | cut -f1) MB)"
        # shellcheck disable=SC2086
        "$BUILD/runstat" sh -c "cat $files >/dev/null"
        "$BUILD/passread" "$f" 3
    done
fi

[ "${BENCH_BIG:-1}" = 0 ] && exit 0
BIG="$OUT/bench-400x640x2048.h5"
[ -f "$BIG" ] || "$BIN/mva-gen" -o "$BIG" --rows 400 --cols 640 --channels 2048 \
    --dtype uint32 --compression none --quiet
echo
echo "map 2: $BIG ($(du -m "$BIG" | cut -f1) MB, uncompressed)"
echo "== cat FILE > /dev/null (page cache), 3 runs"
for i in 1 2 3; do "$BUILD/runstat" sh -c "cat '$BIG' >/dev/null"; done
echo "== HDF5 read only"
"$BUILD/runstat" "$BUILD/h5read" "$BIG" /entry/data/data
for m in auto exact randomized; do
    echo
    echo "== mva-pca -k 10 --method $m (every pass: time, MB/s of doubles = 2x the uint32 file)"
    rm -f "$OUT/bench-big-$m.h5"
    "$BUILD/runstat" "$BIN/mva-pca" "$BIG" -k 10 --method $m -q -v -o "$OUT/bench-big-$m.h5"
done
echo
echo "subspace sine, exact vs randomized: first 3 components $(sine "$OUT/bench-big-exact.h5" "$OUT/bench-big-randomized.h5" 3), first 4 $(sine "$OUT/bench-big-exact.h5" "$OUT/bench-big-randomized.h5" 4), all 10 $(sine "$OUT/bench-big-exact.h5" "$OUT/bench-big-randomized.h5" 10)"
rm -f "$OUT"/bench-big-*.h5
