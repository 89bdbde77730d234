"""The peers of `make bench`, one job a process (so that runstat sees its wall time and peak
RSS): each loads the whole stack, as its users do, and runs the analysis.

    python3 bench/peers.py pymca-pca MAP.h5 K      PyMca numpyCovariancePCA on the stack
    python3 bench/peers.py sklearn-pca MAP.h5 K    scikit-learn PCA(svd_solver='randomized')
    python3 bench/peers.py sklearn-nmf MAP.h5 K    scikit-learn NMF(init='nndsvda', solver='cd')
                                                   prints its relative error ||X - WH|| / ||X||
"""
import sys
import time

import h5py
import numpy as np

job, path, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.time()
with h5py.File(path, "r") as f:
    stack = f["entry/data/data"][()]
rows, cols, ch = stack.shape
if job == "pymca-pca":
    from PyMca5.PyMcaMath.mva import PCAModule

    PCAModule.numpyCovariancePCA(stack, ncomponents=k)
elif job == "sklearn-pca":
    from sklearn.decomposition import PCA

    x = stack.reshape(rows * cols, ch).astype(np.float64)
    del stack
    PCA(n_components=k, svd_solver="randomized", random_state=0).fit_transform(x)
elif job == "sklearn-nmf":
    from sklearn.decomposition import NMF

    x = stack.reshape(rows * cols, ch).astype(np.float64)
    del stack
    nmf = NMF(n_components=k, init="nndsvda", solver="cd", random_state=0, max_iter=200)
    w = nmf.fit_transform(x)
    err = np.linalg.norm(x - w @ nmf.components_) / np.linalg.norm(x)
    print("scikit-learn NMF: %d iterations, relative error %.6f" % (nmf.n_iter_, err))
else:
    sys.exit("unknown job " + job)
print("%s: %.2f s in Python" % (job, time.time() - t0))
