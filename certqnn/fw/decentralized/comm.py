"""Communication graphs, Metropolis mixing and the Communicator engines of dqsfw (docs/math.md §10).

Engines (one algorithm, two ways to run it):
* InProcessCommunicator: all K agents live in this process (default; deterministic simulation).
* MPICommunicator: one MPI rank per agent (mpi4py, imported lazily here and nowhere else);
  neighbours from a distributed-graph communicator (Create_dist_graph_adjacent) and the neighbour
  exchange is a neighbour collective (neighbor_allgather).

Both sum and order everything in agent order (neighbours sorted ascending), so the same seed gives
bit-for-bit the same iterates on both engines.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ...errors import BackendUnavailableError, InvalidProblemError

GRAPHS = ("ring", "grid", "complete", "star", "erdos_renyi:P", "path/to/edges.txt")


# -- graphs --------------------------------------------------------------------------------------
def build_graph(spec, agents: int, seed: int = 0):
    """A connected networkx.Graph on nodes 0..agents-1.

    spec: "ring" | "grid" (r x c with r the largest divisor of K below sqrt(K); a path if K is prime)
    | "complete" | "star" (centre 0) | "erdos_renyi:P" (G(K, P), seeded by `seed`) | the name of an
    edge-list file ("i j" per line, nodes 0..K-1) | a networkx.Graph.
    Raises InvalidProblemError("graph", ...) for unknown specs and disconnected graphs.
    """
    import networkx as nx

    K = agents
    if isinstance(spec, nx.Graph):
        G = nx.Graph(spec)
    elif not isinstance(spec, str):
        raise InvalidProblemError("graph", f"expected one of {', '.join(GRAPHS)} or a networkx.Graph, got {spec!r}")
    elif spec == "ring":
        G = nx.cycle_graph(K) if K >= 3 else nx.path_graph(K)
    elif spec == "complete":
        G = nx.complete_graph(K)
    elif spec == "star":
        G = nx.star_graph(K - 1) if K > 1 else nx.empty_graph(1)
    elif spec == "grid":
        r = max(i for i in range(1, int(np.sqrt(K)) + 1) if K % i == 0)
        G = nx.convert_node_labels_to_integers(nx.grid_2d_graph(r, K // r), ordering="sorted")
    elif spec.startswith("erdos_renyi"):
        try:
            prob = float(spec.split(":", 1)[1])
        except (IndexError, ValueError):
            raise InvalidProblemError("graph", f"write erdos_renyi:P with an edge probability P in (0, 1], got {spec!r}") from None
        if not 0 < prob <= 1:
            raise InvalidProblemError("graph", f"erdos_renyi:P needs 0 < P <= 1, got {prob}")
        G = nx.erdos_renyi_graph(K, prob, seed=seed)
    elif os.path.exists(spec):
        try:
            G = nx.read_edgelist(spec, nodetype=int, data=False)
        except (TypeError, ValueError) as exc:
            raise InvalidProblemError("graph", f"cannot read edge list {spec!r} ('i j' per line, integer nodes): {exc}") from None
    else:
        raise InvalidProblemError("graph", f"unknown graph {spec!r}; use one of {', '.join(GRAPHS)}")
    nodes = set(G.nodes)
    if not nodes <= set(range(K)):
        raise InvalidProblemError("graph", f"nodes must be 0..{K - 1} for {K} agents, got {sorted(nodes - set(range(K)))[:5]} too")
    G.add_nodes_from(range(K))
    G.remove_edges_from(list(nx.selfloop_edges(G)))
    if not nx.is_connected(G):
        comps = [sorted(c) for c in nx.connected_components(G)]
        raise InvalidProblemError("graph", f"{spec if isinstance(spec, str) else 'the graph'} on {K} agents is disconnected "
                                  f"({len(comps)} components, e.g. {comps[:3]}); agents could never agree -- use a connected graph")
    return G


def metropolis_weights(G) -> np.ndarray:
    """Metropolis mixing matrix (K, K): W_kj = 1/(1 + max(deg_k, deg_j)) on edges, W_kk = 1 - sum_j W_kj.
    Symmetric and doubly stochastic, so gossip preserves the agents' average."""
    K = G.number_of_nodes()
    deg = np.array([G.degree(k) for k in range(K)])
    W = np.zeros((K, K))
    for k, j in G.edges():
        W[k, j] = W[j, k] = 1.0 / (1.0 + max(deg[k], deg[j]))
    W[np.diag_indices(K)] = 1.0 - W.sum(axis=1)
    return W


