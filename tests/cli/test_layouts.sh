#!/bin/sh
# Files from beamlines: the real APS 2-ID-E fly scan (MAPS_RAW, four elements) read against
# numpy (sum of elements, live-time normalised ROI images, exact PCA of the normalised map),
# h5py replicas of the facility layouts (tests/interop/make_layouts.py) read right, and the
# inputs that used to give a wrong answer with exit 0 now refused with their message.
set -u
CLI_TAG=layouts
. "$(dirname "$0")/../util/cli.sh"
REAL=$(dirname "$0")/../../../shared/realdata/2xfm_0011_2xfm3__0.h5
[ -f "$REAL" ] || REAL=../shared/realdata/2xfm_0011_2xfm3__0.h5
$PY tests/interop/make_layouts.py "$T" || ko "make_layouts.py"

# ---- the real file: APS 2-ID-E MAPS_RAW ----
if [ -f "$REAL" ]; then
    info=$("$BIN/mva-info" "$REAL")
    case "$info" in *"recognised   MAPS_RAW"*"sum of 4 elements: data_a, data_b, data_c, data_d"*)
        ok "mva-info names MAPS_RAW and its four elements" ;;
    *) ko "mva-info MAPS_RAW: $info" ;; esac
    case "$info" in *"offers --norm livetime (/MAPS_RAW/livetime), dtc (/MAPS_RAW/inputcounts / /MAPS_RAW/ouputcounts x /MAPS_RAW/realtime / /MAPS_RAW/livetime)"*)
        ok "mva-info lists the normalisations and their datasets" ;;
    *) ko "mva-info normalisations: $info" ;; esac
    "$BIN/mva-roi" "$REAL" --roi A=100:300 --roi All=0:2047 -q -o "$T/sum.h5" &&
    "$BIN/mva-roi" "$REAL" --roi A=100:300 --roi All=0:2047 --norm livetime@1 -q \
        -o "$T/lt.h5" &&
    "$BIN/mva-roi" "$REAL" --detector 2 --roi A=100:300 -q -o "$T/el2.h5" &&
    "$BIN/mva-pca" "$REAL" --norm livetime@1 --method exact -k 5 -q -o "$T/pca.h5" ||
        ko "tools on the real file"
    check "real file: sum of elements, one element, live-time ROI images = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t, real = sys.argv[1:3]
with h5py.File(real, "r") as f:
    el = [f[f"MAPS_RAW/data_{c}"][()].astype(float) for c in "abcd"]   # (2048, 11, 9)
    lt = f["MAPS_RAW/livetime"][()].astype(float)                      # (4, 11, 9)
def roi(name, what):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        return f[f.attrs["default"]][f"roi/{what}/raw"][()]
s = sum(el)
assert np.array_equal(roi("sum", "All"), s.sum(0)), "sum of elements"
assert np.array_equal(roi("sum", "A"), s[100:301].sum(0))
assert np.array_equal(roi("el2", "A"), el[2][100:301].sum(0)), "--detector 2"
n = sum(e / l for e, l in zip(el, lt))
for name, a, b in (("All", 0, 2048), ("A", 100, 301)):
    got, want = roi("lt", name), n[a:b].sum(0)
    assert np.allclose(got, want, rtol=1e-12, atol=0), (name, abs(got - want).max())
# Without normalisation column 0 (live time 1.2 s) stands out; normalised it does not.
raw = s.sum(0)
assert raw[:, 0].mean() > 1.8 * raw[:, 1:].mean()
norm = n.sum(0)
assert abs(norm[:, 0].mean() / norm[:, 1:].mean() - 1) < 0.3
PYEOF
    check "real file: exact PCA of the live-time normalised map = numpy eigh" <<'PYEOF'
import sys, h5py, numpy as np
t, real = sys.argv[1:3]
with h5py.File(real, "r") as f:
    el = [f[f"MAPS_RAW/data_{c}"][()].astype(float) for c in "abcd"]
    lt = f["MAPS_RAW/livetime"][()].astype(float)
x = sum(e / l for e, l in zip(el, lt)).reshape(2048, -1).T            # pixels x channels
xc = x - x.mean(0)
w, v = np.linalg.eigh(xc.T @ xc / (x.shape[0] - 1))
w, v = w[::-1][:5], v[:, ::-1][:, :5]
with h5py.File(f"{t}/pca.h5", "r") as f:
    e = f[f.attrs["default"]]
    ev, sp = e["eigenvalues"][()][:5], e["eigenspectra/data"][()][:5]
assert np.allclose(ev, w, rtol=1e-10, atol=0), (ev, w)
for k in range(5):
    c = abs(np.dot(sp[k], v[:, k])) / np.linalg.norm(sp[k])
    assert abs(c - 1) < 1e-8, (k, c)
PYEOF
else
    ko "real file missing: $REAL"
fi

