#!/bin/sh
# mva-cluster: phase maps of mva-gen's four phases.  The label map must agree with the true
# dominant phase as well as scikit-learn's KMeans on the same scores does (adjusted Rand
# index), each cluster's spectra must be numpy's mean / sum / max over its pixels, the labels
# must not depend on the run or the block size, and bad input must fail with a message.
set -u
CLI_TAG=cluster
. "$(dirname "$0")/../util/cli.sh"

"$BIN/mva-gen" -q --rows 60 --cols 80 --channels 1000 --b 0.02 --seed 3 -o "$T/map.h5" || ko "mva-gen"
"$BIN/mva-pca" "$T/map.h5" -k 4 --poisson -q -o "$T/res.h5" || ko "mva-pca"
if "$BIN/mva-cluster" --help | grep -q "mva-cluster res.h5 -c auto --no-spectra"; then ok "--help has examples"; else ko "--help"; fi

"$BIN/mva-cluster" "$T/res.h5" -c 4 --csv "$T/c.csv" >"$T/out.txt" || ko "mva-cluster -c 4"
grep -q "^clusters   4, k-means++ x 10 starts" "$T/out.txt" && ok "summary: $(grep '^sizes' "$T/out.txt")" || ko "summary"
if $PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
t = sys.argv[1]
m = h5py.File(f"{t}/map.h5")
truth = m["truth/phase_maps"][()].argmax(0).ravel()      # the dominant phase
f = h5py.File(f"{t}/res.h5")
assert f.attrs["default"] == "mva_cluster"
e = f["mva_cluster"]
lab = e["labels/data"][()].ravel()
scores = f["mva_pca/eigenimages/data"][()].reshape(4, -1).T
ours = adjusted_rand_score(truth, lab)
sk = KMeans(4, n_init=10, random_state=0).fit(scores)
theirs = adjusted_rand_score(truth, sk.labels_)
inertia = e["inertia"][()]
print("ARI vs dominant phase: mva-cluster %.4f, sklearn KMeans %.4f; inertia %.6f vs %.6f"
      % (ours, theirs, inertia, sk.inertia_))
assert ours >= theirs - 1e-3, (ours, theirs)
assert inertia <= sk.inertia_ * (1 + 1e-6)
# sizes, centroids and distances agree with the labels and the scores
c = e["centroids"][()]
for k in range(4):
    sel = lab == k
    assert sel.sum() == e["cluster_sizes"][k]
    assert np.allclose(scores[sel].mean(0), c[k], rtol=0, atol=1e-10 * np.abs(c).max())
d = np.linalg.norm(scores - c[lab], axis=1)
assert np.abs(d - e["distance/data"][()].ravel()).max() < 1e-9 * d.max()
# the spectra: numpy over the pixels of each cluster, from the map itself
x = m["entry/data/data"][()].reshape(4800, -1).astype(float)
for k in range(4):
    sel = lab == k
    for name, ref in (("average", x[sel].mean(0)), ("cumulative", x[sel].sum(0)),
                      ("max", x[sel].max(0))):
        got = e[f"{name}_spectra/data"][k]
        assert np.abs(got - ref).max() <= 1e-10 * np.abs(ref).max(), (name, k)
    assert np.array_equal(e["clusters_vs_map/cluster_%d" % k][()], e["average_spectra/data"][k])
assert np.abs(e["map_average_spectrum/data"][()] - x.mean(0)).max() <= 1e-10 * x.mean(0).max()
csv = np.loadtxt(f"{t}/c.csv", delimiter=",", skiprows=1)
assert csv.shape == (1000, 2 + 3 * 4 + 1)
assert np.allclose(csv[:, 3], e["average_spectra/data"][0], rtol=1e-15)
assert np.allclose(csv[:, -1], e["map_average_spectrum/data"][()], rtol=1e-15)
PYEOF
then ok "labels as good as sklearn KMeans; spectra = numpy over each cluster (1e-10)"; else ko "labels or spectra"; fi

