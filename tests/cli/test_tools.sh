#!/bin/sh
# Command-line tests: the tools end to end on generated maps, outputs read back with h5py,
# bad inputs rejected with a clear message, a non-zero exit and no output file left.
set -u
BUILD=${BUILD:-build}
BIN=${MVA_BIN:-$BUILD/bin}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-cli-XXXXXX)
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

# ---- generate small maps in several layouts ----
G="$BIN/mva-gen --rows 6 --cols 9 --channels 96 --counts 3000 --seed 7 --quiet"
$G -o "$T/gz.h5" --compression gzip || ko "mva-gen gzip"
$G -o "$T/raw.h5" --compression none --chunk none || ko "mva-gen contiguous"
$G -o "$T/first.h5" --layout first || ko "mva-gen channel-first"
$G -o "$T/f64.h5" --dtype float64 --compression none || ko "mva-gen float64"
sum_before=$(md5sum <"$T/gz.h5")

# ---- count levels: presets are the numbers they stand for; bright has peak channels ~10^3 ----
C="$BIN/mva-gen --rows 8 --cols 10 --seed 3 --quiet"
$C -o "$T/dim.h5" --counts dim && $C -o "$T/d5000.h5" && $C -o "$T/bright.h5" --counts bright &&
    $C -o "$T/b50000.h5" --counts 50000 || ko "mva-gen --counts presets"
if $PY - "$T" <<'PYEOF'; then ok "mva-gen --counts dim|bright"; else ko "mva-gen --counts dim|bright"; fi
import sys, h5py, numpy as np
t = sys.argv[1]
d = lambda n: h5py.File(f"{t}/{n}.h5", "r")["entry/data/data"][()]
assert np.array_equal(d("dim"), d("d5000")), "dim is not the default"
assert np.array_equal(d("bright"), d("b50000")), "bright is not --counts 50000"
with h5py.File(f"{t}/bright.h5", "r") as f:
    assert f["entry/process/counts"][()] == 50000.0
    # the truth scales with the counts: the expected spectra reproduce the data's mean
    mean = f["truth/mean_expected"][()]
    b = f["entry/data/data"][()].astype(float)
    assert abs(b.mean(axis=(0, 1)).sum() / mean.sum() - 1) < 0.01
peak = d("bright").max(axis=2)
tot = d("bright").sum(axis=2)
assert 500 <= np.median(peak) <= 5000, np.median(peak)
assert 10**4 <= tot.min() and tot.max() <= 10**6, (tot.min(), tot.max())
assert d("dim").max() < 256
PYEOF
expect_fail "mva-gen --counts unknown preset" "$T/bad.h5" "expected dim, bright or a number" \
    "$BIN/mva-gen" --counts dazzling -o "$T/bad.h5"

# ---- --help and --version ----
for t in mva-pca mva-roi mva-info mva-gen; do
    if "$BIN/$t" --help | grep -q "Example"; then ok "$t --help has an example"; else ko "$t --help"; fi
    if "$BIN/$t" --version | grep -q "[0-9]\.[0-9]"; then ok "$t --version"; else ko "$t --version"; fi
done
expect_fail "mva-pca without input" "" "no INPUT" "$BIN/mva-pca"
expect_fail "mva-pca bad -k" "" "expected an integer" "$BIN/mva-pca" "$T/gz.h5" -k zero
expect_fail "mva-pca unknown option" "" "try 'mva-pca --help'" "$BIN/mva-pca" "$T/gz.h5" --frobnicate

# ---- mva-info ----
if "$BIN/mva-info" "$T/gz.h5" | grep -q "6 rows x 9 cols"; then ok "mva-info shape"; else ko "mva-info shape"; fi
if "$BIN/mva-info" "$T/gz.h5" | grep -qi "gzip"; then ok "mva-info compression"; else ko "mva-info compression"; fi

# ---- mva-pca: same answer for every layout and storage ----
for f in gz raw first f64; do
    if "$BIN/mva-pca" "$T/$f.h5" -k 3 -q -o "$T/$f-pca.h5"; then ok "mva-pca $f"; else ko "mva-pca $f"; fi
done
if $PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
def load(name):
    with h5py.File(f"{t}/{name}-pca.h5", "r") as f:
        e = f[f.attrs["default"]]
        return (e["eigenvalues"][()], e["eigenspectra/data"][()], e["eigenimages/data"][()])
ref = load("gz")
for other in ("raw", "first", "f64"):
    o = load(other)
    for a, b in zip(ref, o):
        assert a.shape == b.shape, (other, a.shape, b.shape)
        assert np.allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(a).max()), other
# Reference: the same PCA by numpy on the whole matrix.
with h5py.File(f"{t}/gz.h5", "r") as f:
    x = f["/entry/data/data"][()].astype(float).reshape(-1, 96)