# ---- replicas ----
"$BIN/mva-roi" "$T/maps.h5" --roi A=10:50 --norm livetime@1 -q -o "$T/maps-roi.h5" ||
    ko "mva-roi MAPS"
"$BIN/mva-roi" "$T/maps.h5" --roi A=10:50 --norm dtc -q -o "$T/maps-dtc.h5" || ko "MAPS dtc"
"$BIN/mva-roi" "$T/maps.h5" --roi A=10:50 --norm monitor:US_IC@1 -q -o "$T/maps-us.h5" ||
    ko "MAPS scaler"
"$BIN/mva-roi" "$T/maps.h5" --roi Fe=1.0:1.5keV -q -o "$T/maps-kev.h5" || ko "MAPS keV ROI"
check "MAPS: the energy calibration XRF-Maps writes (Energy_Calibration) = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/maps.h5", "r") as f:
    m = f["MAPS/Spectra/mca_arr"][()].astype(float)
    energy = f["MAPS/Spectra/Energy"][()]
ch = np.flatnonzero((energy >= 1.0) & (energy <= 1.5))
with h5py.File(f"{t}/maps-kev.h5", "r") as f:
    e = f[f.attrs["default"]]
    assert (e["roi_definitions/ch0"][0], e["roi_definitions/ch1"][0]) == (ch[0], ch[-1])
    assert np.array_equal(e["roi/Fe/raw"][()], m[ch[0]:ch[-1] + 1].sum(0))
PYEOF
check "MAPS: channel-first by the layout, live time, dtc from ICR/OCR, scaler = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/maps.h5", "r") as f:
    m = f["MAPS/Spectra/mca_arr"][()].astype(float)
    lt = f["MAPS/Spectra/Elapsed_Livetime"][()]
    rt = f["MAPS/Spectra/Elapsed_Realtime"][()]
    icr, ocr = f["MAPS/Spectra/Input_Counts"][()], f["MAPS/Spectra/Output_Counts"][()]
    us = f["MAPS/Scalers/Values"][1]
def roi(name):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        return f[f.attrs["default"]]["roi/A/raw"][()]
a = m[10:51].sum(0)
assert roi("maps-roi").shape == (70, 80)
assert np.allclose(roi("maps-roi"), a / lt, rtol=1e-12)
assert np.allclose(roi("maps-dtc"), a * (icr / ocr) * (rt / lt), rtol=1e-12)
assert np.allclose(roi("maps-us"), a / us, rtol=1e-12)
PYEOF
"$BIN/mva-info" "$T/maps.h5" >"$T/mapsi.txt" && "$BIN/mva-info" "$T/bliss.h5::/1.1" >"$T/blissi.txt" ||
    ko "mva-info MAPS, BLISS"
grep -q "^note         not normalised; this MAPS (APS MAPS / XRF-Maps) file offers --norm livetime (/MAPS/Spectra/Elapsed_Livetime), dtc (/MAPS/Spectra/Input_Counts / /MAPS/Spectra/Output_Counts x /MAPS/Spectra/Elapsed_Realtime / /MAPS/Spectra/Elapsed_Livetime), i0 and monitor:NAME (/MAPS/Scalers/Values: SRcurrent, US_IC, DS_IC)" "$T/mapsi.txt" &&
    grep -q "^note         not normalised; this BLISS scan offers --norm livetime (/1.1/instrument/mca_det\*/live_time), i0 (/1.1/measurement/iodet), monitor:NAME (counters: iodet, sy, sz)" "$T/blissi.txt" &&
    ok "mva-info names the normalisation datasets of MAPS and BLISS (scalers whole)" ||
    ko "normalisation datasets: $(cat "$T/mapsi.txt" "$T/blissi.txt")"
"$BIN/mva-roi" "$T/pyxrf.h5" --norm monitor:time@1 --roi A=0:255 -q -o "$T/pxt.h5" &&
    $PY -c "
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f'{t}/pyxrf.h5', 'r') as f:
    assert f['xrfmap/scalers/name'].dtype.itemsize == 4           # 'time' fills its field
    d = f['xrfmap/detsum/counts'][()].astype(float).sum(2)
    tm = f['xrfmap/scalers/val'][:, :, 1]
with h5py.File(f'{t}/pxt.h5', 'r') as f:
    got = f[f.attrs['default']]['roi/A/raw'][()]
assert np.allclose(got, d / tm, rtol=1e-12, atol=0)" "$T" &&
    ok "a scaler whose name fills its fixed-length field (PyXRF 'time') is found" ||
    ko "PyXRF scaler 'time'"
