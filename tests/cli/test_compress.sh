#!/bin/sh
# mva-compress and mva-expand end to end: the rebuilt stack equals the model's rank-k
# reconstruction computed with numpy from the model file; statistics recorded; errors.
set -u
BUILD=${BUILD:-build}
BIN=${MVA_BIN:-$BUILD/bin}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-compress-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }

"$BIN/mva-gen" -q --rows 10 --cols 12 --channels 128 --b 0.1 --counts 20000 -o "$T/map.h5" || ko "mva-gen"
for t in mva-compress mva-expand; do
    if "$BIN/$t" --help | grep -q "Example"; then ok "$t --help has an example"; else ko "$t --help"; fi
done
if "$BIN/mva-compress" "$T/map.h5" -k 4 -o "$T/model.h5" >"$T/out.txt"; then
    grep -q "^compression" "$T/out.txt" && ok "mva-compress prints the compression ratio" ||
        ko "mva-compress summary: $(cat "$T/out.txt")"
else
    ko "mva-compress"
fi
for opts in "" "--region 2:7,3:11" "--dtype uint32 --round"; do
    rm -f "$T/stack.h5"
    # shellcheck disable=SC2086
    "$BIN/mva-expand" "$T/model.h5" -o "$T/stack.h5" -q $opts || ko "mva-expand $opts"
    if $PY - "$T" "$opts" <<'PYEOF'
import sys, h5py, numpy as np
t, opts = sys.argv[1], sys.argv[2]
with h5py.File(f"{t}/model.h5", "r") as f:
    e = f[f.attrs["default"]]
    mean = e["mean_spectrum/data"][()]
    comp = e["eigenspectra/data"][()]
    scores = e["eigenimages/data"][()]
    rec = e["reconstruction"]
    assert rec["chi2/data"].shape == scores.shape[1:]
    assert 0 < rec["relative_frobenius_error"][()] < 1 and rec["compression_ratio_values"][()] > 1
k, rows, cols = scores.shape
ref = mean[None, None, :] + np.einsum("qrc,qp->rcp", scores, comp)
with h5py.File(f"{t}/stack.h5", "r") as f:
    assert f.attrs["default"] == "expanded"
    d = f["expanded/data/data"]
    x = d[()]
    assert f["expanded/data"].attrs["signal"] == "data"
    assert f["expanded/data/energy"].shape == (ref.shape[2],)
if "--region" in opts:
    ref = ref[2:7, 3:11]
if "--round" in opts:
    ref = np.clip(np.rint(ref), 0, None)
    assert x.dtype == np.uint32
assert x.shape == ref.shape, (x.shape, ref.shape)
assert np.allclose(x, ref, rtol=1e-10, atol=1e-9 * np.abs(ref).max()), np.abs(x - ref).max()
PYEOF
    then ok "mva-expand $opts equals the numpy rank-4 reconstruction"; else ko "mva-expand $opts"; fi
done
# A second model goes into the same file as a new entry.
"$BIN/mva-compress" "$T/map.h5" -k 2 -q -o "$T/model.h5" &&
    $PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert {'mva_pca','mva_pca_1'} <= set(f); assert 'reconstruction' in f['mva_pca']" "$T/model.h5" &&
    ok "second model added as a new entry" || ko "second model"
if "$BIN/mva-expand" "$T/model.h5" -o "$T/x.h5" --region 0:99,0:2 2>"$T/err"; then ko "bad region accepted"
elif grep -q "outside" "$T/err" && [ ! -e "$T/x.h5" ]; then ok "bad region rejected, nothing written"; else ko "bad region: $(cat "$T/err")"; fi
if "$BIN/mva-expand" "$T/map.h5" -o "$T/x.h5" 2>"$T/err"; then ko "expanding a non-model accepted"
elif grep -q "map.h5" "$T/err" && [ ! -e "$T/x.h5" ]; then ok "expanding a non-model: $(head -c 120 "$T/err")"; else ko "non-model: $(cat "$T/err")"; fi
echo "test_compress: $fails failure(s)"
[ "$fails" -eq 0 ]