# -c auto picks the four phases on this map and records the silhouettes.
"$BIN/mva-cluster" "$T/res.h5" --entry mva_pca -c auto --no-spectra -q -o "$T/auto.h5" &&
    $PY -c "
import h5py, numpy as np
e = h5py.File('$T/auto.h5')['mva_cluster']
s = e['silhouette/data'][()]; c = e['silhouette/clusters'][()]
assert len(e['cluster_sizes']) == c[np.argmax(s)] == 4, (s, c)
assert b'silhouette' in e['process/clusters_rule'][()]
assert 'average_spectra' not in e" && ok "-c auto: 4 clusters, largest silhouette" || ko "-c auto"

# The same labels run to run, and from the map with small and large blocks.
"$BIN/mva-cluster" "$T/res.h5" --entry mva_pca -c 4 -q -o "$T/again.h5" || ko "again"
"$BIN/mva-cluster" "$T/map.h5" -k 4 --poisson -c 4 --memory 1 -q -o "$T/small.h5" || ko "map, --memory 1"
"$BIN/mva-cluster" "$T/map.h5" -k 4 --poisson -c 4 --memory 512 -q -o "$T/large.h5" || ko "map, --memory 512"
$PY -c "
import h5py, numpy as np
a = h5py.File('$T/res.h5')['mva_cluster/labels/data'][()]
b = h5py.File('$T/again.h5')['mva_cluster/labels/data'][()]
s = h5py.File('$T/small.h5'); l = h5py.File('$T/large.h5')
assert np.array_equal(a, b)
assert np.array_equal(s['mva_cluster/labels/data'][()], l['mva_cluster/labels/data'][()])
assert np.array_equal(s['mva_cluster/labels/data'][()], a)
assert np.array_equal(s['mva_cluster/average_spectra/data'][()], l['mva_cluster/average_spectra/data'][()])
assert 'mva_pca' in s and s.attrs['default'] == 'mva_cluster'" &&
    ok "same labels run to run and with --memory 1 / 512 (PCA fitted from the map)" || ko "labels not reproducible"

# --report, and mva-report on the entry: the label map with its legend and the spectra plot.
"$BIN/mva-cluster" "$T/res.h5" --entry mva_pca -c 4 -q -o "$T/rep.h5" --report "$T/rep" &&
    "$BIN/mva-report" "$T/rep.h5" -o "$T/rep2" -q &&
    for d in rep rep2; do
        [ -s "$T/$d/labels.png" ] && grep -q "cluster 3 (" "$T/$d/clusters.svg" &&
            grep -q "pixels per cluster" "$T/$d/index.html" &&
            grep -q 'src="labels.png"' "$T/$d/index.html" &&
            grep -q 'src="clusters.svg"' "$T/$d/index.html" || exit 1
    done && ok "--report and mva-report: labels.png, clusters.svg, index.html" || ko "report"

# Masked pixels (NaN in the map) get no label and no spectrum.
$PY -c "
import h5py, numpy as np
x = h5py.File('$T/map.h5')['entry/data/data'][()].astype('f4'); x[5, 7, 3] = np.nan
with h5py.File('$T/nan.h5', 'w') as f: f['d'] = x" || ko "nan map"
"$BIN/mva-cluster" "$T/nan.h5" -k 3 -c 3 -q -o "$T/nanres.h5" &&
    $PY -c "
import h5py
e = h5py.File('$T/nanres.h5')['mva_cluster']
assert e['labels/data'][5, 7] == -1 and (e['labels/data'][()] >= 0).sum() == 4799
assert e['cluster_sizes'][()].sum() == 4799 and e['n_valid_pixels'][()] == 4799" &&
    ok "a NaN pixel gets no label" || ko "NaN pixel"

