"""Progress, cancellation and Ctrl-C, and the in-memory reader's memory: a 1 GB array is read
in place (peak RSS of a fresh process stays under 1.2 GB)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import ROOT, gen, need

import mva

ENV = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))


def test_progress_callback_sees_every_pass_and_can_cancel(small_map):
    path, _ = small_map
    seen = []
    mva.pca(path, k=3, method="exact", memory=1 << 16, progress=lambda f, n: seen.append((n, f)))
    passes = sorted({n for n, _ in seen})
    assert passes == [1, 2]  # covariance, then scores
    assert [f for n, f in seen if n == 2][-1] == 1.0
    with pytest.raises(mva.Cancelled, match=r"canceled at \d+% of a pass"):
        mva.pca(path, k=3, memory=1 << 16, progress=lambda f, n: f > 0.3)


def test_ctrl_c_stops_the_pass_and_writes_nothing(tmp_path):
    path = gen(tmp_path / "map.h5", "--rows", "60", "--cols", "80", "--channels", "512")
    out = tmp_path / "out.h5"
    child = textwrap.dedent("""
        import sys, time, mva
        started = []
        def slow(fraction, npass):
            if not started:
                started.append(1)
                print("started", flush=True)
            time.sleep(0.005)   # about 3 s a pass: long enough to be caught in the middle
        mva.pca(sys.argv[1], k=4, method="randomized", memory=1 << 16, progress=slow,
                output=sys.argv[2])
        print("finished", flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", child, path, str(out)], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "started\n"
    time.sleep(0.3)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert time.monotonic() - t0 < 2.0, "the pass went on after Ctrl-C"
    assert p.returncode != 0
    assert "KeyboardInterrupt: mva: pass interrupted; nothing was written" in stderr
    assert "finished" not in stdout
    assert sorted(f.name for f in tmp_path.iterdir()) == ["map.h5"]


@pytest.mark.skipif(os.environ.get("MVA_SANITIZED") == "1",
                    reason="peak RSS means nothing under ASan (shadow memory, quarantine)")
def test_a_1gb_array_is_read_in_place():
    """A fresh process (about 45 MB before) holds a 1 GB uint16 array and computes its ROI
    images and spectra (three images of 16 MB, two blocks of 8 MiB): a copy of any dtype
    would take the peak past 1.5 GB; read in place it stays under 1.2 GB."""
    child = textwrap.dedent("""
        import resource, numpy as np, mva
        x = np.empty((1953125, 256), dtype=np.uint16)   # 1.000 GB
        x[:] = 3
        r = mva.roi(x, [("all", 0, 63)], shape=(3125, 625))
        assert r.total.shape == (3125, 625) and (r.total == 768).all()
        assert (r.raw[0] == 192).all()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    r = subprocess.run([sys.executable, "-c", child], env=ENV, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    peak = int(r.stdout.split()[-1]) * 1024
    print("peak RSS %.3f GB for a 1 GB array" % (peak / 1e9))
    assert peak < 1.2e9, "peak RSS %.2f GB: the array was copied" % (peak / 1e9)


def test_arrays_needing_a_copy_say_why():
    x = np.ones((3, 4, 5), dtype=">u2")  # big-endian
    with pytest.warns(mva.CopyWarning, match="byte order > is not the machine's"):
        s = mva.open(x)
    assert s.dtype == np.uint16
    with pytest.warns(mva.CopyWarning, match="dtype float16 has no reader"):
        assert mva.open(np.ones((3, 4), dtype=np.float16)).dtype == np.float32


def test_tqdm_bar_when_asked(small_map, capsys):
    need("tqdm")
    path, _ = small_map
    mva.pca(path, k=2, method="exact", memory=1 << 16, progress=True)
    err = capsys.readouterr().err
    assert "pass 2" in err and "100%" in err


def test_installed_package_finds_the_installed_library(tmp_path):
    """make install PREFIX=...: the package lands where Debian's python3 looks for that prefix
    and loads PREFIX/lib/libmva.so.0 without PYTHONPATH tricks beyond that directory."""
    build = os.environ.get("MVA_BUILD", "build")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MVA_LIBRARY", "PYTHONPATH")}
    r = subprocess.run(["make", "-s", "install", "PREFIX=%s" % tmp_path, "BUILD=%s" % build,
                        "PYTHON=%s" % sys.executable], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    site = tmp_path / "lib" / ("python%d.%d" % sys.version_info[:2]) / "dist-packages"
    assert (site / "mva" / "_lib.py").exists()
    env["PYTHONPATH"] = str(site)
    code = ("import mva, numpy as np; print(mva.library); "
            "print(mva.pca(np.arange(60.0).reshape(3, 4, 5) % 7, k=2).k)")
    r = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(tmp_path / "lib" / "libmva.so.0"), "2"]
    env["MVA_LIBRARY"] = str(tmp_path / "nowhere.so")  # the variable wins over the record
    r = subprocess.run([sys.executable, "-c", "import mva"], cwd=str(tmp_path), env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "nowhere.so" in r.stderr


def test_passes_run_without_the_gil():
    """While a pass runs in another thread, this thread keeps executing Python: ctypes'
    CDLL releases the GIL for the whole library call."""
    import threading
    x = np.random.default_rng(2).poisson(20.0, (200, 200, 256)).astype(np.uint16)
    done = threading.Event()
    t = threading.Thread(target=lambda: (mva.pca(x, k=4, method="exact"), done.set()))
    count = 0
    t0 = time.monotonic()
    t.start()
    while not done.is_set():
        count += 1
    t.join()
    seconds = time.monotonic() - t0
    assert seconds > 0.05
    # Held GIL: this loop would only run at the switch interval between callbacks (none
    # here): a few hundred iterations at most.  Released: millions a second.
    assert count > 10000 * seconds, (count, seconds)