"$BIN/mva-roi" "$T/pyxrf.h5" --roi A=0:255 -q -o "$T/px.h5" &&
"$BIN/mva-roi" "$T/pyxrf.h5" --detector 0,2 --roi A=0:255 -q -o "$T/px02.h5" &&
"$BIN/mva-roi" "$T/pyxrf.h5" --norm i0@1 --roi A=0:255 -q -o "$T/pxi0.h5" || ko "mva-roi PyXRF"
check "PyXRF: detsum by default, --detector 0,2, i0 from the scalers = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/pyxrf.h5", "r") as f:
    d = [f[f"xrfmap/det{k}/counts"][()].astype(float) for k in (1, 2, 3)]
    i0 = f["xrfmap/scalers/val"][:, :, 0]
def roi(name):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        return f[f.attrs["default"]]["roi/A/raw"][()]
assert np.array_equal(roi("px"), sum(d).sum(2))
assert np.array_equal(roi("px02"), (d[0] + d[2]).sum(2))
assert np.allclose(roi("pxi0"), sum(d).sum(2) / i0, rtol=1e-12)
PYEOF
"$BIN/mva-roi" "$T/xspress3.h5" --roi A=0:255 -q -o "$T/xs.h5" &&
"$BIN/mva-roi" "$T/xspress3.h5" --roi A=0:255 --norm dtc -q -o "$T/xsd.h5" &&
"$BIN/mva-roi" "$T/odin.h5" --detector sum --roi A=0:255 -q -o "$T/od.h5" &&
"$BIN/mva-roi" "$T/odin.h5" --detector 1 --roi A=0:255 -q -o "$T/od1.h5" || ko "4-D, Odin"
check "Xspress3 4-D (sum, dtc) and Odin (frames, elements, channels) = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
def roi(name):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        return f[f.attrs["default"]]["roi/A/raw"][()]
with h5py.File(f"{t}/xspress3.h5", "r") as f:
    d = f["entry/xspress3/data"][()].astype(float)
    dtc = f["entry/xspress3/dtc_factors"][()]
assert np.array_equal(roi("xs"), d.sum(axis=(2, 3)))
assert np.allclose(roi("xsd"), (d.sum(3) * dtc).sum(2), rtol=1e-12)
with h5py.File(f"{t}/odin.h5", "r") as f:
    o = f["data"][()].astype(float)
assert np.array_equal(roi("od").ravel(), o.sum(axis=(1, 2)))
assert np.array_equal(roi("od1").ravel(), o[:, 1].sum(1))
PYEOF

# ---- Odin: dead-time factors and live time from the meta writer's PREFIX_meta.h5 ----
"$BIN/mva-roi" "$T/odin.h5" --detector sum --norm dtc --roi A=0:255 --roi B=20:60 -q \
    -o "$T/odd.h5" &&
"$BIN/mva-roi" "$T/odin.h5" --detector 0,2 --norm livetime@1e6 --shape 4x5 --roi A=0:255 -q \
    -o "$T/odl.h5" &&
"$BIN/mva-roi" "$T/odin_short_000001.h5" --detector sum --norm dtc:"$T/odin_meta.h5::/dtc" \
    --roi A=0:255 -q -o "$T/odx.h5" || ko "mva-roi Odin --norm dtc / livetime"
check "Odin: dtc and live time per element from the meta file, before the sum = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
def entry(name):
    f = h5py.File(f"{t}/{name}.h5", "r")
    return f[f.attrs["default"]]
with h5py.File(f"{t}/odin.h5", "r") as f:
    o = f["data"][()].astype(float)                          # (frames, elements, channels)
with h5py.File(f"{t}/odin_meta.h5", "r") as f:
    dtc = f["dtc"][()]                                       # (frames, elements)
    live = f["scalar_0"][()].astype(float) - f["scalar_1"][()]
with h5py.File(f"{t}/odin_short_000001.h5", "r") as f:
    o2 = f["data"][()].astype(float)
corr = (o * dtc[:, :, None]).sum(1)                          # (frames, channels)
e = entry("odd")
assert np.allclose(e["roi/A/raw"][()].ravel(), corr.sum(1), rtol=1e-12, atol=0)
assert np.allclose(e["roi/B/raw"][()].ravel(), corr[:, 20:61].sum(1), rtol=1e-12, atol=0)
assert np.allclose(e["sum_spectrum/data"][()], corr.sum(0), rtol=1e-12, atol=0)
assert not np.allclose(e["sum_spectrum/data"][()], o.sum(axis=(0, 1)), rtol=1e-3)
n = e["process/normalisation"]
f, a = n["factor"][()], n["factor"].attrs
assert f.shape == (4, 1, 20) and list(n["element"][()]) == [0, 1, 2, 3], f.shape
assert np.allclose(f[:, 0, :], dtc.T, rtol=1e-12, atol=0)
assert a["kind"] == "dead-time factors" and a["source"].endswith("/odin_meta.h5::/dtc"), dict(a)
l = entry("odl")                                   # elements 0 and 2, 1e6 ticks, 4 x 5 frames
want = sum(o[:, k].sum(1) * 1e6 / live[:, k] for k in (0, 2))
assert np.allclose(l["roi/A/raw"][()], want.reshape(4, 5), rtol=1e-12, atol=0)
a = l["process/normalisation/factor"].attrs
assert a["source"].endswith("odin_meta.h5::/scalar_0 - /scalar_1 (clock ticks)"), dict(a)
assert np.allclose(l["process/normalisation/factor"][()].reshape(2, 20), 1e6 / live[:, [0, 2]].T,
                   rtol=1e-12)
