"""fo:mpi on a directory of .npy row shards: ranks > 0 read only their own rows (certqnn.shor.fo_mpi),
and the certificate is the one-process certificate."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from certqnn.datasets import apply_preprocessing
from certqnn.rows import RowSource


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


needs_mpi4py = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None,
                                  reason="mpi4py is not installed (pip install 'certqnn[mpi]')")
needs_mpiexec = pytest.mark.skipif(_mpiexec() is None, reason="no mpiexec found (the mpich wheel provides one next to python)")


def write_shards(path, n=9000, d=5, seed=3):
    """Row shards part-0..2.npy (float32, uneven sizes) and y.npy: n > 2 blocks of 4096 rows, so
    both ranks of a 2-rank run get rows."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 3.0, d) + np.arange(d)
    y = X[:, 0] * X[:, 1] + 0.3 * rng.standard_normal(n)
    path.mkdir()
    for k, (a, b) in enumerate([(0, 3000), (3000, 6100), (6100, n)]):
        np.save(path / f"part-{k}.npy", X[a:b].astype(np.float32))
    np.save(path / "y.npy", y)
    return path


def test_a_transformed_source_reads_what_the_whole_array_gives(tmp_path):
    """Standardizing block by block gives, element for element, the in-memory standardization."""
    data = write_shards(tmp_path / "d", n=500)
    whole = RowSource.from_directory(data).to_array()
    pre = {"x_mean": whole.mean(axis=0).tolist(), "x_scale": whole.std(axis=0).tolist()}
    src = RowSource.from_directory(data, transform=lambda X: apply_preprocessing(pre, X), block_rows=64)
    blocks = np.vstack([b for _, b in src.blocks()])
    assert np.array_equal(blocks, apply_preprocessing(pre, whole))
    assert np.array_equal(src.rows(100, 130).to_array(), apply_preprocessing(pre, whole)[100:130])


def one_process_and_two_ranks(tmp_path, command, probe_source):
    """Run `certqnn COMMAND --engine fo` in one process and, through the probe script, with
    `--engine fo:mpi` on 2 ranks. Returns (one-process certificate, 2-rank certificate, the probe's
    "RANK ..." lines)."""
    env = {**os.environ, "CERTQNN_PROGRESS": "0"}
    one = subprocess.run([sys.executable, "-m", "certqnn.cli", *command, "--engine", "fo", "--out",
                          str(tmp_path / "one.json")], capture_output=True, text=True, timeout=240, env=env)
    assert one.returncode == 0, one.stderr[-2000:]
    probe = tmp_path / "probe.py"
    probe.write_text(probe_source)
    two = subprocess.run([_mpiexec(), "-n", "2", sys.executable, str(probe), *command, "--engine", "fo:mpi", "--out",
                          str(tmp_path / "two.json")], capture_output=True, text=True, timeout=240, env=env)
    assert two.returncode == 0, two.stderr[-2000:]
    certificates = [json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json")]
    return (*certificates, [ln for ln in two.stdout.splitlines() if ln.startswith("RANK")])


PROBE = r"""
import sys
from mpi4py import MPI
import certqnn.datasets
import certqnn.rows
from certqnn import cli

read = []
raw = certqnn.rows.RowSource._raw
certqnn.rows.RowSource._raw = lambda self, lo, hi: (read.append((lo, hi)), raw(self, lo, hi))[1]
load = certqnn.datasets.load
certqnn.datasets.load = lambda *a, **k: (read.append("whole"), load(*a, **k))[1]
rc = cli.main(sys.argv[1:])
print("RANK", MPI.COMM_WORLD.Get_rank(), "RC", rc, "READ", sorted(map(str, set(read))))
"""


@needs_mpi4py
@needs_mpiexec
def test_ranks_read_only_their_rows_and_certify_like_one_process(tmp_path):
    data = write_shards(tmp_path / "shards")
    a, b, lines = one_process_and_two_ranks(tmp_path, ["solve", str(data), "--backend", "sdp", "--max-iters", "8"],
                                            PROBE)
    reads = {ln.split()[1]: ln for ln in lines}
    assert "whole" in reads["0"]                        # rank 0 writes the certificate: it loads everything
    assert "whole" not in reads["1"]                    # rank 1 reads blocks of its own rows only
    assert "(4096, 8192)" in reads["1"] and "(0," not in reads["1"]
    assert a["lower_bound"] == b["lower_bound"] and a["upper_bound"] == b["upper_bound"]
    assert a["dual"] == b["dual"]


@needs_mpi4py
@needs_mpiexec
def test_bad_input_on_rank_0_releases_the_other_ranks(tmp_path):
    """Rank 0 refuses the input (exit 2, field named); the waiting rank is released, nothing hangs."""
    data = write_shards(tmp_path / "shards", n=300)
    for bad, field in ((["--beta", "-1"], "beta"), (["--loss", "huber"], "huber")):
        proc = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-m", "certqnn.cli", "solve", str(data),
                               "--backend", "sdp", "--engine", "fo:mpi", *bad], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "CERTQNN_PROGRESS": "0"})
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert field in proc.stderr


ROUNDING_PROBE = r"""
import sys
from mpi4py import MPI
import certqnn.rounding
from certqnn import cli

calls = []
real = certqnn.rounding.round_relaxation
certqnn.rounding.round_relaxation = lambda *a, **k: (calls.append(1), real(*a, **k))[1]
rc = cli.main(sys.argv[1:])
print("RANK", MPI.COMM_WORLD.Get_rank(), "RC", rc, "ROUNDINGS", len(calls))
"""


@needs_mpi4py
@needs_mpiexec
def test_only_rank_0_rounds_when_every_rank_loads_the_data(tmp_path):
    """Data that every rank loads (not a directory): the engine runs on all ranks, the rounding
    (whose network only rank 0 writes) on rank 0 alone; the certificate is the one-process one."""
    common = ["solve", "synthetic:n=300,d=6,seed=2", "--backend", "sdp", "--max-iters", "8", "--samples", "64"]
    a, b, lines = one_process_and_two_ranks(tmp_path, common, ROUNDING_PROBE)
    counts = {ln.split()[1]: ln.split()[-1] for ln in lines}
    assert counts == {"0": "1", "1": "0"}
    assert a["lower_bound"] == b["lower_bound"] and a["upper_bound"] == b["upper_bound"]
    assert a["network"] == b["network"]
