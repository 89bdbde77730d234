#!/bin/sh
# MPI tests (make MPI=1 test-mpi): mva-roi-mpi, mva-pca-mpi, mva-nmf-mpi and mva-cluster-mpi under
# mpirun with 1, 2 and 3 ranks give the single-process tools' results (every numeric dataset within 1e-10 of the
# array's largest value; NaN where they have NaN), bit-identical results from run to run with the
# same rank count, and a rank that cannot open its input stops every rank, non-zero, with the
# message and no output file.
set -u
BUILD=${1:-${BUILD:-build}}
BIN=${MVA_BIN:-$BUILD/bin}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-mpi-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }
# Root in CI: mpirun refuses without --allow-run-as-root; 3 ranks on 2 cores need
# --oversubscribe.  One BLAS thread per rank: the ranks are the parallelism.
MPIRUN="mpirun --oversubscribe --allow-run-as-root"
export OPENBLAS_NUM_THREADS=1
command -v mpirun >/dev/null || { echo "FAIL mpirun not found (apt-get install openmpi-bin)"; exit 1; }

# same A B TOL: every numeric dataset of A's entries (outside process/) in B, with
# max |a - b| <= TOL * max |a|; TOL 0 = bit-identical.
cat >"$T/same.py" <<'EOF'
import sys, h5py, numpy as np
a, b, tol = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), float(sys.argv[3])
bad = []
def visit(name, obj):
    if not isinstance(obj, h5py.Dataset) or "/process" in "/" + name:
        return
    if name not in b:
        bad.append("missing " + name); return
    x, y = obj[()], b[name][()]
    if obj.dtype.kind not in "fiub":
        return
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape:
        bad.append("shape of %s: %s vs %s" % (name, x.shape, y.shape)); return
    if not np.array_equal(np.isnan(x), np.isnan(y)):
        bad.append("NaN positions differ in " + name); return
    f = ~np.isnan(x)
    if not f.any():
        return
    d, m = np.max(np.abs(x[f] - y[f])), np.max(np.abs(x[f]))
    if (tol == 0 and d != 0) or d > tol * m:
        bad.append("%s: differs by %.3g (largest value %.3g)" % (name, d, m))
a.visititems(visit)
if not list(a.keys()):
    bad.append("no entry")
print("; ".join(bad))
sys.exit(1 if bad else 0)
EOF
same() { $PY "$T/same.py" "$@" >"$T/same.out" 2>&1; }

# ---- maps: integer counts in row chunks; float64, contiguous, with NaN pixels ----
"$BIN/mva-gen" -o "$T/a.h5" --rows 23 --cols 31 --channels 300 -q >/dev/null 2>&1 ||
    ko "mva-gen a.h5"
"$BIN/mva-gen" -o "$T/b.h5" --rows 17 --cols 19 --channels 160 --dtype float64 \
    --compression none --chunk none --seed 3 -q >/dev/null 2>&1 || ko "mva-gen b.h5"
$PY - "$T/b.h5" <<'EOF' || ko "NaN pixels into b.h5"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    d = f["/entry/data/data"]
    for (r, c) in [(0, 0), (5, 7), (16, 18), (9, 0)]:
        row = d[r, c, :]
        row[3] = np.nan
        d[r, c, :] = row
EOF
# 1 x 2 pixels: with 3 ranks one rank has no pixel at all.
$PY - "$T/tiny.h5" <<'EOF' || ko "tiny.h5"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f["data"] = np.array([[[1.0, 5, 2, 0, 7, 3], [4.0, 1, 6, 2, 2, 9]]])
EOF

# check NAME MAP ARGS: single-process tool vs the MPI tool with 1, 2, 3 ranks, then a second
# run with 3 ranks must be bit-identical to the first.  REF_EXTRA: more arguments for the
# single-process run only.
check() {
    tool=$1 name=$2 map=$3
    shift 3
    if ! "$BIN/$tool" "$T/$map.h5" "$@" ${REF_EXTRA:-} -q -o "$T/ref.h5" 2>"$T/err"; then
        ko "$name: single-process $tool failed: $(cat "$T/err")"
        return
    fi
    for np in 1 2 3; do
        rm -f "$T/par$np.h5"
        if ! $MPIRUN -np $np "$BIN/$tool-mpi" "$T/$map.h5" "$@" -q -o "$T/par$np.h5" \
            >"$T/out" 2>"$T/err"; then
            ko "$name, $np ranks: exit non-zero: $(head -5 "$T/err")"
        elif ! same "$T/ref.h5" "$T/par$np.h5" 1e-10; then
            ko "$name, $np ranks: $(cat "$T/same.out")"
        else
            ok "$name, $np ranks = single process"
        fi
    done
    rm -f "$T/again.h5"
    $MPIRUN -np 3 "$BIN/$tool-mpi" "$T/$map.h5" "$@" -q -o "$T/again.h5" >/dev/null 2>&1
    if same "$T/par3.h5" "$T/again.h5" 0; then
        ok "$name, 3 ranks: bit-identical from run to run"
    else
        ko "$name, 3 ranks, two runs: $(cat "$T/same.out")"
    fi
    rm -f "$T/ref.h5" "$T"/par*.h5 "$T/again.h5"
}