# labels.png read back (PIL): each map pixel (a scale x scale block) has the legend colour of
# its label, unlabelled pixels the legend's "none" colour, and no two legend colours are
# equal.  The legend's layout is report/cluster.c's: a 15 x 15 swatch per cluster, then one
# for "none", every 21 rows from row 4, 6 columns right of the map.  23 clusters and a NaN
# pixel cover Tableau 10, its light variants, the colour cube beyond 20, and no label.
cat >"$T/png.py" <<'PYEOF'
import re, sys, h5py, numpy as np
from PIL import Image
res, d = sys.argv[1:3]
e = h5py.File(res)["mva_cluster"]
lab, c = e["labels/data"][()], len(e["cluster_sizes"])
rows, cols = lab.shape
img = np.asarray(Image.open(d + "/labels.png").convert("RGB")).astype(int)
scale = int(re.search(r"shown x(\d+)", open(d + "/index.html").read()).group(1))
x0 = cols * scale + 6
legend = np.array([img[4 + k * 21 + 7, x0 + 7] for k in range(c + 1)])
assert len({tuple(v) for v in legend}) == c + 1, legend
assert (legend != 255).any(1).all(), "a white swatch: the legend is not where expected"
blocks = img[:rows * scale, :cols * scale].reshape(rows, scale, cols, scale, 3)
assert (blocks == blocks[:, :1, :, :1]).all(), "a map pixel is not one colour"
want = legend[np.where(lab < 0, c, lab)]
bad = (blocks[:, 0, :, 0] != want).any(-1)
assert not bad.any(), "%d pixels not in their label's colour, first at %s" % (
    bad.sum(), np.argwhere(bad)[0])
print("%d clusters, %d unlabelled pixels, scale %d: every pixel in its legend colour"
      % (c, (lab < 0).sum(), scale))
PYEOF
"$BIN/mva-cluster" "$T/nan.h5" -k 3 -c 23 --no-spectra -q -o "$T/c23.h5" --report "$T/c23" ||
    ko "mva-cluster -c 23 --report"
for r in "rep.h5 rep" "rep.h5 rep2" "nanres.h5 nanrep" "c23.h5 c23"; do
    set -- $r
    [ -d "$T/$2" ] || "$BIN/mva-report" "$T/$1" -o "$T/$2" -q || ko "mva-report $1"
    if $PY "$T/png.py" "$T/$1" "$T/$2" >"$T/png.txt" 2>&1; then
        ok "$2/labels.png: $(tail -1 "$T/png.txt")"
    else
        ko "$2/labels.png: $(tail -3 "$T/png.txt")"
    fi
done

# The examples of --help and of the README's mva-cluster section run as written (on this
# test's map, as map.h5 and samples/out/map.h5).
mkdir -p "$T/ex/samples/out" && cp "$T/map.h5" "$T/ex/map.h5" && cp "$T/map.h5" "$T/ex/samples/out/"
ABSBIN=$(cd "$BIN" && pwd)
"$BIN/mva-cluster" --help | sed -n '/^Examples:/,$p' | sed -n 's/^  \(mva-[a-z]*\)/\1/p' |
    sed "s|^mva-|$ABSBIN/mva-|" >"$T/ex/help.sh"
awk '/^### mva-cluster/ {s = 1} s && /^```sh/ {b = 1; next} b && /^```/ {exit} b' README.md |
    sed "s|build/bin/|$ABSBIN/|" >"$T/ex/readme.sh"
for f in help readme; do
    n=$(grep -c "mva-cluster" "$T/ex/$f.sh")
    if [ "$n" -lt 4 ]; then
        ko "$f examples: only $n mva-cluster lines found"
    elif (cd "$T/ex" && sh -e "$f.sh" >"$f.out" 2>&1); then
        ok "the $n mva-cluster examples of $f run"
    else
        ko "$f examples: $(tail -3 "$T/ex/$f.out")"
    fi
done
[ -s "$T/ex/clusters.csv" ] && [ -s "$T/ex/phases/labels.png" ] && [ -s "$T/ex/phases.h5" ] ||
    ko "the examples' outputs are missing"

