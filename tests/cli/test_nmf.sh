#!/bin/sh
# Command-line tests of mva-nmf: a small generated map factorised with each method, the output
# checked with h5py (shapes, non-negativity, spectra summing to 1, the objective history),
# help, version, bad options and a missing input rejected with a message and no output file.
set -u
BUILD=${BUILD:-build}
BIN="$BUILD/bin"
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-nmf-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }

# expect_fail NAME OUTPUT PATTERN CMD...: CMD must exit non-zero, print PATTERN on stderr and
# leave no OUTPUT file (nor any temporary next to it).
expect_fail() {
    name=$1 out=$2 pat=$3
    shift 3
    if "$@" >"$T/stdout" 2>"$T/stderr"; then
        ko "$name: exit status 0"
    elif ! grep -q -- "$pat" "$T/stderr"; then
        ko "$name: stderr lacks '$pat': $(cat "$T/stderr")"
    elif [ -n "$out" ] && ls "$out"* >/dev/null 2>&1; then
        ko "$name: output left behind: $(ls "$out"*)"
    else
        ok "$name"
    fi
}

"$BIN/mva-gen" --rows 8 --cols 10 --channels 128 --b 0.1 --seed 3 --quiet -o "$T/map.h5" ||
    ko "mva-gen"

# ---- help, version, usage errors ----
if "$BIN/mva-nmf" --help | grep -q "Example"; then ok "mva-nmf --help has examples"; else ko "mva-nmf --help"; fi
if "$BIN/mva-nmf" --version | grep -q "[0-9]\.[0-9]"; then ok "mva-nmf --version"; else ko "mva-nmf --version"; fi
expect_fail "mva-nmf without input" "" "no INPUT" "$BIN/mva-nmf" -k 3
expect_fail "mva-nmf without -k" "$T/none.h5" "-k N is required" "$BIN/mva-nmf" "$T/map.h5" -o "$T/none.h5"
expect_fail "mva-nmf bad -k" "$T/none.h5" "expected an integer" "$BIN/mva-nmf" "$T/map.h5" -k 0 -o "$T/none.h5"
expect_fail "mva-nmf too many components" "$T/none.h5" "components asked" "$BIN/mva-nmf" "$T/map.h5" -k 500 -o "$T/none.h5"
expect_fail "mva-nmf bad method" "$T/none.h5" "expected hals, mu or kl" "$BIN/mva-nmf" "$T/map.h5" -k 3 --method als -o "$T/none.h5"
expect_fail "mva-nmf bad init" "$T/none.h5" "expected nndsvda, random" "$BIN/mva-nmf" "$T/map.h5" -k 3 --init svd -o "$T/none.h5"
expect_fail "mva-nmf bad tol" "$T/none.h5" "expected a number" "$BIN/mva-nmf" "$T/map.h5" -k 3 --tol -1 -o "$T/none.h5"
expect_fail "mva-nmf kl with poisson" "$T/none.h5" "kl already models counts" "$BIN/mva-nmf" "$T/map.h5" -k 3 --method kl --poisson -o "$T/none.h5"
expect_fail "mva-nmf unknown option" "" "try 'mva-nmf --help'" "$BIN/mva-nmf" "$T/map.h5" -k 3 --frobnicate
expect_fail "mva-nmf missing input" "$T/none.h5" "nothing.h5" "$BIN/mva-nmf" "$T/nothing.h5" -k 3 -o "$T/none.h5"

# ---- each method; all three entries into one file ----
if "$BIN/mva-nmf" "$T/map.h5" -k 4 -q -o "$T/out.h5" &&
    "$BIN/mva-nmf" "$T/map.h5" -k 4 -q --method mu --init random --seed 5 --max-iter 50 -o "$T/out.h5" &&
    "$BIN/mva-nmf" "$T/map.h5" -k 3 -q --method kl --max-iter 40 --entry kl -o "$T/out.h5" &&
    "$BIN/mva-nmf" "$T/map.h5" -k 4 -q --poisson --max-iter 30 -o "$T/out.h5"; then
    ok "mva-nmf hals, mu, kl, poisson"
else
    ko "mva-nmf runs"
fi
if $PY - "$T/out.h5" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    names = sorted(f.keys())
    assert names == ["kl", "mva_nmf", "mva_nmf_1", "mva_nmf_2"], names
    assert f.attrs["default"] == "mva_nmf_2", f.attrs["default"]
    for name in names:
        e = f[name]
        k = int(e["process/nmf/k"][()])
        assert e.attrs["default"] == "abundances"
        a = e["abundances/data"][()]
        s = e["spectra/data"][()]
        assert a.shape == (k, 8, 10), a.shape
        assert s.shape == (k, 128), s.shape
        assert e["spectra/energy"].shape == (128,)
        assert (a >= 0).all() and (s >= 0).all(), name
        assert np.allclose(s.sum(axis=1), 1.0, rtol=0, atol=1e-12), s.sum(axis=1)
        share = e["share"][()]
        assert np.all(np.diff(share) <= 0) and abs(share.sum() - 1) < 1e-12, share
        h = e["convergence/objective"][()]
        it = int(e["process/nmf/iterations"][()])
        assert h.shape == (it,) and it >= 1, (h.shape, it)
        method = e["process/nmf/method"].attrs["name"]
        if method in ("hals", "mu"):
            assert np.all(np.diff(h) <= 1e-12 * h[:-1]), (name, h)
        # The model reproduces the counts: the abundance images add up to the totals.
        with h5py.File(sys.argv[1].replace("out.h5", "map.h5"), "r") as m:
            x = m["/entry/data/data"][()].astype(float).reshape(80, 128)
        xr = a.reshape(k, 80).T @ s
        err = np.linalg.norm(x - xr) / np.linalg.norm(x)
        assert err < (0.1 if method == "hals" else 0.3), (name, err)
        if method in ("hals", "mu") and not e["process/nmf/poisson"][()]:
            assert abs(err - e["process/nmf/rel_error"][()]) < 1e-6, (err, e["process/nmf/rel_error"][()])
    p = f["mva_nmf_1/process/parameters"]
    assert p["method"][()].decode() == "mu" and p["seed"][()].decode() == "5"
