#!/bin/sh
# The reader stage through the tools: --norm from datasets of the input or of another file,
# terms multiplied, a given reference, masked pixels, --snake, their summary lines, every
# refusal with its message; on the real APS 2-ID-E file, one element opened by its dataset path
# with its own live times, and the first principal component before and after live-time
# normalisation (column 0 has a live time of 1.2 s, the others 0.5 s).
set -u
CLI_TAG=norm
. "$(dirname "$0")/../util/cli.sh"
REAL=$(dirname "$0")/../../../shared/realdata/2xfm_0011_2xfm3__0.h5
[ -f "$REAL" ] || REAL=../shared/realdata/2xfm_0011_2xfm3__0.h5

# map.h5: /map (6, 5, 80) counts; per-pixel /i0 (6, 5), /lt (30), /dtc (6, 5), /bad (5, 6),
# /holes (an I0 with a zero and a NaN); mon.h5: /I0 (6, 5).
$PY - "$T" <<'PYEOF' || ko "making the test files"
import sys, h5py, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(15)
with h5py.File(f"{t}/map.h5", "w") as f:
    f["map"] = rng.poisson(20, (6, 5, 80)).astype(np.uint16)
    f["i0"] = rng.uniform(5e4, 1.5e5, (6, 5))
    f["lt"] = rng.uniform(0.4, 1.3, 30).astype(np.float32)
    f["dtc"] = rng.uniform(1.0, 1.4, (6, 5))
    f["bad"] = np.ones((5, 6))
    holes = rng.uniform(5e4, 1.5e5, (6, 5))
    holes[2, 3] = 0
    holes[4, 1] = np.nan
    f["holes"] = holes
with h5py.File(f"{t}/mon.h5", "w") as f:
    f["I0"] = rng.uniform(5e4, 1.5e5, (6, 5))
PYEOF
M="$T/map.h5::/map"
"$BIN/mva-roi" "$M" --roi All=0:79 --norm /i0 -o "$T/i0.h5" >"$T/i0.txt" &&
"$BIN/mva-roi" "$M" --roi All=0:79 --norm 'dtc:/dtc,livetime:/lt@2' -q -o "$T/terms.h5" &&
"$BIN/mva-roi" "$M" --roi All=0:79 --norm "$T/mon.h5::/I0@1000" -q -o "$T/other.h5" &&
"$BIN/mva-roi" "$M" --roi All=0:79 --snake on -o "$T/snake.h5" >"$T/snake.txt" &&
"$BIN/mva-roi" "$M" --roi All=0:79 --snake on --norm /i0 -q -o "$T/snorm.h5" &&
"$BIN/mva-roi" "$M" --roi All=0:79 --norm /holes -o "$T/holes.h5" >"$T/holes.txt" ||
    ko "tools with --norm and --snake"
check "--norm: monitor, terms, another file, snake, masked pixels = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/map.h5", "r") as f:
    x = f["map"][()].astype(float).sum(2)                    # (6, 5) totals
    i0, lt, dtc, holes = (f[k][()].astype(float) for k in ("i0", "lt", "dtc", "holes"))
with h5py.File(f"{t}/mon.h5", "r") as f:
    I0 = f["I0"][()]
def roi(name, what="raw"):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        e = f[f.attrs["default"]]
        return e["roi/All/" + what][()] if what == "raw" else e[what][()]
def same(got, want):
    assert got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=0), \
        abs(got - want).max()
same(roi("i0"), x * i0.mean() / i0)                          # reference: the mean monitor
same(roi("terms"), x * dtc * 2 / lt.reshape(6, 5))            # dtc multiplies, lt divides
same(roi("other"), x * 1000 / I0)
snake = x.copy()
snake[1::2] = snake[1::2, ::-1]                              # odd rows recorded right to left
assert np.array_equal(roi("snake"), snake)
w = i0.mean() / i0                                           # weights of the stored pixels
sn = x * w
sn[1::2] = sn[1::2, ::-1]
same(roi("snorm"), sn)
ok = np.isfinite(holes) & (holes > 0)
got = roi("holes")
assert np.isnan(got[~ok]).all() and (~ok).sum() == 2
same(got[ok], (x * holes[ok].mean() / holes)[ok])
mask = roi("holes", "mask")
assert mask.sum() == 2 and mask[2, 3] and mask[4, 1]
PYEOF
grep -q "^norm       divided by monitor /i0, times [0-9.e+]* (its mean)$" "$T/i0.txt" &&
    ok "summary: the normalisation, its source and reference" ||
    ko "summary --norm: $(cat "$T/i0.txt")"