# A map opened with reader options (--norm): the PCA entry mva-cluster writes records them, so
# a second run on that entry reopens the normalised map, and its spectra are the first run's.
$PY -c "
import h5py, numpy as np
x = h5py.File('$T/map.h5')['entry/data/data'][()]
with h5py.File('$T/norm.h5', 'w') as f:
    f['d'] = x
    f['i0'] = np.random.default_rng(1).uniform(0.5, 2.0, x.shape[:2])" || ko "norm.h5"
"$BIN/mva-cluster" "$T/norm.h5::/d" --norm monitor:/i0 -k 3 -c 3 -q -o "$T/n1.h5" &&
    "$BIN/mva-cluster" "$T/n1.h5" --entry mva_pca -c 3 -q -o "$T/n2.h5" &&
    $PY -c "
import h5py, numpy as np
a = h5py.File('$T/n1.h5')['mva_cluster']; b = h5py.File('$T/n2.h5')['mva_cluster']
x = h5py.File('$T/norm.h5'); i0 = x['i0'][()]
y = x['d'][()] / (i0 / i0.mean())[:, :, None]
lab = a['labels/data'][()]
assert np.array_equal(lab, b['labels/data'][()])
for k in range(3):
    ref = y[lab == k].mean(0)
    assert np.abs(a['average_spectra/data'][k] - ref).max() <= 1e-10 * ref.max()
    assert np.abs(b['average_spectra/data'][k] - ref).max() <= 1e-10 * ref.max()" &&
    ok "--norm recorded: a second run on the entry reads the normalised map" ||
    ko "--norm: the second run's spectra differ"
# The clustering entry records them too (with --no-spectra: as the scores' entry records
# them): mva-select on a file whose default entry is a clustering reads the normalised map.
cat >"$T/selnorm.py" <<'PYEOF'
import sys, h5py, numpy as np
x = h5py.File(sys.argv[1]); i0 = x["i0"][()]
ref = (x["d"][()] / (i0 / i0.mean())[:, :, None]).reshape(-1, x["d"].shape[2]).mean(0)
got = h5py.File(sys.argv[2])["mva_select/map_average_spectrum/data"][()]
assert np.abs(got - ref).max() <= 1e-10 * ref.max(), np.abs(got - ref).max() / ref.max()
PYEOF
for nos in "" --no-spectra; do
    "$BIN/mva-cluster" "$T/n1.h5" --entry mva_pca -c 2 $nos -q &&
        "$BIN/mva-select" "$T/n1.h5" --top 0.1 -q -o "$T/sel$nos.h5" &&
        $PY "$T/selnorm.py" "$T/norm.h5" "$T/sel$nos.h5" >"$T/selnorm.txt" 2>&1 &&
        ok "mva-select after mva-cluster $nos: the normalised map, as recorded" ||
        ko "mva-select after mva-cluster $nos: $(tail -2 "$T/selnorm.txt")"
done

# Provenance: on a recognised layout (PyXRF's replica, channels last, a precomputed sum of
# three elements), a clustering records the map as mva-pca does (dataset, layout, axes,
# elements), whether it fitted the PCA itself or reopened the map of a PCA entry; without
# the map (--no-spectra) it names the map the scores' entry records.  The summary says it.
$PY tests/interop/make_layouts.py "$T/lay" >/dev/null || ko "make_layouts.py"
"$BIN/mva-pca" "$T/lay/pyxrf.h5" -k 3 -q -o "$T/px.h5" 2>/dev/null || ko "mva-pca pyxrf"
"$BIN/mva-cluster" "$T/lay/pyxrf.h5" -c 2 -o "$T/px.h5" >"$T/px_out.txt" 2>/dev/null &&
    "$BIN/mva-cluster" "$T/px.h5" --entry mva_pca -c 2 >"$T/px_out2.txt" 2>/dev/null &&
    "$BIN/mva-cluster" "$T/px.h5" --entry mva_pca -c 2 --no-spectra -o "$T/px_ns.h5" \
        >"$T/px_out3.txt" 2>/dev/null || ko "mva-cluster on pyxrf.h5"
