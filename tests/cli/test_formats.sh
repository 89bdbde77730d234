#!/bin/sh
# The same map as HDF5, as an EDF series (one file per row), as one 3-D EDF and as SPEC:
# identical ROI images and PCA results through every tool; then the interoperability checks
# against the real readers (fabio, PyMca, silx), which CI installs.
set -u
BUILD=${BUILD:-build}
BIN=${MVA_BIN:-$BUILD/bin}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-formats-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }

"$BIN/mva-gen" --rows 6 --cols 9 --channels 96 --counts 3000 --seed 11 --quiet -o "$T/map.h5" ||
    ko "mva-gen"
# EDF as PyMca writes XRF maps (a 2-D image of cols spectra per row file, MCA a/b/c keys,
# 1024-byte headers), a 3-D EDF, and SPEC as beamlines write it (mesh scan, '\' lines).
if $PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
sys.path.insert(0, "tests/interop")
import make_spec
t = sys.argv[1]
with h5py.File(f"{t}/map.h5", "r") as f:
    x = f["/entry/data/data"][()]
    cal = f["/entry/data/calibration"][()]
rows, cols, p = x.shape
def edf(path, arr, pad=1024, extra=""):
    dims = "".join(f"Dim_{i + 1} = {n} ;\n" for i, n in enumerate(reversed(arr.shape)))
    head = ("{\nHeaderID = EH:000001:000000:000000 ;\nImage = 1 ;\nByteOrder = LowByteFirst ;\n"
            f"DataType = UnsignedInteger ;\n{dims}Size = {arr.nbytes} ;\n"
            f"MCA a = {cal[0]!r} ;\nMCA b = {cal[1]!r} ;\nMCA c = {cal[2]!r} ;\n{extra}")
    head += " " * (pad - (len(head) + 2) % pad) + "}\n"
    with open(path, "wb") as f:
        f.write(head.encode("ascii"))
        f.write(arr.astype("<u4").tobytes())
for r in range(rows):
    edf(f"{t}/row_{r:04d}.edf", x[r])
edf(f"{t}/cube.edf", x, pad=512)
make_spec.write_spec(f"{t}/map.spec", x, per_line=16, calib=tuple(cal))
PYEOF
then ok "wrote the map as EDF series, 3-D EDF and SPEC"; else ko "writing EDF/SPEC copies"; fi

INPUTS="map.h5 row_0000.edf cube.edf map.spec"
for f in $INPUTS; do
    if "$BIN/mva-info" "$T/$f" | grep -q "6 rows x 9 cols"; then ok "mva-info $f: 6 x 9"; else ko "mva-info $f"; fi
    "$BIN/mva-roi" "$T/$f" --roi Low=0.2:0.5keV --roi 10:20 --csv >"$T/$f.csv" || ko "mva-roi $f"
    "$BIN/mva-pca" "$T/$f" -k 3 --method exact -q -o "$T/$f-pca.h5" || ko "mva-pca $f"
    "$BIN/mva-pca" "$T/$f" -k 3 --method randomized -q -o "$T/$f-rpca.h5" || ko "mva-pca randomized $f"
done
for f in row_0000.edf cube.edf; do
    if "$BIN/mva-roi" "$T/$f" --scan 1 --roi 10:20 --csv >/dev/null 2>"$T/scan.err"; then
        ko "--scan on EDF $f accepted"
    elif grep -q "this edf input has none" "$T/scan.err"; then ok "--scan on EDF $f refused"
    else ko "--scan on EDF $f: unexpected message: $(cat "$T/scan.err")"; fi
done
for f in row_0000.edf cube.edf map.spec; do
    if cmp -s "$T/map.h5.csv" "$T/$f.csv"; then ok "ROI images of $f identical to HDF5"; else ko "ROI images of $f differ from HDF5"; fi