x = entry("odx")                                             # a named meta file's /dtc
assert np.allclose(x["roi/A/raw"][()].ravel(), (o2 * dtc[:, :, None]).sum(axis=(1, 2)),
                   rtol=1e-12, atol=0)
PYEOF
"$BIN/mva-roi" "$T/xsp_B_000001.h5" --norm dtc --roi A=0:255 -q -o "$T/xspb.h5" &&
"$BIN/mva-roi" "$T/xsp_A_000001.h5" --detector 2 --norm livetime@1e6 --roi A=0:255 -q \
    -o "$T/xspa.h5" &&
"$BIN/mva-info" "$T/xsp_B_000001.h5" >"$T/xspb.txt" || ko "Odin mca_N files"
grep -q "^recognised   Odin/Xspress3 (mca_N per element)" "$T/xspb.txt" &&
    grep -q "^note         the map shape is not in an Odin file: its 20 frames read as one row; give the map with --shape ROWSxCOLS" "$T/xspb.txt" &&
    grep -q "^elements     sum of 4 elements: mca_4, mca_5, mca_6, mca_7" "$T/xspb.txt" &&
    grep -q "^shape        1 rows x 20 cols" "$T/xspb.txt" &&
    grep -q "meta file xsp_meta.h5: dtc (20, 8)" "$T/xspb.txt" &&
    ok "Odin mca_N: recognised, elements named, the meta file of both data files found" ||
    ko "Odin mca_N mva-info: $(cat "$T/xspb.txt")"
check "Odin mca_N: each element takes its own column of the meta file = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
def roi(name):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        return f[f.attrs["default"]]["roi/A/raw"][()].ravel()
with h5py.File(f"{t}/xsp_meta.h5", "r") as f:
    dtc = f["dtc"][()]
    live = f["scalar_0"][()].astype(float) - f["scalar_1"][()]
with h5py.File(f"{t}/xsp_B_000001.h5", "r") as f:
    b = {k: f[f"mca_{k}"][()][:, 0].astype(float) for k in range(4, 8)}
with h5py.File(f"{t}/xsp_A_000001.h5", "r") as f:
    a2 = f["mca_2"][()][:, 0].astype(float)
want = sum(b[k].sum(1) * dtc[:, k] for k in range(4, 8))
assert np.allclose(roi("xspb"), want, rtol=1e-12, atol=0)
assert not np.allclose(roi("xspb"), sum(b[k].sum(1) * dtc[:, k - 4] for k in range(4, 8)))
assert np.allclose(roi("xspa"), a2.sum(1) * 1e6 / live[:, 2], rtol=1e-12, atol=0)
PYEOF
"$BIN/mva-info" "$T/odin.h5" --detector sum >"$T/odi.txt" || ko "mva-info Odin"
grep -q "^note         not normalised; this Odin/Xspress3 (frames, elements, channels) file offers --norm livetime, dtc (meta file odin_meta.h5: dtc (20, 4) (dead-time factors), scalar_0 (20, 4) (time, clock ticks), scalar_1 (20, 4) (reset ticks), inp_est (20, 4)" "$T/odi.txt" &&
    ok "mva-info lists the normalisation datasets of Odin's meta file" ||
    ko "mva-info Odin meta: $(cat "$T/odi.txt")"
expect_fail "Odin: meta file of other frames refused, file, dataset and shapes named" \
    "odin_short_meta.h5::/dtc has shape (18, 4); a per-pixel factor of this 1 x 20 map must be (20), (1, 20), (4, 1, 20), (1, 20, 4) or (20, 4) (pixels, elements)" \
    "$BIN/mva-roi" "$T/odin_short_000001.h5" --detector sum --norm dtc --roi 1:2 -o "$T/x.h5"
expect_fail "Odin: no meta file beside it, where it was looked for said" \
    "--norm dtc: $T/lone/xsp3.h5 (Odin/Xspress3 (frames, elements, channels) layout): no Odin meta file beside it: looked for xsp3_meta.h5; Odin's meta writer puts the dead-time factors (/dtc)" \
    "$BIN/mva-roi" "$T/lone/xsp3.h5" --detector sum --norm dtc --roi 1:2 -o "$T/x.h5"
expect_fail "Odin: --norm livetime without the meta file refused" \
    "--norm livetime: $T/lone/xsp3.h5 (Odin/Xspress3 (frames, elements, channels) layout): no Odin meta file" \
    "$BIN/mva-info" "$T/lone/xsp3.h5" --detector 1 --norm livetime