grep -q "^snake      odd rows reversed" "$T/snake.txt" && ok "summary: snake" ||
    ko "summary --snake: $(cat "$T/snake.txt")"
grep -q "^norm .*; 2 pixels masked (factor zero, negative or not a number)$" "$T/holes.txt" &&
    grep -q "28 valid, 2 masked" "$T/holes.txt" && ok "summary: masked pixels counted" ||
    ko "summary masked: $(cat "$T/holes.txt")"

check "provenance: the process group records the normalisation and the snake" <<'PYEOF'
import sys, h5py
t = sys.argv[1]
def proc(name):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        g = f[f.attrs["default"]]["process"]
        return {k: g[k].asstr()[()] for k in g if k.startswith("input_") and g[k].dtype.kind == "O"}
p = proc("i0")
assert p["input_normalisation"].startswith("divided by monitor /i0, times "), p
assert p["input_axes"] == "rows,cols,channels" and "input_snake" not in p, p
p = proc("terms")
assert p["input_normalisation"].startswith("multiplied by dead-time factors /dtc; divided "
                                           "by live time /lt, times 2 (given)"), p
assert proc("snake")["input_snake"] == "odd rows reversed"
assert "; 2 pixels masked" in proc("holes")["input_normalisation"]
PYEOF

# Every tool that writes a result records the factors (process/normalisation).
"$BIN/mva-pca" "$M" -k 2 --norm /i0 -q -o "$T/f_pca.h5" &&
"$BIN/mva-nmf" "$M" -k 2 --norm /i0 -q -o "$T/f_nmf.h5" &&
"$BIN/mva-compress" "$M" -k 2 --norm /i0 -q -o "$T/f_cmp.h5" &&
"$BIN/mva-cluster" "$M" -k 2 -c 2 --norm /i0 -q -o "$T/f_cl.h5" &&
"$BIN/mva-roi" "$M" --roi All=0:79 -q -o "$T/none.h5" &&
"$BIN/mva-select" "$T/f_pca.h5" --image 'eigenimages/data[0]' --top 20% -q ||
    ko "tools writing the factors"
check "process/normalisation: the factors of every term = numpy, with kind, source, reference" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/map.h5", "r") as f:
    i0, lt, dtc, holes = (f[k][()].astype(float) for k in ("i0", "lt", "dtc", "holes"))
with h5py.File(f"{t}/mon.h5", "r") as f:
    I0 = f["I0"][()]
def norm(name, entry=None):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        g = f[entry or f.attrs["default"]]["process"]
        if "normalisation" not in g:
            return None
        d = g["normalisation"]
        assert d.attrs["NX_class"] == "NXdata" and d.attrs["signal"] == "factor"
        assert list(d.attrs["axes"]) == ["y", "x"], d.attrs["axes"]
        a = d["factor"].attrs
        return d["factor"][()], {k: a[k] for k in a}
def same(got, want):
    ok = ~np.isnan(want)
    assert got.shape == want.shape and np.array_equal(np.isnan(got), ~ok), (got, want)
    assert np.allclose(got[ok], want[ok], rtol=1e-12, atol=0), abs(got - want)[ok].max()
f, a = norm("i0")
same(f, i0.mean() / i0)
assert a["kind"] == "monitor" and a["source"] == "/i0", a
assert abs(a["reference"] - i0.mean()) <= 1e-12 * i0.mean(), a
for name in ("f_pca", "f_nmf", "f_cmp"):
    same(norm(name)[0], i0.mean() / i0)