# -- engines -------------------------------------------------------------------------------------
class Communicator(ABC):
    """Neighbour exchange among K agents, some of which (`hosted`) live in this process.

    size: K; neighbours[k]: sorted neighbours of agent k (known everywhere); W: (K, K) mixing
    matrix; rank: this process's index; is_root: the process that reports and returns results.
    """

    def __init__(self, graph):
        self.graph = graph
        self.size = graph.number_of_nodes()
        self.neighbours = [sorted(graph.neighbors(k)) for k in range(self.size)]
        self.W = metropolis_weights(graph)
        self.hosted: list[int] = []
        self.rank = 0

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    @abstractmethod
    def exchange(self, outbox: dict[int, Any]) -> dict[int, list[Any]]:
        """Every hosted agent k sends outbox[k] to each neighbour; returns, for each hosted agent,
        its neighbours' messages in the order neighbours[k]."""

    @abstractmethod
    def allgather(self, values: dict[int, Any]) -> list[Any]:
        """The values of all K agents, in agent order, in every process (reporting only)."""

    @abstractmethod
    def bcast(self, obj: Any) -> Any:
        """The root process's obj, in every process."""

    def abort(self, message: str) -> None:
        """Stop every process after an unexpected error in this one (a rank that raised would leave
        its neighbours blocked in the next collective forever). In-process: nothing to do."""

    def allreduce_sum(self, values: dict[int, Any]) -> Any:
        """Sum over all K agents, always in agent order (deterministic, engine-independent)."""
        out = None
        for v in self.allgather(values):
            out = v if out is None else out + v
        return out


class InProcessCommunicator(Communicator):
    """All agents in one process: a message is just handed over."""

    def __init__(self, graph):
        super().__init__(graph)
        self.hosted = list(range(self.size))

    def exchange(self, outbox):
        return {k: [outbox[j] for j in self.neighbours[k]] for k in self.hosted}

    def allgather(self, values):
        return [values[k] for k in range(self.size)]

    def bcast(self, obj):
        return obj


class MPICommunicator(Communicator):
    """One MPI rank per agent (rank k hosts agent k). Needs `mpiexec -n K`."""

    def __init__(self, graph, comm=None):
        super().__init__(graph)
        try:
            from mpi4py import MPI
        except ImportError:
            raise BackendUnavailableError("engine='mpi' needs mpi4py and an MPI library: pip install 'certqnn[mpi]'") from None
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        if self.comm.Get_size() != self.size:
            raise InvalidProblemError("agents", f"engine='mpi' runs one agent per MPI rank: {self.size} agents but "
                                      f"{self.comm.Get_size()} ranks (start with mpiexec -n {self.size}, or omit agents)")
        self.rank = self.comm.Get_rank()
        self.hosted = [self.rank]
        nb = self.neighbours[self.rank]
        # sources == destinations == sorted neighbours, reorder=False: neighbor_allgather returns the
        # messages in exactly the order the in-process engine uses
        self.graph_comm = self.comm.Create_dist_graph_adjacent(nb, nb, reorder=False)

    def exchange(self, outbox):
        return {self.rank: list(self.graph_comm.neighbor_allgather(outbox[self.rank]))}

    def allgather(self, values):
        return self.comm.allgather(values[self.rank])

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def abort(self, message):
        if self.size > 1:
            import sys
            print(f"rank {self.rank}: {message}; aborting all ranks", file=sys.stderr, flush=True)
            self.comm.Abort(2)


ENGINES = ("inprocess", "mpi")


def mpi_world_size() -> int | None:
    """The size of MPI_COMM_WORLD, or None when mpi4py is not installed."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD.Get_size()


def make_communicator(engine: str, graph) -> Communicator:
    if engine == "inprocess":
        return InProcessCommunicator(graph)
    if engine == "mpi":
        return MPICommunicator(graph)
    raise InvalidProblemError("engine", f"must be one of {', '.join(ENGINES)}, got {engine!r}")