check mva-roi "ROI" a --roi Fe=120:140 --roi 10:20 --roi 0:299
check mva-roi "ROI with NaN pixels" b --roi 3:5 --roi 100:120
check mva-pca "exact PCA" a -k 4 --method exact
check mva-pca "exact PCA, Poisson, binned, with ROI" a -k 3 --method exact --poisson --bin 2 \
    --channels 10:250 --roi Cu=200:220
check mva-pca "exact PCA with NaN pixels" b -k 3 --method exact
check mva-pca "randomized PCA" a -k 4 --method randomized
check mva-pca "randomized PCA, Poisson, with ROI" a -k 3 --method randomized --poisson \
    --roi Fe=120:140
check mva-pca "randomized PCA with NaN pixels, k by variance" b -k 0.99 --k-max 5 \
    --method randomized --bin 3
check mva-pca "exact PCA, a rank without pixels" tiny -k 1 --method exact --channel-axis last
# NMF: the ranks sum the accumulated products after every pass; the compressed warm start is
# skipped by mva-nmf-mpi (with any number of ranks), so the reference skips it too.
REF_EXTRA="--compressed-iter 0"
check mva-nmf "NMF, HALS, NNDSVDa" a -k 4 --compressed-iter 0 --max-iter 30 --tol 0
check mva-nmf "NMF, HALS, NNDSVDa, the MPI tool skips the warm start" a -k 4 --max-iter 30 \
    --tol 0
check mva-nmf "NMF, HALS, Poisson, with NaN pixels" b -k 3 --poisson --max-iter 20
check mva-nmf "NMF, MU, random start" a -k 3 --method mu --init random --seed 5 \
    --max-iter 20 --tol 0
check mva-nmf "NMF, KL, with NaN pixels" b -k 3 --method kl --max-iter 20 --tol 0
check mva-nmf "NMF, a rank without pixels" tiny -k 1 --method hals --max-iter 5 --channel-axis last
# W (30000 x 5 doubles) over --memory 1: every rank keeps its W in its own scratch file.
"$BIN/mva-gen" -o "$T/wide.h5" --rows 150 --cols 200 --channels 128 --b 0.1 --seed 5 -q \
    >/dev/null 2>&1 || ko "mva-gen wide.h5"
mkdir -p "$T/scratch"
check mva-nmf "NMF, HALS, W in scratch files" wide -k 5 --max-iter 6 --tol 0 --memory 1 \
    --scratch "$T/scratch"
if [ -z "$(ls -A "$T/scratch")" ]; then
    ok "NMF: no scratch file left by any rank"
else
    ko "NMF: scratch files left: $(ls "$T/scratch")"
fi
REF_EXTRA=

# mva-cluster: the same labels (same seed) and the same spectra, summed over the ranks' slabs,
# from a results file (rank 0 clusters, every rank reads its slab of the recorded map) and from
# a map (the PCA first, then the clustering of its scores).
"$BIN/mva-pca" "$T/a.h5" -k 3 --poisson -q -o "$T/r.h5" || ko "mva-pca r.h5"
"$BIN/mva-pca" "$T/b.h5" -k 3 -q -o "$T/rb.h5" || ko "mva-pca rb.h5"
check mva-cluster "clusters of a PCA result" r -c 3
check mva-cluster "clusters of a PCA result with NaN pixels, -c auto" rb -c auto --c-max 5 \
    --sample 200 --seed 7
check mva-cluster "clusters of a PCA result, no spectra" r -c 4 --no-spectra
check mva-cluster "clusters of a map, Poisson PCA first" a -k 3 --poisson -c 3
check mva-cluster "clusters of a map with NaN pixels" b -k 2 -c 3 --restarts 3
check mva-cluster "clusters, a rank without pixels" tiny -k 1 -c 2 --channel-axis last

