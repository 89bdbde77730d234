#!/bin/sh
# -k auto (Marchenko-Pastur edge on the Poisson-scaled covariance), -k 0.99 and -k elbow.
# The truth: mva-gen writes the expected counts' ingredients in /truth; the detectable rank is
# the number of eigenvalues of the scaled, centred EXPECTED matrix (no noise) above the noise
# edge.  At 1e5 counts/pixel that is the algebraic rank (4 phases; 5 with the trace element);
# at 200 counts/pixel the weak components sink below the noise and cannot be seen by anyone.
set -u
BUILD=${BUILD:-build}
BIN=${MVA_BIN:-$BUILD/bin}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-kauto-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }

truth_rank() { # detectable rank of the map's expected counts (numpy, from /truth)
    $PY - "$1" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    t = f["truth"]
    a = t["phase_maps"][()].reshape(t["phase_maps"].shape[0], -1).T
    s = t["phase_spectra"][()]
    x = a @ s + t["trace_map"][()].reshape(-1, 1) * t["trace_spectrum"][()][None, :]
n, p = x.shape
r, c = x.sum(1), x.sum(0)
d = x / np.sqrt(r)[:, None] / np.sqrt(np.where(c > 0, c, np.inf))[None, :]
d -= d.mean(0)
ev = np.linalg.eigvalsh(d.T @ d / (n - 1))[::-1]
edge = 1.05 * (np.sqrt(n) + np.sqrt(p)) ** 2 / (x.sum() * (n - 1))
print(int((ev > edge).sum()))
PYEOF
}

for counts in 200 100000; do
    for trace in none as; do
        m="$T/map-$counts-$trace.h5"
        "$BIN/mva-gen" -q --rows 40 --cols 50 --channels 512 --b 0.04 --counts "$counts" \
            --trace "$trace" --seed 3 -o "$m" || ko "mva-gen"
        want=$(truth_rank "$m")
        got=$("$BIN/mva-pca" "$m" -k auto -q -o "$T/out.h5" 2>/dev/null &&
            $PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); print(f[f.attrs['default']]['eigenimages/data'].shape[0])" "$T/out.h5")
        rm -f "$T/out.h5"
        if [ -n "$want" ] && [ "$got" = "$want" ]; then
            ok "-k auto at $counts counts/pixel, trace $trace: k = $got, the detectable true rank"
        else
            ko "-k auto at $counts counts/pixel, trace $trace: got '$got', truth '$want'"
        fi
    done
done

# Pure Poisson noise around one mean spectrum (the same expected spectrum in every pixel):
# after scaling and centring nothing is left, so the largest eigenvalue must stay under the
# edge; the margin it leaves justifies the 1.05.  (With a varying total intensity the scaled,
# centred mean keeps a rank-1 part, sqrt(intensity) x sqrt(spectrum): real structure.)
$PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(5)
for seed, (rows, cols, p, counts) in enumerate([(40, 50, 512, 300), (30, 60, 256, 5000)]):
    spec = np.exp(-np.linspace(0, 4, p)) + 0.2
    inten = np.ones(rows * cols)
    lam = np.outer(inten, spec / spec.sum()) * counts
    x = rng.poisson(lam).reshape(rows, cols, p).astype(np.uint32)
    with h5py.File(f"{t}/noise{seed}.h5", "w") as f:
        f["data"] = x
PYEOF
for f in "$T"/noise0.h5 "$T"/noise1.h5; do
    line=$("$BIN/mva-pca" "$f" -k auto -q -o "$T/n.h5" -v 2>/dev/null; $PY -c "
import h5py, sys
f = h5py.File(sys.argv[1]); e = f[f.attrs['default']]
edge = float(e['process/parameters/components_reason'][()].decode().split('edge ')[1].split(' ')[0])
print('%.4f' % (e['eigenvalues'][0] / (edge / 1.05)))" "$T/n.h5")
    rm -f "$T/n.h5"
    # ratio = largest noise eigenvalue / the bare Marchenko-Pastur edge
    if [ -n "$line" ] && $PY -c "import sys; r=float(sys.argv[1]); sys.exit(0 if r < 1.05 else 1)" "$line"; then
        ok "pure noise $(basename "$f"): largest eigenvalue = $line x the bare edge (< 1.05)"
    else
        ko "pure noise $(basename "$f"): ratio '$line' not under 1.05"
    fi
done

m="$T/map-100000-none.h5"
if "$BIN/mva-pca" "$m" -k 0.99 -q -o "$T/v.h5" && $PY - "$T/v.h5" <<'PYEOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1]); e = f[f.attrs["default"]]
k = e["eigenimages/data"].shape[0]
r = e["explained_variance_ratio"][()]
assert r[:k].sum() >= 0.99 and r[:k - 1].sum() < 0.99, (k, r[:k].sum())
PYEOF
then ok "-k 0.99 keeps the fewest components explaining 99%"; else ko "-k 0.99"; fi
if "$BIN/mva-pca" "$m" -k elbow --poisson 2>&1 -o "$T/e.h5" | grep -q "scree bends"; then
    ok "-k elbow says where the scree bends"; else ko "-k elbow"; fi
if "$BIN/mva-pca" "$m" -k 1.5 -o "$T/x.h5" 2>"$T/err"; then ko "-k 1.5 accepted"
elif grep -q "between 0 and 1" "$T/err"; then ok "-k 1.5 rejected"; else ko "-k 1.5: $(cat "$T/err")"; fi

echo "test_kauto: $fails failure(s)"
[ "$fails" -eq 0 ]