PYEOF
then ok "mva-nmf output checked with h5py"; else ko "mva-nmf output"; fi

if $PY tests/interop/check_nexus.py "$T/out.h5" >"$T/nx.txt" 2>&1; then
    ok "mva-nmf NeXus structure checked with h5py"
else
    ko "mva-nmf NeXus structure: $(cat "$T/nx.txt")"
fi

# ---- the same seed gives the same file contents ----
"$BIN/mva-nmf" "$T/map.h5" -k 3 -q --init random --seed 9 --max-iter 20 -o "$T/r1.h5" &&
    "$BIN/mva-nmf" "$T/map.h5" -k 3 -q --init random --seed 9 --max-iter 20 -o "$T/r2.h5"
if $PY - "$T/r1.h5" "$T/r2.h5" <<'PYEOF'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["mva_nmf"] for p in sys.argv[1:])
for d in ("abundances/data", "spectra/data", "convergence/objective"):
    assert np.array_equal(a[d][()], b[d][()]), d
PYEOF
then ok "mva-nmf same seed, same result"; else ko "mva-nmf determinism"; fi

# The sample map (mva-gen's default, 101 x 200 x 2000, four phases): with k = 4 every true
# phase spectrum is matched by a component (correlation >= 0.99) and the fit is within
# 1.001x the rank-4 SVD error, the best any rank-4 factorisation can do.
"$BIN/mva-gen" -q -o "$T/sample.h5" && "$BIN/mva-nmf" "$T/sample.h5" -k 4 -q -o "$T/s4.h5" ||
    ko "mva-nmf on the sample map"
if $PY - "$T/sample.h5" "$T/s4.h5" <<'PYEOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
x = f["/entry/data/data"][()].astype(float).reshape(-1, 2000)
truth = f["truth/phase_spectra"][()]
g = h5py.File(sys.argv[2], "r")["mva_nmf"]
w = g["abundances/data"][()].reshape(4, -1).T
h = g["spectra/data"][()]
err = np.linalg.norm(x - w @ h) / np.linalg.norm(x)
s = np.linalg.svd(x, compute_uv=False)
best = np.sqrt((s[4:] ** 2).sum()) / np.linalg.norm(x)
corr = [max(np.corrcoef(t, c)[0, 1] for c in h) for t in truth]
print("error %.6f = %.5fx the rank-4 SVD error; phase correlations %s" % (err, err / best, np.round(corr, 4)))
assert err <= 1.001 * best and min(corr) >= 0.99
PYEOF
then ok "sample map: true spectra recovered, error within 1.001x SVD"; else ko "sample map recovery"; fi

# ---- W over --memory: a scratch HDF5 file, removed at once; the same model as W in memory ----
mkdir -p "$T/scratch"
# 30000 pixels x 5 components = 1.2 MB of W: over --memory 1 (MiB)
"$BIN/mva-gen" --rows 150 --cols 200 --channels 128 --b 0.1 --seed 5 --quiet -o "$T/wide.h5" ||
    ko "mva-gen wide map"
"$BIN/mva-nmf" "$T/wide.h5" -k 5 --compressed-iter 0 --max-iter 6 --tol 0 -o "$T/wmem.h5" -q ||
    ko "mva-nmf wide map, W in memory"
if "$BIN/mva-nmf" "$T/wide.h5" -k 5 --max-iter 6 --tol 0 --memory 1 --scratch "$T/scratch" \
    -o "$T/wdisk.h5" >"$T/stdout" 2>"$T/stderr" && grep -q "scratch HDF5 file" "$T/stdout"; then
    ok "mva-nmf --memory 1: W in a scratch file, said in the summary"
else
    ko "mva-nmf --memory 1 --scratch: $(cat "$T/stderr")"
fi
if [ -z "$(ls -A "$T/scratch")" ]; then ok "scratch directory left empty"; else ko "scratch left: $(ls "$T/scratch")"; fi
if $PY - "$T/wmem.h5" "$T/wdisk.h5" <<'PYEOF'
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], "r")["mva_nmf"]
b = h5py.File(sys.argv[2], "r")["mva_nmf"]
assert a["process/nmf/w_scratch"][()] == 0 and b["process/nmf/w_scratch"][()] == 1
da, db = a["abundances/data"][()], b["abundances/data"][()]
rel = np.nanmax(abs(da - db)) / np.nanmax(abs(da))
print("abundances, W on disk vs in memory: largest difference %.1e of the largest" % rel)
assert rel < 1e-12
PYEOF
then ok "W on disk gives W in memory's model"; else ko "W on disk vs memory"; fi
expect_fail "mva-nmf --scratch missing directory" "$T/none.h5" "scratch" \
    "$BIN/mva-nmf" "$T/wide.h5" -k 5 --memory 1 --scratch "$T/no/such/dir" -o "$T/none.h5"

if [ "$fails" -ne 0 ]; then
    echo "$fails command-line NMF test(s) failed"
    exit 1
fi
echo "all command-line NMF tests passed"
