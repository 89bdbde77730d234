"""Shared fixtures: the repository, the build, sample maps from mva-gen."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("MVA_BUILD", "build"))
sys.path.insert(0, os.path.join(ROOT, "python"))  # the package of this tree, not an installed one


def need(module):
    """Imports a test-only module (h5py, sklearn, matplotlib, tqdm): skips without it, fails
    without it under MVA_REQUIRE_INTEROP=1 (CI, which installs them)."""
    if os.environ.get("MVA_REQUIRE_INTEROP") == "1":
        import importlib
        return importlib.import_module(module)
    return pytest.importorskip(module)


def gen(path, *args):
    """Writes a sample map with build/bin/mva-gen; returns path."""
    subprocess.run([os.path.join(BUILD, "bin", "mva-gen"), "-o", str(path)] + list(args),
                   check=True, stdout=subprocess.DEVNULL)
    return str(path)


@pytest.fixture(scope="session")
def small_map(tmp_path_factory):
    """20 x 30 pixels x 256 channels, uint32, gzip: (path, the stack as a NumPy array)."""
    h5py = need("h5py")
    path = gen(tmp_path_factory.mktemp("maps") / "small.h5", "--rows", "20", "--cols", "30",
               "--channels", "256")
    with h5py.File(path, "r") as f:
        x = f["/entry/data/data"][()]
    return path, x


def cov_eigh(x2):
    """Eigenvalues (descending) and eigenvectors (columns) of the covariance (n - 1)."""
    c = np.cov(x2, rowvar=False)
    w, v = np.linalg.eigh(c)
    return w[::-1], v[:, ::-1]
