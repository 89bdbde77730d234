#!/bin/sh
# mva-select: the analyst's path to a trace element that the sum spectrum hides.  mva-gen
# puts As in a small cluster, its Ka line under Pb La; Poisson-scaled PCA shows it in an
# eigenimage; selecting that image's bright pixels must give back the cluster, and their
# cumulative spectrum against the map's average must peak at As Ka (10.54 keV).
set -u
BUILD=${BUILD:-build}
BIN="$BUILD/bin"
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-select-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }

"$BIN/mva-gen" -q --rows 60 --cols 80 --channels 1024 --b 0.02 --counts 8000 --seed 4 -o "$T/map.h5" || ko "mva-gen"
"$BIN/mva-pca" "$T/map.h5" -k 5 --poisson -q -o "$T/res.h5" || ko "mva-pca"
if "$BIN/mva-select" --help | grep -q Example; then ok "mva-select --help has an example"; else ko "--help"; fi
# Which eigenimage holds the cluster is the user's reading of the pictures; here the test
# finds it the way a user would: the component whose image is most extreme on few pixels.
comp=$($PY - "$T/res.h5" <<'PYEOF'
import sys, h5py, numpy as np
im = h5py.File(sys.argv[1])["mva_pca/eigenimages/data"][()]
k = im.shape[0]
z = [(np.abs(im[q] - np.median(im[q])) / im[q].std()).max() for q in range(k)]
print(int(np.argmax(z)))
PYEOF
)
"$BIN/mva-select" "$T/res.h5" --image "eigenimages/data[$comp]" --above 3sigma \
    --or --below -3sigma --csv "$T/sel.csv" >"$T/out.txt" || ko "mva-select"
grep -q "^pixels" "$T/out.txt" && ok "mva-select summary: $(grep '^pixels' "$T/out.txt")" || ko "summary"
if $PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
truth = h5py.File(f"{t}/map.h5")["truth/trace_mask"][()].astype(bool)
f = h5py.File(f"{t}/res.h5")
assert f.attrs["default"] == "mva_select"
e = f["mva_select"]
m = e["mask/data"][()].astype(bool)
hit = (m & truth).sum()
assert hit >= 0.9 * truth.sum() and m.sum() <= 1.5 * truth.sum(), (m.sum(), truth.sum(), hit)
s = e["selected_vs_map"]
a, b, en = s["data"][()], s["map_average"][()], s["energy"][()]
ratio = (a + 1) / (b + 1)
band = (en > 2) & (en < 16)
peak = en[band][np.argmax(ratio[band])]
assert abs(peak - 10.54) < 0.1, peak
csv = np.loadtxt(f"{t}/sel.csv", delimiter=",", skiprows=1)
assert np.allclose(csv[:, 2], e["cumulative_spectrum/data"][()])
assert np.allclose(csv[:, 5], b)
print("selected %d, %d of the %d trace pixels, enriched at %.2f keV" % (m.sum(), hit, truth.sum(), peak))
PYEOF
then ok "the selection finds the As cluster and its spectrum peaks at As Ka"; else ko "trace element not found"; fi
# A second selection from the same file (issue 14): the first one became the file's default
# entry, which holds no eigenimages; the reader must still find the PCA entry that does.
other=$(( (comp + 1) % 5 ))
if "$BIN/mva-select" "$T/res.h5" --image "eigenimages/data[$other]" --above 3sigma -q 2>"$T/err" &&
    $PY - "$T/res.h5" "$other" <<'PYEOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1])
assert f.attrs["default"] == "mva_select_1", f.attrs["default"]
im = f["mva_pca/eigenimages/data"][int(sys.argv[2])]
want = im >= np.median(im) + 3 * im.std()
assert np.array_equal(f["mva_select_1/mask/data"][()].astype(bool), want)
assert "mva_select" in f  # the first selection is kept
PYEOF
then ok "a second selection finds the PCA entry behind the first selection"
else ko "second selection: $(cat "$T/err")"; fi
# A mask file combined with an image test; errors.
$PY -c "
import numpy as np; m = np.zeros((60, 80), int); m[:30] = 1; np.savetxt('$T/top.txt', m, fmt='%d')"
"$BIN/mva-select" "$T/res.h5" --entry mva_pca --image "eigenimages/data[0]" --top 50% --not --mask "$T/top.txt" -q -o "$T/sel2.h5" &&
    $PY -c "