done
if $PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
def load(name):
    with h5py.File(f"{t}/{name}", "r") as f:
        e = f[f.attrs["default"]]
        return [e[k][()] for k in ("eigenvalues", "eigenspectra/data", "eigenimages/data",
                                   "mean_spectrum/data", "eigenspectra/energy")]
for kind in ("pca", "rpca"):
    ref = load(f"map.h5-{kind}.h5")
    for other in ("row_0000.edf", "cube.edf", "map.spec"):
        for a, b in zip(ref, load(f"{other}-{kind}.h5")):
            ok = np.array_equal(a, b, equal_nan=True)
            assert ok, (kind, other, np.nanmax(np.abs(a - b)))
PYEOF
then ok "PCA (exact and randomized) of EDF, 3-D EDF and SPEC identical to HDF5"; else ko "PCA differs between formats"; fi

# Series given as a pattern and as a list.
printf '%s\n' "$T"/row_000[0-5].edf >"$T/list.txt"
"$BIN/mva-roi" --list "$T/list.txt" --roi Low=0.2:0.5keV --roi 10:20 --csv >"$T/list.csv" &&
    cmp -s "$T/map.h5.csv" "$T/list.csv" && ok "EDF series from --list" || ko "EDF series from --list"
"$BIN/mva-roi" "$T/row_%04d.edf" --series 0:5 --roi Low=0.2:0.5keV --roi 10:20 --csv >"$T/pat.csv" &&
    cmp -s "$T/map.h5.csv" "$T/pat.csv" && ok "EDF series from a pattern" || ko "EDF series from a pattern"

# Errors name the file and the place.
head -c 700 "$T/row_0003.edf" >"$T/bad_0000.edf"
if "$BIN/mva-info" "$T/bad_0000.edf" 2>"$T/err" >/dev/null; then ko "truncated EDF accepted"
elif grep -q "bad_0000.edf" "$T/err"; then ok "truncated EDF: $(head -c 150 "$T/err")"
else ko "truncated EDF message: $(cat "$T/err")"; fi
awk '/^@A /{n++; if (n == 10) sub(/^@A /, "@A x")} {print}' "$T/map.spec" >"$T/bad.spec"
if "$BIN/mva-roi" "$T/bad.spec" --roi 1:2 -o "$T/bad-out.h5" 2>"$T/err" >/dev/null; then ko "bad SPEC value accepted"
elif grep -q "line" "$T/err" && [ ! -e "$T/bad-out.h5" ]; then ok "bad SPEC value: $(head -c 150 "$T/err")"
else ko "bad SPEC message: $(cat "$T/err")"; fi
expect_shape() {
    if "$BIN/mva-info" "$T/map.spec" --shape 5x5 2>"$T/err" >/dev/null; then ko "SPEC --shape mismatch accepted"
    elif grep -q "54 spectra" "$T/err"; then ok "SPEC --shape mismatch named"; else ko "SPEC --shape: $(cat "$T/err")"; fi
}
expect_shape

# The real readers: fabio, PyMca, silx.
if $PY -c "import fabio, PyMca5, silx.io.specfile" 2>/dev/null; then
    for s in edf_fabio edf_pymca; do
        if $PY tests/interop/$s.py "$T/$s" >"$T/$s.log" 2>&1; then ok "interop $s"; else ko "interop $s: $(tail -5 "$T/$s.log")"; fi
    done
    if $PY tests/interop/spec_silx.py >"$T/spec.log" 2>&1; then ok "interop spec_silx"; else ko "interop spec_silx: $(tail -5 "$T/spec.log")"; fi
elif [ "${MVA_REQUIRE_INTEROP:-0}" = 1 ]; then
    ko "python3-fabio, python3-pymca5 and python3-silx are required (MVA_REQUIRE_INTEROP=1)"
else
    echo "SKIP interop with fabio/PyMca/silx: not installed (scripts/deps.sh --test installs them)"
fi

echo "test_formats: $fails failure(s)"
[ "$fails" -eq 0 ]
