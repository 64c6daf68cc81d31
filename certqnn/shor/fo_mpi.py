"""Engine `fo:mpi` with ranks that read only their own rows.

Under `mpiexec -n K certqnn solve DIR --backend sdp --engine fo:mpi`, with DIR a directory of
`.npy` files (X.npy or row shards part-*.npy, and y.npy), ranks 1..K-1 never load the data set:

  rank 0                                       ranks 1..K-1
  loads DIR, standardizes, builds the problem  open DIR's .npy headers (certqnn.rows.RowSource)
  send_setup(preprocessing, levels, act)  -->  receive_setup: the column transform and levels
  sdp backend: rescaling, then
  announce(engine call: t, beta, options) -->  serve: FoEngine(comm).solve(own rows, same call)
  FoEngine(comm).solve(...)  <== the engine's collectives (row blocks summed in global order) ==>
  rounding, certify, write                     exit

A worker's rows are the engine's block-aligned shard of a lazily read source (memory-mapped
.npy: only its pages are read; shards: only the part files it needs), standardized block by
block with rank 0's column means and scales -- the same float operations, element by element,
as rank 0's in-memory standardization, so the engine's result is the same as with every rank
holding all the data (and as one process, bit for bit). Rank 0 always sends exactly one setup
and one engine call (None when it stops before the engine, e.g. on bad input), so a worker never
waits for ever.

When every rank loads the data itself (a DATA that is not a directory), every rank runs the sdp
backend and makes the same `announce` call, which is then an ordinary broadcast.
"""
from __future__ import annotations

import os

import numpy as np

_state = {"announced": True}


def applies(data_spec: str, backend: str, engine: str | None, test_fraction) -> bool:
    """Whether ranks > 0 can read only their rows: the sdp backend with engine fo:mpi on a
    directory of .npy files, without a train/test split (its rows are drawn at random)."""
    return (backend == "sdp" and engine == "fo:mpi" and not test_fraction
            and os.path.isdir(str(data_spec)))


def comm_world():
    from ..errors import BackendUnavailableError

    try:
        from mpi4py import MPI
    except ImportError:
        raise BackendUnavailableError("engine 'fo:mpi' needs mpi4py: pip install 'certqnn[mpi]'") from None
    return MPI.COMM_WORLD


def send_setup(comm, setup: dict | None) -> None:
    """Rank 0: what the workers need to read their rows ({"preprocessing", "levels",
    "activation"}), or None when rank 0 will not reach the engine. Arms `announce`."""
    _state["announced"] = setup is None
    comm.bcast(setup, root=0)


def announce(comm, call: dict | None) -> None:
    """Every rank that runs the sdp backend: the engine call (keyword arguments of
    FoEngine.solve without the progress callback), broadcast from rank 0; None: no engine run."""
    _state["announced"] = True
    comm.bcast(call, root=0)


def finish(comm) -> None:
    """Rank 0, whatever happened: release workers still waiting for an engine call."""
    if not _state["announced"]:
        announce(comm, None)


def worker_source(data_spec: str, setup: dict):
    """The whole data set as a lazily read RowSource, standardized block by block."""
    from ..datasets import apply_preprocessing
    from ..rows import RowSource

    pre = setup["preprocessing"]
    return RowSource.from_directory(data_spec, activation=setup["activation"], levels=setup["levels"],
                                    transform=lambda X: apply_preprocessing(pre, X))


def serve(comm, data_spec: str) -> bool:
    """Ranks > 0: receive the setup and the engine call and take part in the engine's run on
    this rank's rows only. Returns whether an engine run took place."""
    from .fo_engine import FoEngine

    setup = comm.bcast(None, root=0)
    if setup is None:
        return False
    source = worker_source(data_spec, setup)
    call = comm.bcast(None, root=0)
    if call is None:
        return False
    call = dict(call)
    FoEngine(comm=comm).solve(source, np.asarray(call.pop("y"), float), call.pop("beta"), call.pop("act"), **call)
    return True