xc = x - x.mean(0)
ev = np.linalg.svd(xc, compute_uv=False) ** 2 / (x.shape[0] - 1)
assert np.allclose(ref[0][:10], ev[:10], rtol=1e-10), (ref[0][:3], ev[:3])
PYEOF
then ok "mva-pca same result for gzip, contiguous, channel-first, float64 and numpy"; else ko "mva-pca layouts"; fi

# ---- randomized says whether it converged, with the change ----
"$BIN/mva-pca" "$T/gz.h5" -k 2 --method randomized --passes 2 -o "$T/r2.h5" >"$T/r2.txt" 2>&1 ||
    ko "mva-pca randomized, 2 passes"
"$BIN/mva-pca" "$T/gz.h5" -k 2 --method randomized --passes 60 --tol 1e-6 -o "$T/r60.h5" \
    >"$T/r60.txt" 2>&1 || ko "mva-pca randomized, 60 passes"
if grep -q "NOT converged: trailing eigenvalues approximate (estimated error .*, last change .*, tolerance 1e-08)" "$T/r2.txt" &&
    grep -q "passes, converged (estimated error .*, last change .*, tolerance 1e-06)" "$T/r60.txt"; then
    ok "mva-pca randomized says converged or not"
else
    ko "mva-pca randomized convergence line: $(grep method "$T/r2.txt" "$T/r60.txt")"
fi
if $PY -c "
import sys, h5py
c = [h5py.File(f)['mva_pca/process/pca'] for f in sys.argv[1:]]
assert c[0]['converged'][()] == 0 and c[0]['final_error'][()] > 1e-8
assert c[1]['converged'][()] == 1 and c[1]['final_error'][()] <= 1e-6
assert c[1]['final_error'][()] <= c[1]['final_change'][()] or c[1]['final_change'][()] <= 1e-6
" "$T/r2.h5" "$T/r60.h5"; then ok "mva-pca file says converged or not"; else ko "converged in the file"; fi
rm -f "$T/r2.h5" "$T/r60.h5"
if $PY tests/interop/check_nexus.py "$T/gz-pca.h5" --expect-k 3 >"$T/nx.txt" 2>&1; then
    ok "NeXus structure checked with h5py"
else
    ko "NeXus structure: $(cat "$T/nx.txt")"
fi

# A second analysis into the same file adds an entry and keeps the first.
"$BIN/mva-pca" "$T/gz.h5" -k 2 --poisson -q -o "$T/gz-pca.h5" || ko "mva-pca second entry"
if $PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert {'mva_pca','mva_pca_1'} <= set(f), list(f); assert f['mva_pca/eigenimages/data'].shape[0]==3" "$T/gz-pca.h5"; then
    ok "second analysis adds an entry"; else ko "second analysis adds an entry"; fi

# ---- mva-roi against numpy ----
if "$BIN/mva-roi" "$T/gz.h5" --roi A=10:20 --roi B=40:41 --csv >"$T/roi.csv" &&
    $PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/gz.h5", "r") as f:
    x = f["/entry/data/data"][()].astype(float).reshape(-1, 96)
rows = np.loadtxt(f"{t}/roi.csv", delimiter=",", skiprows=1)
for col, (a, b) in ((3, (10, 20)), (5, (40, 41))):
    raw = x[:, a:b + 1].sum(1)
    net = raw - 0.5 * (b - a + 1) * (x[:, a] + x[:, b])
    assert np.array_equal(rows[:, col], raw)
    assert np.array_equal(rows[:, col + 1], net)
assert np.array_equal(rows[:, 2], x.sum(1))
PYEOF
then ok "mva-roi --csv equals numpy sums"; else ko "mva-roi --csv"; fi
if "$BIN/mva-roi" "$T/gz.h5" --roi Low=0.3:0.5keV -q -o "$T/roi.h5" &&
    $PY tests/interop/check_nexus.py "$T/roi.h5" --expect-roi 1 >"$T/nx.txt" 2>&1; then
    ok "mva-roi HDF5 output checked with h5py"; else ko "mva-roi HDF5: $(cat "$T/nx.txt")"; fi

# ---- bad inputs: clear error, non-zero exit, no output ----
$PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/one_d.h5", "w") as f:
    f["spectrum"] = np.arange(100, dtype=np.uint32)
with h5py.File(f"{t}/zero.h5", "w") as f:
    f.create_dataset("data", shape=(0, 5, 10), dtype=np.uint32)
with h5py.File(f"{t}/nocal.h5", "w") as f:
    f["data"] = np.ones((2, 3, 40), dtype=np.uint16)
    f["data"].attrs["interpretation"] = "spectrum"  # 40 channels: the axis must be named
with h5py.File(f"{t}/strings.h5", "w") as f:
    f.create_dataset("data", data=np.array([[[b"a", b"b"]] * 2] * 2))