# ---- PyMca's HDF5 stacks, written by PyMca's own writer (PyMca5 ArraySave) ----
$PY - "$T" <<'PYEOF' || ko "PyMca5 ArraySave.save3DArrayAsHDF5"
import sys, numpy as np
from PyMca5.PyMcaIO import ArraySave
t = sys.argv[1]
d = np.random.default_rng(7).poisson(10, (4, 5, 300)).astype(np.uint32)
ArraySave.save3DArrayAsHDF5(d, f"{t}/pm_spectra.h5", mode="nexus", mcaindex=-1)
ArraySave.save3DArrayAsHDF5(np.ascontiguousarray(np.moveaxis(d, 2, 0)), f"{t}/pm_images.h5",
                            mode="nexus", mcaindex=0, interpretation="image")
PYEOF
for f in pm_spectra pm_images; do
    "$BIN/mva-info" "$T/$f.h5" >"$T/$f.txt" &&
    "$BIN/mva-roi" "$T/$f.h5" --roi A=10:99 -q -o "$T/${f}_roi.h5" || ko "mva on $f"
done
grep -q "^recognised   PyMca HDF5 stack" "$T/pm_spectra.txt" &&
    grep -q "^recognised   PyMca HDF5 stack" "$T/pm_images.txt" &&
    grep -q "^layout       channels,rows,cols" "$T/pm_images.txt" &&
    ok "PyMca's stacks (spectra and images) recognised and named" ||
    ko "PyMca stacks: $(cat "$T/pm_spectra.txt" "$T/pm_images.txt")"
check "PyMca's stacks read right, both orders = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/pm_spectra.h5", "r") as f:
    d = f["data/NXdata/data"][()].astype(float)
for name in ("pm_spectra_roi", "pm_images_roi"):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        e = f[f.attrs["default"]]
        assert np.array_equal(e["roi/A/raw"][()], d[:, :, 10:100].sum(2)), name
        assert e["process/input_layout"][()].decode() == "PyMca HDF5 stack", name
PYEOF

# ---- snake rows from PyXRF's and MAPS' positions ----
for f in pyxrf pyxrf_snake maps_snake maps_row0; do
    "$BIN/mva-info" "$T/$f.h5" >"$T/$f.txt" || ko "mva-info $f"
    "$BIN/mva-roi" "$T/$f.h5" --roi A=0:255 -q -o "$T/${f}_roi.h5" || ko "mva-roi $f"
done
"$BIN/mva-roi" "$T/pyxrf_snake.h5" --snake off --roi A=0:255 -q -o "$T/pyxrf_off.h5" ||
    ko "mva-roi --snake off"
grep -q "^snake        odd rows recorded right to left, put back" "$T/pyxrf_snake.txt" &&
    grep -q "^snake        odd rows recorded right to left, put back" "$T/maps_snake.txt" &&
    ! grep -q "^snake" "$T/pyxrf.txt" && ! grep -q "^snake" "$T/maps_row0.txt" &&
    ok "snake found from PyXRF's and MAPS' positions (and only there)" ||
    ko "snake from positions: $(cat "$T/pyxrf_snake.txt" "$T/maps_snake.txt")"
check "snake rows from positions put back = numpy; --snake off keeps them" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
def roi(name):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        return f[f.attrs["default"]]["roi/A/raw"][()]
def unsnake(img):
    img = img.copy()
    img[1::2] = img[1::2, ::-1]
    return img
with h5py.File(f"{t}/pyxrf_snake.h5", "r") as f:
    px = f["xrfmap/detsum/counts"][()].astype(float).sum(2)
with h5py.File(f"{t}/maps_snake.h5", "r") as f:
    mp = f["MAPS/Spectra/mca_arr"][()].astype(float).sum(0)
with h5py.File(f"{t}/maps_row0.h5", "r") as f:
    m0 = f["MAPS/Spectra/mca_arr"][()].astype(float).sum(0)
assert np.array_equal(roi("pyxrf_snake_roi"), unsnake(px))
assert np.array_equal(roi("pyxrf_off"), px)
assert np.array_equal(roi("maps_snake_roi"), unsnake(mp))
assert np.array_equal(roi("maps_row0_roi"), m0)
PYEOF

# ---- ESRF BLISS: scans, shape from the title, snake, aborted scan, off-grid positions ----
expect_fail "BLISS: several scans listed, none guessed" \
    "a BLISS file of 3 scans with MCA data: 1.1 (amesh sy 0 3 3 sz 0 2 2 0.1, 2 MCA elements); 2.1" \
    "$BIN/mva-info" "$T/bliss.h5"
if "$BIN/mva-info" "$T/bliss.h5::/1.1" >"$T/bi.txt" && grep -q "shape        3 rows x 4 cols" "$T/bi.txt" &&
    grep -q "recognised   BLISS (ESRF) scan 1.1" "$T/bi.txt" && grep -q "^snake " "$T/bi.txt"; then
    ok "BLISS: map shape from the amesh title, snake found from the positions"