import h5py; m = h5py.File('$T/sel2.h5')['mva_select/mask/data'][()]; assert m[:30].sum() == 0 and m[30:].sum() > 0" &&
    ok "--top 50% --not --mask" || ko "--not --mask"
if "$BIN/mva-select" "$T/res.h5" --entry mva_pca --image "eigenimages/data[9]" --top 1% -o "$T/x.h5" 2>"$T/err"; then ko "bad image index accepted"
elif grep -q "holds 5 images" "$T/err" && [ ! -e "$T/x.h5" ]; then ok "bad image index: $(cat "$T/err")"; else ko "bad index: $(cat "$T/err")"; fi
if "$BIN/mva-select" "$T/res.h5" --entry mva_pca -o "$T/x.h5" 2>"$T/err"; then ko "no test accepted"
elif grep -q "no test given" "$T/err"; then ok "no test: clear error"; else ko "no test: $(cat "$T/err")"; fi
# Provenance: a selection on a recognised layout (PyXRF's replica) records the map as the
# mva-pca entry it selected from does (dataset, layout, axes, elements), and says so.
$PY tests/interop/make_layouts.py "$T/lay" >/dev/null || ko "make_layouts.py"
"$BIN/mva-pca" "$T/lay/pyxrf.h5" -k 3 -q -o "$T/px.h5" 2>/dev/null || ko "mva-pca pyxrf"
"$BIN/mva-select" "$T/px.h5" --top 20% >"$T/px_out.txt" 2>/dev/null || ko "mva-select pyxrf"
if out=$($PY tests/util/same_input.py "$T/px.h5" mva_pca mva_select 2>&1)
then ok "the selection records the map as mva-pca: $out"; else ko "select provenance: $out"; fi
$PY -c "
import h5py; c = h5py.File('$T/px.h5')['mva_select/process/command_line'][()].decode()
assert 'mva-select' in c and '--top 20%' in c and 'px.h5' in c, c" &&
    ok "the selection records its command line" || ko "select: no command_line"
# The images' entries: recorded as source and printed, each entry once.
"$BIN/mva-roi" "$T/lay/pyxrf.h5" --roi a=10:40 -q -o "$T/px.h5" 2>/dev/null || ko "mva-roi pyxrf"
"$BIN/mva-select" "$T/px.h5" --image "eigenimages/data[1]" --top 20% --or --image \
    "roi_raw/data[0]" --top 10% --and --image "eigenimages/data[0]" --top 50% -o "$T/s3.h5" \
    >"$T/s3.txt" 2>/dev/null || ko "mva-select on two entries"
$PY -c "
import h5py; s = h5py.File('$T/s3.h5')['mva_select/process/source'][()].decode()
assert s == '$T/px.h5::/mva_pca, $T/px.h5::/mva_roi', s" &&
    grep -qx "images     $T/px.h5::/mva_pca, $T/px.h5::/mva_roi" "$T/s3.txt" &&
    ok "the images' entries recorded (source) and printed" || ko "source: $(cat "$T/s3.txt")"
grep -qx "input      $T/lay/pyxrf.h5::/xrfmap/detsum/counts" "$T/px_out.txt" &&
    grep -qx "layout     PyXRF (NSLS-II)" "$T/px_out.txt" &&
    grep -q "^elements   sum of 3 elements: det1, det2, det3" "$T/px_out.txt" &&
    grep -qx "shape      4 x 5 pixels x 256 channels (uint32, rows,cols,channels)" \
        "$T/px_out.txt" && ok "summary names the map, layout, elements and axes" ||
    ko "summary: $(cat "$T/px_out.txt")"
echo "test_select: $fails failure(s)"
[ "$fails" -eq 0 ]
