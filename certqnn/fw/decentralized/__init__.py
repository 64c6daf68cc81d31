"""Decentralized Frank-Wolfe (docs/math.md §10): K agents, gossip over a graph, compressed messages.

compression: b-bit unbiased quantization, bfloat16 scales, packing, error feedback;
comm: graphs, Metropolis weights, in-process and MPI communicators;
state: each agent's state and the run's; algorithm: the dqsfw() loop.
"""
from .algorithm import DQSFWRun, dqsfw, shards  # noqa: F401
