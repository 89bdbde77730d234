#!/bin/sh
# mva-pca --rotate / --ica: varimax against a numpy implementation and scikit-learn's on the
# same eigenspectra (1e-10), FastICA against scikit-learn's FastICA on the same whitened
# scores, and FastICA recovering known independent sources from a map (|corr| >= 0.99).
set -u
CLI_TAG=rotate
. "$(dirname "$0")/../util/cli.sh"

"$BIN/mva-gen" -q --rows 60 --cols 80 --channels 1000 --b 0.02 --seed 5 -o "$T/map.h5" || ko "mva-gen"
"$BIN/mva-pca" "$T/map.h5" -k 4 --poisson --rotate varimax --ica -o "$T/res.h5" >"$T/out.txt" || ko "mva-pca --rotate --ica"
grep -q "^rotation   varimax (gamma 1): [0-9]* iterations, converged" "$T/out.txt" &&
    grep -q "^ica        FastICA (log cosh), seed 20261206: [0-9]* iterations, converged" "$T/out.txt" &&
    ok "summary: convergence of both reported" || ko "summary: $(tail -2 "$T/out.txt")"
if "$BIN/mva-pca" --help | grep -q -- "--rotate M"; then ok "--help lists --rotate"; else ko "--help"; fi

if $PY - "$T/res.h5" <<'PYEOF'
import sys, warnings, h5py, numpy as np
from sklearn.decomposition import FastICA
from sklearn.decomposition._factor_analysis import _ortho_rotation
e = h5py.File(sys.argv[1])["mva_pca"]
C = e["eigenspectra/data"][()]
k, p = C.shape
T = e["eigenimages/data"][()].reshape(k, -1)

def varimax(C, gamma=1.0):
    """Kaiser's varimax by the SVD iteration from R = I, until R stops moving."""
    L0, R = C.T, np.eye(len(C))
    for it in range(1, 1001):
        L = L0 @ R
        u, s, vt = np.linalg.svd(L0.T @ (L**3 - gamma / L0.shape[0] * L * (L**2).sum(0)))
        Rn = u @ vt
        done = np.abs(Rn - R).max() <= 1e-12
        R = Rn
        if done:
            break
    S = R.T @ C
    sign = np.sign(S[np.arange(len(C)), np.abs(S).argmax(1)])
    return R * sign, it

R, it = varimax(C)
got = e["rotated_eigenspectra/data"][()]
assert e["rotation/iterations"][()] == it and e["rotation/converged"][()] == 1
d_np = np.abs(R - e["rotation/matrix"][()]).max()
sk = _ortho_rotation(C.T, method="varimax", tol=-1, max_iter=it + 100)  # never stops early
sk *= np.sign(sk[np.arange(k), np.abs(sk).argmax(1)])[:, None]
d_sk = np.abs(sk - got).max() / np.abs(got).max()
img = e["rotated_eigenimages/data"][()].reshape(k, -1)
d_img = np.abs(R.T @ T - img).max() / np.abs(img).max()
print("varimax: rotation vs numpy %.1e, spectra vs sklearn %.1e, images %.1e" % (d_np, d_sk, d_img))
assert d_np < 1e-10 and d_sk < 1e-10 and d_img < 1e-10

# FastICA: the whitening holds, and sklearn from the same start on the same whitened data
# reaches the same unmixing (rows up to sign and order).
g = e["ica"]
K, mu, W0, W = g["whitening"][()], g["mean"][()], g["w_init"][()], g["w"][()]
Z = K @ (T - mu[:, None])
assert np.abs(Z @ Z.T / Z.shape[1] - np.eye(k)).max() < 1e-10
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ica = FastICA(k, whiten=False, fun="logcosh", w_init=W0, tol=1e-15, max_iter=10000).fit(Z.T)
Ws = ica.components_
match = W @ Ws.T
order = np.abs(match).argmax(1)
assert sorted(order) == list(range(k))
d_w = np.abs(W - np.sign(match[np.arange(k), order])[:, None] * Ws[order]).max()
assert np.allclose(g["unmixing"][()], W @ K, rtol=0, atol=1e-12)
assert np.allclose(g["unmixing"][()] @ g["mixing"][()], np.eye(k), atol=1e-10)
Y = e["independent_images/data"][()].reshape(k, -1)
assert np.allclose(Y, g["unmixing"][()] @ (T - mu[:, None]), rtol=0, atol=1e-9 * np.abs(Y).max())
print("FastICA: unmixing vs sklearn FastICA (same whitened data and start) %.1e; "
      "%d iterations (sklearn %d)" % (d_w, g["iterations"][()], ica.n_iter_))
assert d_w < 1e-8
PYEOF
then ok "varimax = numpy and sklearn (1e-10); FastICA = sklearn FastICA"; else ko "rotation or ICA disagree"; fi

# Known independent sources: three non-Gaussian maps (uniform noise, stripes, a square wave)
# mixing three spectra; --ica must give each back.
$PY - "$T/src.h5" <<'PYEOF'
import sys, h5py, numpy as np
rng = np.random.default_rng(1)
r, c, p = 50, 60, 300
y, x = np.mgrid[0:r, 0:c]
src = np.stack([rng.uniform(-1, 1, (r, c)), np.sin(x / 3.0), np.sign(np.sin(y / 2.3 + 0.2))])
ch = np.arange(p)
spec = np.stack([np.exp(-0.5 * ((ch - m) / 8.0) ** 2) for m in (60, 140, 220)])
spec += 0.3 * np.stack([np.exp(-0.5 * ((ch - m) / 8.0) ** 2) for m in (140, 220, 60)])
data = 100 + np.einsum("krc,kp->rcp", 10 + 3 * src, 50 * spec) + rng.normal(0, 0.5, (r, c, p))
with h5py.File(sys.argv[1], "w") as f:
    f["data"] = data
    f["sources"] = src
PYEOF
"$BIN/mva-pca" "$T/src.h5::/data" -k 3 --method exact --ica -q -o "$T/srcres.h5" || ko "mva-pca --ica on sources"
$PY - "$T" <<'PYEOF' && ok "FastICA recovers the known sources" || ko "sources not recovered"
import sys, h5py, numpy as np
t = sys.argv[1]
src = h5py.File(f"{t}/src.h5")["sources"][()].reshape(3, -1)
got = h5py.File(f"{t}/srcres.h5")["mva_pca/independent_images/data"][()].reshape(3, -1)
corr = np.abs(np.corrcoef(np.vstack([src, got]))[:3, 3:])
print("  |corr| of each source with its best independent image:", np.round(corr.max(1), 5))
assert (corr.max(1) >= 0.99).all() and sorted(corr.argmax(1)) == [0, 1, 2]
PYEOF

# Errors, by message.
if "$BIN/mva-pca" "$T/map.h5" -k 2 --rotate spin -q -o "$T/x.h5" 2>"$T/err.txt"; then ko "--rotate spin accepted"
elif grep -q "expected varimax, quartimax, equamax or orthomax=GAMMA" "$T/err.txt" && [ ! -e "$T/x.h5" ]; then
    ok "--rotate spin refused"; else ko "--rotate spin: $(cat "$T/err.txt")"; fi

echo "test_rotate: $fails failure(s)"
[ "$fails" -eq 0 ]