with h5py.File(f"{t}/f_cl.h5", "r") as h:
    pca_entry = [e for e in h if "eigenspectra" in h[e]][0]
same(norm("f_cl", pca_entry)[0], i0.mean() / i0)
same(norm("f_cl")[0], i0.mean() / i0)                        # the clustering entry
same(norm("f_pca", "mva_select")[0], i0.mean() / i0)         # the selection (map reopened)
f, a = norm("terms")
same(f, dtc * 2 / lt.reshape(6, 5))
assert list(a["kind"]) == ["dead-time factors", "live time"], a
assert list(a["source"]) == ["/dtc", "/lt"], a
assert np.isnan(a["reference"][0]) and a["reference"][1] == 2, a
f, a = norm("other")
same(f, 1000 / I0)
assert a["source"] == f"{t}/mon.h5::/I0" and a["reference"] == 1000, a
sn = i0.mean() / i0
sn[1::2] = sn[1::2, ::-1]                                    # in map order, after the snake
same(norm("snorm")[0], sn)
ok = np.isfinite(holes) & (holes > 0)
want = np.where(ok, holes[ok].mean() / np.where(ok, holes, 1), np.nan)
same(norm("holes")[0], want)                                 # NaN where masked
assert norm("none") is None and norm("snake") is None
PYEOF

# ---- refusals ----
expect_fail "--norm factor of the wrong shape" \
    "map.h5::/bad has shape (5, 6); a per-pixel factor of this 6 x 5 map must be (30), (6, 5)" \
    "$BIN/mva-roi" "$M" --roi 0:9 --norm /bad -o "$T/x.h5"
expect_fail "--norm dataset missing" "no dataset /nope" \
    "$BIN/mva-pca" "$M" -k 2 --norm livetime:/nope -o "$T/x.h5"
expect_fail "--norm layout name without a layout" "has no recognised layout to find 'livetime'" \
    "$BIN/mva-nmf" "$M" -k 2 --norm livetime -o "$T/x.h5"
expect_fail "--norm syntax" "expected TERM\[,TERM...\]" \
    "$BIN/mva-roi" "$M" --roi 0:9 --norm 'livetime@0' -o "$T/x.h5"
expect_fail "--norm dtc with a reference" "dead-time factors take no reference" \
    "$BIN/mva-compress" "$M" -k 2 --norm 'dtc:/dtc@2' -o "$T/x.h5"
expect_fail "--snake value" "--snake 'maybe': expected on" \
    "$BIN/mva-info" "$M" --snake maybe
expect_fail "--detector syntax" "--detector '1-x': expected 'sum'" \
    "$BIN/mva-info" "$M" --detector 1-x
expect_fail "--detector on a single-element input" \
    "--detector 0: the input has a single detector element" \
    "$BIN/mva-roi" "$M" --detector 0 --roi 0:9 -o "$T/x.h5"
[ -e "$T/x.h5" ] && ko "a refused run left an output" || ok "no output left by refused runs"

# ---- the real file ----
if [ -f "$REAL" ]; then
    "$BIN/mva-roi" "$REAL::/MAPS_RAW/data_b" --channel-axis first --roi A=100:300 \
        --norm 'livetime:/MAPS_RAW/livetime[1]@1' -q -o "$T/b.h5" &&
    "$BIN/mva-pca" "$REAL" --method exact -k 3 -q -o "$T/raw.h5" &&
    "$BIN/mva-pca" "$REAL" --method exact -k 3 --norm livetime -q -o "$T/lt.h5" ||
        ko "tools on the real file"
    check "real file: one element by its path, normalised by its own live time = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t, real = sys.argv[1:3]
with h5py.File(real, "r") as f:
    b = f["MAPS_RAW/data_b"][()].astype(float)             # (2048, 11, 9)
    lt = f["MAPS_RAW/livetime"][1].astype(float)           # element 1's live times
with h5py.File(f"{t}/b.h5", "r") as f:
    got = f[f.attrs["default"]]["roi/A/raw"][()]
want = b[100:301].sum(0) / lt
assert np.allclose(got, want, rtol=1e-12, atol=0), abs(got - want).max()
PYEOF
    check "real file: provenance names the layout, the elements and the live times used" <<'PYEOF'