else
    ko "BLISS mva-info: $(cat "$T/bi.txt")"
fi
case "$(cat "$T/bi.txt")" in
*"energy calibrations differ (mca_det0: E = 0 + 0.01 ch, mca_det1: E = 0.005 + 0.0101 ch); the sum uses mca_det0's"*)
    ok "BLISS: differing element calibrations said, the one used named" ;;
*) ko "BLISS calibrations: $(cat "$T/bi.txt")" ;; esac
if "$BIN/mva-info" "$T/bliss.h5::/1.1" --detector 1 >"$T/bi1.txt" &&
    grep -q "E(keV) = 0.005 + 0.0101" "$T/bi1.txt" && ! grep -q "differ" "$T/bi1.txt"; then
    ok "BLISS: one element keeps its own calibration"
else
    ko "BLISS --detector 1: $(cat "$T/bi1.txt")"
fi
"$BIN/mva-roi" "$T/bliss.h5::/1.1" --roi A=0:255 -q -o "$T/b1.h5" &&
"$BIN/mva-roi" "$T/bliss.h5::/1.1" --roi A=0:255 --norm livetime@1 -q -o "$T/b1lt.h5" &&
"$BIN/mva-roi" "$T/bliss.h5" --scan 2 --roi A=0:255 -q -o "$T/b2.h5" || ko "mva-roi BLISS"
for k in 1 2; do
    "$BIN/mva-info" "$T/bliss_fly.h5::/$k.1" >"$T/bf$k.txt" &&
    "$BIN/mva-roi" "$T/bliss_fly.h5::/$k.1" --roi A=0:255 -q -o "$T/bf$k.h5" || ko "BLISS fly $k"
done
check "BLISS: snake put back, live time per element, aborted scan masked, fly scans = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
def roi(name):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        e = f[f.attrs["default"]]
        return e["roi/A/raw"][()], e["mask"][()]
with h5py.File(f"{t}/bliss.h5", "r") as f:
    s = f["1.1/measurement"]
    d = [s[f"mca_det{k}"][()].astype(float) for k in (0, 1)]
    lt = [f[f"1.1/instrument/mca_det{k}/live_time"][()] for k in (0, 1)]
    d2 = sum(f[f"2.1/measurement/mca_det{k}"][()].astype(float) for k in (0, 1))
def unsnake(img):
    img = img.reshape(3, 4).copy()
    img[1] = img[1][::-1]
    return img
got, mask = roi("b1")
assert np.array_equal(got, unsnake(sum(d).sum(1))) and not mask.any()
got, _ = roi("b1lt")
assert np.allclose(got, unsnake(sum(x.sum(1) / l for x, l in zip(d, lt))), rtol=1e-12)
got, mask = roi("b2")
assert mask.ravel().tolist() == [False] * 9 + [True] * 3, mask
want = np.full(12, np.nan); want[:9] = d2.sum(1)
want = unsnake(want)
assert np.array_equal(got[~mask.astype(bool)], want[~mask.astype(bool)])
with h5py.File(f"{t}/bliss_fly.h5", "r") as f:                # shape from the motors moved
    fly = [sum(f[f"{k}.1/measurement/mca_det{e}"][()].astype(float) for e in (0, 1)).sum(1)
           for k in (1, 2)]
assert np.array_equal(roi("bf1")[0], unsnake(fly[0])) and np.array_equal(roi("bf2")[0], fly[1].reshape(3, 4))
PYEOF
"$BIN/mva-roi" "$T/bliss.h5" --scan 2 --roi A=0:255 --norm livetime -q -o "$T/b2lt.h5" ||
    ko "mva-roi BLISS aborted scan, normalised"
check "process/normalisation: per-element factors in map order (snake, aborted scan, dtc)" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
def factors(name):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        d = f[f.attrs["default"]]["process/normalisation"]
        return d["factor"][()], list(d["element"][()]), dict(d["factor"].attrs)
def unsnake(img):
    img = img.reshape(3, 4).copy()
    img[1] = img[1][::-1]
    return img
with h5py.File(f"{t}/bliss.h5", "r") as f:
    lt = [f[f"1.1/instrument/mca_det{k}/live_time"][()] for k in (0, 1)]
    lt2 = [f[f"2.1/instrument/mca_det{k}/live_time"][()] for k in (0, 1)]
got, el, a = factors("b1lt")
assert got.shape == (2, 3, 4) and el == [0, 1] and a["reference"] == 1, (got.shape, el, a)
assert a["kind"] == "live time", a
for k in (0, 1):
    assert np.allclose(got[k], unsnake(1 / lt[k]), rtol=1e-12, atol=0)
