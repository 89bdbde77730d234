#!/bin/sh
# SPEC scan geometry: snake (back-and-forth) rows found from the fast motor's positions and
# put back in order, a raster left alone, positions off the grid refused with the options
# that resolve it, --snake off/on overriding; for one mesh scan and for rows of several scans.
set -u
BUILD=${BUILD:-build}
BIN=${MVA_BIN:-$BUILD/bin}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-spec-grid-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }

"$BIN/mva-gen" --rows 5 --cols 7 --channels 200 --b 0.1 --counts 3000 --seed 5 --quiet -o "$T/map.h5" ||
    ko "mva-gen"
# snake.spec: odd rows recorded right to left, samy jittering by 0.4 step; raster.spec the
# same one way; offgrid.spec: row 2 of the raster shifted by 3 steps; aborted.spec: the snake
# stopped after 3 points of row 3 (odd: recorded from the right); rows.spec: one ascan a row,
# back and forth; rows_off.spec: one ascan a row, the third starting elsewhere.
if $PY - "$T" <<'PYEOF'
import sys
sys.path.insert(0, "tests/interop")
import make_spec
t = sys.argv[1]
x = make_spec.read_map(f"{t}/map.h5")
rows, cols, p = x.shape
make_spec.write_spec(f"{t}/snake.spec", x, per_line=0, snake=True, jitter=0.4)
make_spec.write_spec(f"{t}/raster.spec", x, per_line=0, jitter=0.4)
lines = open(f"{t}/raster.spec").read().split("\n")
out, point = [], 0
for line in lines:
    if line and line[0] in "-0123456789":
        v = line.split(" ")
        if point // cols == 2:
            v[0] = "%g" % (float(v[0]) + 3)
        line = " ".join(v)
        point += 1
    out.append(line)
open(f"{t}/offgrid.spec", "w").write("\n".join(out))
text = open(f"{t}/snake.spec").read().split("\n")
keep, point = [], 0
for line in text:
    if line.startswith("@A"):
        point += 1
        if point > 3 * cols + 3:
            break
    keep.append(line)
open(f"{t}/aborted.spec", "w").write("\n".join(keep) + "\n")
def ascans(path, shift_row=None):
    with open(path, "w") as f:
        f.write("#F rows.spec\n#E 1\n\n")
        for r in range(rows):
            back = r % 2 == 1
            a, b = (cols - 1, 0) if back else (0, cols - 1)
            a0 = a + (5 if r == shift_row else 0)
            f.write("#S %d ascan samy %d %d %d 0.1\n#@CHANN %d 0 %d 1\n#L samy  I0\n"
                    % (r + 1, a0, b, cols - 1, p, p - 1))
            for k in range(cols):
                c = cols - 1 - k if back else k
                f.write("@A " + " ".join(str(v) for v in x[r, c]) + "\n")
                f.write("%g 1000\n" % (c + (5 if r == shift_row else 0)))
            f.write("\n")
# snake_i0.spec: the snake with I0 = 1000 + 10 x (point in file order)
out, k = [], 0
for line in open(f"{t}/snake.spec").read().split("\n"):
    if line and line[0] in "-0123456789":
        v = line.split(" ")
        v[3] = str(1000 + 10 * k)
        line, k = " ".join(v), k + 1
    out.append(line)
open(f"{t}/snake_i0.spec", "w").write("\n".join(out))
ascans(f"{t}/rows.spec")
ascans(f"{t}/rows_off.spec", shift_row=2)
PYEOF
then ok "wrote snake, raster, off-grid, aborted and row-scan SPEC maps"; else ko "writing SPEC maps"; fi

for f in map.h5 snake.spec raster.spec aborted.spec rows.spec; do
    "$BIN/mva-info" "$T/$f" >"$T/$f.txt" 2>&1 || ko "mva-info $f: $(cat "$T/$f.txt")"
    "$BIN/mva-roi" "$T/$f" --roi A=3:40 -q -o "$T/$f-roi.h5" || ko "mva-roi $f"
done
"$BIN/mva-roi" "$T/snake_i0.spec" --norm I0@1000 --roi A=3:40 -q -o "$T/snake_i0-roi.h5" ||
    ko "mva-roi snake_i0.spec --norm I0@1000"
"$BIN/mva-roi" "$T/snake.spec" --snake off --roi A=3:40 -q -o "$T/snake-off-roi.h5" ||
    ko "mva-roi snake.spec --snake off"
"$BIN/mva-roi" "$T/raster.spec" --snake on --roi A=3:40 -q -o "$T/raster-on-roi.h5" ||
    ko "mva-roi raster.spec --snake on"
if grep -q "^snake        odd rows recorded right to left, put back in order" "$T/snake.spec.txt" &&
    grep -q "^snake  " "$T/aborted.spec.txt" && grep -q "^snake  " "$T/rows.spec.txt" &&
    grep -q "5 rows x 7 cols" "$T/rows.spec.txt" && grep -q "4 rows x 7 cols" "$T/aborted.spec.txt" &&
    ! grep -q "^snake" "$T/raster.spec.txt"; then
    ok "mva-info: snake found in the mesh, the aborted mesh and the row scans; not in the raster"
else
    ko "mva-info snake: $(cat "$T/snake.spec.txt" "$T/raster.spec.txt" "$T/rows.spec.txt")"
fi
if $PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
def roi(name):
    with h5py.File(f"{t}/{name}-roi.h5", "r") as f:
        e = f[f.attrs["default"]]
        return e["roi/A/raw"][()], e["process/input_snake"][()].decode() \
            if "input_snake" in e["process"] else None
with h5py.File(f"{t}/map.h5", "r") as f:
    want = f["/entry/data/data"][()].astype(float)[:, :, 3:41].sum(2)
