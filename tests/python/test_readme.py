"""The README's Python examples run as written (on a smaller sample map at the same path),
and every public call has a docstring with an example."""
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, gen, need

import mva


def test_readme_python_examples_run(tmp_path):
    need("matplotlib")
    need("h5py")
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("\n## Python\n"):]
    section = section[:section.index("\n## ", 5)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    os.makedirs(tmp_path / "samples" / "out")
    gen(tmp_path / "samples" / "out" / "map.h5", "--rows", "30", "--cols", "40",
        "--channels", "512", "--b", "0.04")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, "-c", "\n".join(blocks)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "pca.png").stat().st_size > 10000
    assert mva.read_result(str(tmp_path / "map_pca.h5")).k == 5


@pytest.mark.parametrize("name", ["open", "roi", "pca", "nmf", "select", "compress", "expand",
                                  "read_result", "read_image", "mask_above", "mask_top",
                                  "PCA", "NMF"])
def test_public_calls_have_a_docstring_with_an_example(name):
    doc = getattr(mva, name).__doc__
    assert doc and "Example:" in doc, name