got, el, a = factors("b2lt")                                 # 9 of 12 points: 3 NaN
ref = np.concatenate(lt2).mean()
for k in (0, 1):
    want = np.full(12, np.nan)
    want[:9] = ref / lt2[k]
    want = unsnake(want)
    assert np.array_equal(np.isnan(got[k]), np.isnan(want)), got[k]
    ok = ~np.isnan(want)
    assert np.allclose(got[k][ok], want[ok], rtol=1e-12, atol=0)
with h5py.File(f"{t}/xspress3.h5", "r") as f:
    dtc = f["entry/xspress3/dtc_factors"][()]                # (rows, cols, elements)
got, el, a = factors("xsd")
assert el == list(range(dtc.shape[2])) and np.isnan(a["reference"]), (el, a)
assert np.allclose(got, dtc.transpose(2, 0, 1), rtol=1e-12, atol=0)
PYEOF
grep -q "shape        3 rows x 4 cols" "$T/bf1.txt" && grep -q "^snake " "$T/bf1.txt" &&
    grep -q "shape        3 rows x 4 cols" "$T/bf2.txt" && ! grep -q "^snake " "$T/bf2.txt" &&
    ok "BLISS: the map shape (and snake) from the motors it moved, without a mesh title" ||
    ko "BLISS shape from motors: $(cat "$T/bf1.txt" "$T/bf2.txt")"
"$BIN/mva-info" "$T/bliss_fly.h5::/4.1" >"$T/bf4.txt" &&
"$BIN/mva-roi" "$T/bliss_fly.h5::/4.1" --roi A=0:255 -q -o "$T/bf4.h5" || ko "BLISS fly 4.1"
grep -q "shape        3 rows x 4 cols" "$T/bf4.txt" && grep -q "^snake " "$T/bf4.txt" &&
    ok "BLISS: the shape of a fly scan whose encoders jitter, from its motors" ||
    ko "BLISS jittery fly scan: $(cat "$T/bf4.txt")"
check "BLISS: the jittery fly scan read in map order = numpy" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/bliss_fly.h5", "r") as f:
    s = sum(f[f"4.1/measurement/mca_det{e}"][()].astype(float) for e in (0, 1)).sum(1)
    sz = f["4.1/measurement/sz"][()]
assert np.any(sz[1:4] != sz[0]), "the replica's slow motor must jitter along a row"
want = s.reshape(3, 4).copy()
want[1] = want[1][::-1]
with h5py.File(f"{t}/bf4.h5", "r") as f:
    got = f[f.attrs["default"]]["roi/A/raw"][()]
assert np.array_equal(got, want), (got, want)
PYEOF
expect_fail "BLISS: a slow motor ramping along the scan has no rows: refused, --shape asked for" \
    "(sy as the fast motor: sz is at 0 at point 0, 0.375 from its row 0's mean, more than a quarter of its step 1 between rows; sz as the fast motor: it never turns back): give it with --shape ROWSxCOLS" \
    "$BIN/mva-info" "$T/bliss_fly.h5::/5.1"
expect_fail "BLISS: slow motor jitter beyond a quarter step: refused, --shape asked for" \
    "sz is at 0.4 at point 0, 0.4 from its row 0's mean, more than a quarter of its step 1 between rows" \
    "$BIN/mva-roi" "$T/bliss_fly.h5::/6.1" --roi 1:2 -o "$T/x.h5"
"$BIN/mva-roi" "$T/bliss_fly.h5::/6.1" --shape 3x4 --roi A=0:255 -q -o "$T/bf6.h5" &&
    ok "BLISS: --shape reads the refused fly scan" || ko "BLISS 6.1 with --shape"
expect_fail "BLISS: no mesh title and no positioners: --shape asked for" \
    "nor in the positions of two motors it moved (instrument/positioners_start and measurement): give it with --shape ROWSxCOLS" \
    "$BIN/mva-info" "$T/bliss_fly.h5::/3.1"
expect_fail "BLISS: positions off the grid said" "the positions are not on a grid: point 6 (row 1)" \
    "$BIN/mva-roi" "$T/bliss.h5::/3.1" --roi 1:2 -o "$T/x.h5"
expect_fail "--scan on a file without scans" "this file has no BLISS scans" \
    "$BIN/mva-info" "$T/cand.h5" --scan 2

# ---- the five wrong answers with exit 0 of issue 15, now refused or read right ----
expect_fail "MAPS mca_arr without its layout: two readings refused" \
    "reads two ways: 80 channels of 256 x 70 pixels (channels last) or 256 channels of 70 x 80" \
    "$BIN/mva-pca" "$T/maps_bare.h5" -k 2 -o "$T/x.h5"
expect_fail "NeXus default leading to 4-D: said, no fallback" \
    "found 4-D 4x5x4x256 (the NeXus default plot" "$BIN/mva-pca" "$T/nexus4d.h5" -k 2 -o "$T/x.h5"