# ---- CSV from rank 0 only, the same as the single process ----
"$BIN/mva-cluster" "$T/r.h5" -c 3 -o "$T/cref.h5" --csv "$T/ref.csv" -q 2>/dev/null
$MPIRUN -np 3 "$BIN/mva-cluster-mpi" "$T/r.h5" -c 3 -o "$T/cpar.h5" --csv "$T/par.csv" -q \
    2>"$T/err"
if cmp -s "$T/ref.csv" "$T/par.csv"; then
    ok "cluster CSV, 3 ranks = single process"
else
    ko "cluster CSV, 3 ranks: $(diff "$T/ref.csv" "$T/par.csv" | head -3) $(head -3 "$T/err")"
fi
# ---- CSV from rank 0 only, the same as the single process ----
"$BIN/mva-roi" "$T/a.h5" --roi 10:20 --csv >"$T/ref.csv" 2>/dev/null
$MPIRUN -np 2 "$BIN/mva-roi-mpi" "$T/a.h5" --roi 10:20 --csv >"$T/par.csv" 2>"$T/err"
if cmp -s "$T/ref.csv" "$T/par.csv"; then
    ok "ROI CSV, 2 ranks = single process"
else
    ko "ROI CSV, 2 ranks: $(diff "$T/ref.csv" "$T/par.csv" | head -3) $(head -3 "$T/err")"
fi

# ---- a rank that cannot open its input stops every rank ----
# (MPMD: rank 1 is given a missing file.)
for tool in mva-pca mva-roi mva-nmf mva-cluster; do
    rm -f "$T/fail.h5"*
    args="--roi 1:2"
    [ $tool = mva-nmf ] && args="-k 2"
    [ $tool = mva-cluster ] && args="-c 2"
    if $MPIRUN -np 1 "$BIN/$tool-mpi" "$T/a.h5" $args -q -o "$T/fail.h5" : \
        -np 1 "$BIN/$tool-mpi" "$T/missing.h5" $args -q -o "$T/fail.h5" \
        >"$T/out" 2>"$T/err"; then
        ko "$tool-mpi with a rank that cannot open its input: exit status 0"
    elif ! grep -q "rank 1 of 2: .*missing.h5" "$T/err"; then
        ko "$tool-mpi, failing rank: message missing: $(head -5 "$T/err")"
    elif ! grep -q "another rank could not open its input" "$T/err"; then
        ko "$tool-mpi, failing rank: rank 0 did not say why it stopped: $(head -5 "$T/err")"
    elif ls "$T/fail.h5"* >/dev/null 2>&1; then
        ko "$tool-mpi, failing rank: output left behind: $(ls "$T/fail.h5"*)"
    else
        ok "$tool-mpi: a rank that cannot open its input stops all, no output"
    fi
done

# ---- mva-cluster: the ranks must read the same kind of input ----
if $MPIRUN -np 1 "$BIN/mva-cluster-mpi" "$T/r.h5" -c 2 -q -o "$T/kind.h5" : \
    -np 1 "$BIN/mva-cluster-mpi" "$T/a.h5" -c 2 -q -o "$T/kind.h5" >/dev/null 2>"$T/err"; then
    ko "mva-cluster-mpi, results on rank 0 and a map on rank 1: exit status 0"
elif ! grep -q "rank 1 of 2: .*a.h5" "$T/err" || ! grep -q "stopped: another rank failed" \
    "$T/err" || [ -e "$T/kind.h5" ]; then
    ko "mva-cluster-mpi, results and a map: $(head -3 "$T/err")"
else
    ok "mva-cluster-mpi: results on one rank and a map on another are refused"
fi

# ---- the ranks must read the same map ----
if $MPIRUN -np 1 "$BIN/mva-roi-mpi" "$T/a.h5" --roi 1:2 -q -o "$T/shape.h5" : \
    -np 1 "$BIN/mva-roi-mpi" "$T/b.h5" --roi 1:2 -q -o "$T/shape.h5" >/dev/null 2>"$T/err"; then
    ko "ranks on maps of different shapes: exit status 0"
elif ! grep -q "different shapes" "$T/err" || [ -e "$T/shape.h5" ]; then
    ko "ranks on maps of different shapes: $(head -3 "$T/err")"
else
    ok "ranks on maps of different shapes are refused"
fi

echo
if [ $fails -ne 0 ]; then
    echo "test_mpi: $fails FAILED"
    exit 1
fi
echo "test_mpi: all passed"