if out=$($PY tests/util/same_input.py "$T/px.h5" mva_pca mva_pca_1 mva_cluster mva_cluster_1 \
         2>&1); then ok "cluster entries record the map as mva-pca: $out"
else ko "cluster provenance: $out"; fi
for o in px_out px_out2; do
    grep -qx "input      $T/lay/pyxrf.h5::/xrfmap/detsum/counts" "$T/$o.txt" &&
        grep -qx "layout     PyXRF (NSLS-II)" "$T/$o.txt" &&
        grep -q "^elements   sum of 3 elements: det1, det2, det3" "$T/$o.txt" &&
        grep -qx "shape      4 x 5 pixels x 256 channels (uint32, rows,cols,channels)" \
            "$T/$o.txt" && ok "summary ($o) names the map, layout, elements and axes" ||
        ko "summary ($o): $(cat "$T/$o.txt")"
done
# --no-spectra reads no map: the entry copies the scores' entry's record of it, and names
# that entry (source); px_ns.h5 is a new file, so the fields come from px.h5 only.
if out=$($PY - "$T" <<'PYEOF' 2>&1
import sys, h5py, numpy as np
t = sys.argv[1]
f = h5py.File(f"{t}/px_ns.h5", "r")
assert list(f) == ["mva_cluster"], list(f)
p = f["mva_cluster/process"]
assert p["source"][()].decode() == f"{t}/px.h5::/mva_pca", p["source"][()]
ref = h5py.File(f"{t}/px.h5", "r")["mva_pca/process"]
want = sorted(k for k in ref if k.startswith("input_"))
assert sorted(k for k in p if k.startswith("input_")) == want, (list(p), want)
for k in want:
    assert np.array_equal(p[k][()], ref[k][()]), k
print(p["input_layout"][()].decode())
PYEOF
); then ok "--no-spectra: the scores' entry's record of the map, copied ($out)"
else ko "--no-spectra provenance: $out"; fi
grep -qx "input      $T/lay/pyxrf.h5 (recorded by the scores' entry; not read: --no-spectra)" \
    "$T/px_out3.txt" && ok "--no-spectra summary names the recorded map" ||
    ko "--no-spectra summary: $(cat "$T/px_out3.txt")"

# Errors, by message.
expect_fail "-c 0" "-c" "$BIN/mva-cluster" "$T/res.h5" -c 0
expect_fail "-c text" "-c 'x'" "$BIN/mva-cluster" "$T/res.h5" -c x
expect_fail "-k beyond the entry" "-k 9: $T/res.h5::/mva_pca holds 4 components" \
    "$BIN/mva-cluster" "$T/res.h5" --entry mva_pca -k 9
expect_fail "--scaled without Poisson" "is not a Poisson-scaled PCA" \
    "$BIN/mva-cluster" "$T/nanres.h5" --entry mva_pca --scaled -o "$T/x.h5"
expect_fail "more clusters than pixels" "asked for" \
    "$BIN/mva-cluster" "$T/map.h5" -k 2 -c 99999 -o "$T/y.h5"
expect_fail "missing entry" "nosuch" "$BIN/mva-cluster" "$T/res.h5" --entry nosuch
echo "not a map" >"$T/junk.txt"
expect_fail "neither results nor map" "neither results with a PCA or NMF entry" \
    "$BIN/mva-cluster" "$T/junk.txt"
expect_fail "--csv with --no-spectra" "--no-spectra: no spectra" \
    "$BIN/mva-cluster" "$T/res.h5" --no-spectra --csv "$T/z.csv"
[ ! -e "$T/x.h5" ] && [ ! -e "$T/z.csv" ] && ok "no output left by a failed run" || ko "output left behind"

echo "test_cluster: $fails failure(s)"
[ "$fails" -eq 0 ]