import sys, h5py
t = sys.argv[1]
with h5py.File(f"{t}/lt.h5", "r") as f:
    g = f[f.attrs["default"]]["process"]
    p = {k: g[k].asstr()[()] for k in g if k.startswith("input_") and g[k].dtype.kind == "O"}
assert p["input_layout"].startswith("MAPS_RAW"), p
assert p["input_elements"] == "sum of 4 elements: data_a, data_b, data_c, data_d", p
assert p["input_normalisation"].startswith("divided by live time /MAPS_RAW/livetime "
                                           "(one per element), times "), p
PYEOF
    check "real file: the per-element live-time factors in the result = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t, real = sys.argv[1:3]
with h5py.File(real, "r") as f:
    lt = f["MAPS_RAW/livetime"][()].astype(float)          # (4, 11, 9)
ref = lt[np.isfinite(lt) & (lt > 0)].mean()
with h5py.File(f"{t}/lt.h5", "r") as f:
    d = f[f.attrs["default"]]["process/normalisation"]
    got, a = d["factor"][()], dict(d["factor"].attrs)
    assert list(d.attrs["axes"]) == ["element", "y", "x"] and list(d["element"][()]) == [0, 1, 2, 3]
assert got.shape == (4, 11, 9) and np.allclose(got, ref / lt, rtol=1e-12, atol=0)
assert a["source"] == "/MAPS_RAW/livetime" and abs(a["reference"] - ref) <= 1e-12 * ref
PYEOF
    check "real file: PC1 is column 0 (live time 1.2 s) raw, not once normalised" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
col0 = np.zeros((11, 9))
col0[:, 0] = 1
def pc1(name):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        e = f[f.attrs["default"]]
        img, ratio = e["eigenimages/data"][0], e["explained_variance_ratio"][0]
    return abs(np.corrcoef(img.ravel(), col0.ravel())[0, 1]), ratio
r_raw, v_raw = pc1("raw")
r_lt, v_lt = pc1("lt")
print("PC1 ~ column 0: raw r=%.3f (%.1f%% of the variance), normalised r=%.3f (%.1f%%)"
      % (r_raw, 100 * v_raw, r_lt, 100 * v_lt))
assert r_raw > 0.99 and v_raw > 0.5, (r_raw, v_raw)
assert r_lt < 0.3 and v_lt < 0.1, (r_lt, v_lt)
PYEOF
    cat "$T/py.txt"
    # mva-select reopens the map as it was analysed: the recorded --detector, --norm and
    # --snake, on a layout of several element datasets (no single dataset path to reopen)
    "$BIN/mva-pca" "$REAL" --method exact -k 2 --detector 0,1 --norm livetime --snake on -q \
        -o "$T/sel.h5" &&
    "$BIN/mva-select" "$T/sel.h5" --image 'eigenimages/data[0]' --top 10% -q &&
    "$BIN/mva-select" "$T/sel.h5" --image 'eigenimages/data[0]' --top 10% --stack "$REAL" \
        --detector 0,1 --norm livetime --snake on --name given -q &&
    "$BIN/mva-select" "$T/sel.h5" --image 'eigenimages/data[0]' --top 10% --stack "$REAL" \
        --detector 0,1 --norm livetime --name unsnaked -q ||
        ko "mva-select on a result of the real file"
    check "real file: mva-select applies the recorded reader options (map average = PCA mean)" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/sel.h5", "r") as f:
    mean = f["mva_pca/mean_spectrum/data"][()]
    rec, given, raw = f["mva_select"], f["given"], f["unsnaked"]
    cum = "cumulative_spectrum/data"
    assert np.allclose(rec["map_average_spectrum/data"][()], mean, rtol=1e-12, atol=1e-12)
    assert np.array_equal(rec[cum][()], given[cum][()])
    assert not np.array_equal(rec[cum][()], raw[cum][()])
PYEOF
else
    ko "real file missing: $REAL"
fi

echo "test_norm: $fails failure(s)"
[ "$fails" -eq 0 ]