PYEOF
printf 'not hdf5 at all\n' >"$T/text.txt"
head -c 20000 "$T/raw.h5" >"$T/truncated.h5"
O="$T/bad-out.h5"
expect_fail "missing file" "$O" "cannot open" "$BIN/mva-pca" "$T/nope.h5" -o "$O"
expect_fail "missing dataset" "$O" "/entry/nothing" "$BIN/mva-pca" "$T/gz.h5::/entry/nothing" -o "$O"
expect_fail "1-D dataset" "$O" "1-D" "$BIN/mva-pca" "$T/one_d.h5::/spectrum" -o "$O"
expect_fail "zero-size dataset" "$O" "zero" "$BIN/mva-pca" "$T/zero.h5::/data" -o "$O"
expect_fail "string dataset" "$O" "string" "$BIN/mva-pca" "$T/strings.h5::/data" -o "$O"
expect_fail "non-HDF5 file" "$O" "text.txt" "$BIN/mva-pca" "$T/text.txt" -o "$O"
expect_fail "truncated file" "$O" "truncated.h5" "$BIN/mva-pca" "$T/truncated.h5" -o "$O"
expect_fail "too many components" "$O" "components asked" "$BIN/mva-pca" "$T/gz.h5" -k 97 -o "$O"
expect_fail "ROI without calibration" "$O" "no energy calibration" "$BIN/mva-roi" "$T/nocal.h5" --roi 1:2keV -o "$O"
expect_fail "bad shape" "$O" "54 pixels" "$BIN/mva-pca" "$T/gz.h5" --shape 5x5 -o "$O"
expect_fail "unwritable output" "/nonexistent-dir/x.h5" "nonexistent-dir" "$BIN/mva-pca" "$T/gz.h5" -k 2 -o /nonexistent-dir/x.h5
if [ "$(md5sum <"$T/gz.h5")" = "$sum_before" ]; then ok "input never modified"; else ko "input modified"; fi

# ---- make install, mva.pc, and the library example of the README ----
$G -o "$T/wide.h5" --b 0.1 || ko "mva-gen 0.1 keV channels"
if make --no-print-directory -s install PREFIX="$T/inst" BUILD="$BUILD" >"$T/install.log" 2>&1 &&
    PKG_CONFIG_PATH="$T/inst/lib/pkgconfig" cc samples/example.c \
        $(PKG_CONFIG_PATH="$T/inst/lib/pkgconfig" pkg-config --cflags --libs mva) \
        -Wl,-rpath,"$T/inst/lib" ${MVA_LINK_EXTRA:-} -o "$T/example" 2>>"$T/install.log" &&
    "$T/example" "$T/wide.h5" "$T/example.h5" >"$T/example.txt" 2>>"$T/install.log" &&
    grep -q "^PC1 " "$T/example.txt" &&
    $PY tests/interop/check_nexus.py "$T/example.h5" --expect-k 4 --expect-roi 1 >>"$T/install.log" 2>&1; then
    ok "make install + pkg-config mva + samples/example.c"
else
    ko "install/example: $(tail -5 "$T/install.log")"
fi

# ---- the spill: a gzip map is decoded once; same numbers as decoding on every pass ----
mkdir -p "$T/scratch"
if "$BIN/mva-pca" "$T/gz.h5" -k 4 --scratch "$T/scratch" -o "$T/spill.h5" >"$T/spill.txt" &&
    grep -q "^spill .* in $T/scratch" "$T/spill.txt" &&
    "$BIN/mva-pca" "$T/gz.h5" -k 4 --no-spill -o "$T/nospill.h5" >"$T/nospill.txt" &&
    ! grep -q "^spill" "$T/nospill.txt" && [ -z "$(ls -A "$T/scratch")" ] &&
    $PY - "$T/spill.h5" "$T/nospill.h5" <<'PYEOF'
import sys, h5py, numpy as np
a, b = (h5py.File(f, "r")["mva_pca"] for f in sys.argv[1:3])
for k in ("eigenvalues", "eigenspectra/data", "eigenimages/data", "mean_spectrum/data"):
    assert np.array_equal(a[k][()], b[k][()], equal_nan=True), k
PYEOF
then
    ok "mva-pca spill: same result as --no-spill, summary line, scratch directory left empty"
else
    ko "mva-pca spill: $(cat "$T/spill.txt" "$T/nospill.txt" | tail -5)"
fi
if "$BIN/mva-pca" "$T/raw.h5" -k 4 -o "$T/raw-pca.h5" >"$T/raw-pca.txt" &&
    ! grep -q "^spill" "$T/raw-pca.txt"; then
    ok "mva-pca: no spill for an uncompressed input"
else
    ko "mva-pca spilled an uncompressed input"
fi
for t in mva-pca mva-compress mva-nmf; do
    if "$BIN/$t" --help | grep -q -- "--no-spill"; then ok "$t --help: --no-spill"; else ko "$t --help lacks --no-spill"; fi
done

echo "test_tools: $fails failure(s)"
[ "$fails" -eq 0 ]