expect_fail "Odin (frames, elements, channels): two readings refused" \
    "Odin/Xspress3 (20 frames of 4 detector elements, 256 channels) or a map" \
    "$BIN/mva-pca" "$T/odin.h5" -k 2 -o "$T/x.h5"
expect_fail "PyMca channel axis without units is not keV" \
    "no energy calibration (give one with --calib" \
    "$BIN/mva-roi" "$T/pymca.h5" --roi Cu=8.0:8.1keV -o "$T/x.h5"
expect_fail "--detector on a single-element input" "the input has a single detector element" \
    "$BIN/mva-roi" "$T/single.h5" --detector sum --roi 1:2 -o "$T/x.h5"
expect_fail "--detector out of range on MAPS_RAW" "the input has 4 detector elements" \
    "$BIN/mva-roi" "$REAL" --detector 5 --roi 1:2 -o "$T/x.h5"
expect_fail "--shape that does not fit" "gives 12 pixels, the dataset has 99" \
    "$BIN/mva-info" "$REAL" --shape 3x4
expect_fail "--channel-axis against a recognised layout (PyXRF, channels last)" \
    "pyxrf.h5::/xrfmap/detsum/counts: --channel-axis first contradicts the recognised layout, whose writer puts the channels last; leave the option out" \
    "$BIN/mva-roi" "$T/pyxrf.h5" --channel-axis first --roi 1:2 -o "$T/x.h5"
expect_fail "--channel-axis against the BLISS layout" \
    "bliss.h5::/1.1: --channel-axis first contradicts the BLISS layout, whose measurement/mca_det\* are (points, channels)" \
    "$BIN/mva-info" "$T/bliss.h5::/1.1" --channel-axis first
"$BIN/mva-info" "$T/maps.h5" --channel-axis first | grep -q "shape        70 rows x 80 cols" &&
    "$BIN/mva-info" "$T/maps.h5::/MAPS/Spectra/mca_arr" --channel-axis last |
    grep -q "shape        256 rows x 70 cols" &&
    ok "--channel-axis that agrees with the layout, or on a dataset named by path, accepted" ||
    ko "--channel-axis agreeing / by path"
expect_fail "--snake on a single-row map (Odin frames): refused, --shape said" \
    "odin.h5: --snake on: the map has a single row (20 pixels), no row to put back; give its shape with --shape ROWSxCOLS first" \
    "$BIN/mva-roi" "$T/odin.h5" --detector sum --snake on --roi 1:2 -o "$T/x.h5"
"$BIN/mva-roi" "$T/odin.h5" --detector sum --snake on --shape 4x5 --roi A=0:255 -q \
    -o "$T/odsn.h5" && $PY -c "
import sys, h5py, numpy as np
t = sys.argv[1]
o = h5py.File(f'{t}/odin.h5', 'r')['data'][()].astype(float).sum(axis=(1, 2)).reshape(4, 5)
o[1::2] = o[1::2, ::-1]
f = h5py.File(f'{t}/odsn.h5', 'r')
assert np.array_equal(f[f.attrs['default']]['roi/A/raw'][()], o)" "$T" &&
    ok "--snake on with --shape on Odin frames = numpy" || ko "Odin --snake on --shape"
if [ -f "$(dirname "$REAL")/33id_spec.dat" ]; then
    expect_fail "--channel-axis first on a SPEC file refused" \
        "33id_spec.dat: --channel-axis first: a SPEC file's MCA lines are one spectrum each, channels last" \
        "$BIN/mva-info" "$(dirname "$REAL")/33id_spec.dat" --channel-axis first
fi
expect_fail "--norm a scaler the layout lacks" "no such scaler" \
    "$BIN/mva-info" "$T/maps.h5" --norm monitor:nope
"$BIN/mva-roi" "$T/nexus4d.h5" --detector sum --roi A=0:255 -q -o "$T/n4.h5" &&
    $PY -c "
import sys, h5py, numpy as np
t = sys.argv[1]
d = h5py.File(f'{t}/nexus4d.h5')['entry/plot/data'][()].astype(float)
f = h5py.File(f'{t}/n4.h5'); r = f[f.attrs['default']]['roi/A/raw'][()]
assert np.array_equal(r, d.sum(axis=(2, 3)))" "$T" && ok "4-D read with --detector sum" ||
    ko "4-D with --detector sum"
expect_fail "no layout: every candidate listed, 2-D included" \
    "3 candidate datasets (2 3-D, 1 2-D (pixels, channels)); name one with" \
    "$BIN/mva-info" "$T/cand.h5"
if grep -q "/a/stack" "$T/stderr" && ! grep -q "/b/link" "$T/stderr" &&
    grep -q "/d/spectra (10x256)" "$T/stderr"; then
    ok "a dataset with two hard links listed once"
else
    ko "candidates: $(cat "$T/stderr")"
fi

echo "test_layouts: $fails failure(s)"
[ "$fails" -eq 0 ]