for name in ("map.h5", "snake.spec", "raster.spec", "rows.spec"):
    img, _ = roi(name)
    assert np.array_equal(img, want), name
as_recorded = want.copy()
as_recorded[1::2] = as_recorded[1::2, ::-1]
assert np.array_equal(roi("snake-off")[0], as_recorded)
assert np.array_equal(roi("raster-on")[0], as_recorded)
img, _ = roi("aborted.spec")
cols = want.shape[1]
assert img.shape == (4, cols)
assert np.array_equal(img[:3], want[:3])
# row 3 is odd: its 3 points were recorded from the right, the 4 not reached are NaN
assert np.array_equal(img[3, cols - 3:], want[3, cols - 3:]) and np.isnan(img[3, :cols - 3]).all()
i0 = (1000 + 10 * np.arange(want.size, dtype=float)).reshape(want.shape)
i0[1::2] = i0[1::2, ::-1]  # file order to map order
with h5py.File(f"{t}/snake_i0-roi.h5", "r") as f:
    e = f[f.attrs["default"]]
    assert np.allclose(e["roi/A/raw"][()], want * 1000 / i0, rtol=1e-12, atol=0)
    assert np.allclose(e["process/normalisation/factor"][()].reshape(want.shape), 1000 / i0,
                       rtol=1e-12, atol=0)
assert roi("snake.spec")[1] == "odd rows reversed" and roi("rows.spec")[1] == "odd rows reversed"
assert roi("raster.spec")[1] is None and roi("snake-off")[1] is None
PYEOF
then ok "ROI images: snake rows put back = numpy (mesh, aborted mesh, row scans, --norm I0); --snake off/on"
else ko "ROI images of the SPEC maps"; fi

expect_fail() { # what, text, command...
    what=$1 text=$2
    shift 2
    if "$@" >"$T/out" 2>"$T/err"; then ko "$what: accepted"
    elif grep -qF "$text" "$T/err"; then ok "$what"
    else ko "$what: $(cat "$T/err")"; fi
}
expect_fail "off-grid mesh refused, naming file, scan, point and the options" \
    "$T/offgrid.spec: line 46 (scan 1): the positions of samy are not on a grid: point 14 of the map (row 2) is at 2.6, column 0 of row 0 at -0.4 (row 0 moves 1 a point; tolerance 1.5); mva reads maps on a grid of 5 x 7 (from the mesh command on line 7) only: give the shape with --shape ROWSxCOLS, or read the spectra as recorded with --snake off (or odd rows reversed with --snake on)" \
    "$BIN/mva-roi" "$T/offgrid.spec" --roi A=3:40 -q -o "$T/x.h5"
expect_fail "off-grid rows of scans refused" \
    "rows_off.spec: line 44 (scan 3): the positions of samy are not on a grid: point 14 of the map (row 2) is at 5, column 0 of row 0 at 0" \
    "$BIN/mva-info" "$T/rows_off.spec"
if "$BIN/mva-info" "$T/offgrid.spec" --snake off >/dev/null 2>&1 &&
    "$BIN/mva-info" "$T/offgrid.spec" --shape 7x5 >/dev/null 2>&1; then
    ok "off-grid mesh read as recorded with --snake off, or with --shape"
else ko "off-grid mesh with --snake off / --shape"; fi

# rows of one motor of different lengths, not only the last one short: refused, --shape 1xN
$PY - "$T" <<'PYEOF'
import sys
t = sys.argv[1]
with open(f"{t}/uneven.spec", "w") as f:
    f.write("#F uneven.spec\n#E 1\n\n")
    for s, n in enumerate((5, 3, 5)):
        f.write("#S %d ascan samy 0 %d %d 0.1\n#@CHANN 4 0 3 1\n#L samy  I0\n" % (s + 1, n - 1, n - 1))
        for k in range(n):
            f.write("@A 1 2 3 4\n%d 1000\n" % k)
PYEOF
expect_fail "row scans of different lengths refused" \
    "uneven.spec: the scans move samy, one scan a row of the map, but their lengths differ (scan 1: 5, scan 2: 3, scan 3: 5 points) and not only in the last row (a scan stopped short): the positions are not on a grid; read them as one row with --shape 1x13, or name the scans of one map with --scan" \
    "$BIN/mva-info" "$T/uneven.spec"
"$BIN/mva-info" "$T/uneven.spec" --shape 1x13 | grep -q "1 rows x 13 cols" &&
    ok "row scans of different lengths read as one row with --shape 1x13" || ko "uneven --shape 1x13"

# the real APS 33-ID file: its meshes run one way (eta jitters by up to two steps): no snake
REAL=../shared/realdata/33id_spec.dat
if [ -f "$REAL" ]; then
    for s in 22 24 26 29 30 74 85; do
        "$BIN/mva-info" "$REAL" --scan $s >"$T/real.txt" 2>&1 || ko "33id --scan $s: $(cat "$T/real.txt")"
        ! grep -q "^snake" "$T/real.txt" || ko "33id --scan $s: snake found in a raster"
    done
    grep -q "shape        3 rows x 31 cols" "$T/real.txt" && ok "33id meshes: read as rasters" ||
        ko "33id scan 85: $(cat "$T/real.txt")"
    expect_fail "33id --scan 3,4: two ascans over different ranges are no map" \
        "33id_spec.dat: line 909 (scan 4): the positions of del are not on a grid" \
        "$BIN/mva-info" "$REAL" --scan 3,4
else
    echo "SKIP the real 33-ID file: $REAL not there"
fi

echo "test_spec_grid: $fails failure(s)"
[ "$fails" -eq 0 ]
