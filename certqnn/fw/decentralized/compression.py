"""Compressed gossip messages of dqsfw (docs/math.md §10): unbiased b-bit quantization, the
bfloat16 scale, the packing of symmetric matrices, and error feedback through public copies.

Error feedback (CHOCO-gossip, Koloskova et al. 2019): each agent publishes a public copy xhat_k of
its vector that every neighbour also holds. It sends q = lam C(x_k - xhat_k) and everyone adds q to
xhat_k; what is not transmitted stays in x_k - xhat_k and is sent later. With b = 32 (no
compression) xhat = x exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import SolverError

SCALE_BITS = 16          # the decode scale travels as a bfloat16 (float32 range, 8-bit mantissa)


def bfloat16(x: float) -> float:
    """x rounded to the nearest bfloat16 (the top 16 bits of its float32), returned as a float."""
    b = np.array([x], dtype=np.float32).view(np.uint32)
    b = ((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)).astype(np.uint32)
    return float(b.view(np.float32)[0])


@dataclass
class Quantizer:
    """Unbiased stochastic b-bit quantization C of a vector x (D,): scale s = max|x| (rounded up to a
    float32), grid of all 2^b points -s + k 2s/L, L = 2^b - 1 (measured: a finer grid beats keeping an
    exact zero, e.g. b = 2 needs ~25% fewer iterations than {-s, 0, s}); each entry rounds to a
    neighbouring grid point with the probabilities that make E[C(x)] = x. The receiver gets
    lam * C(x) (see encode). bits = 32: identity (no compression)."""

    bits: int

    @property
    def intervals(self) -> int:
        return (1 << self.bits) - 1

    def encode(self, x: np.ndarray, rng: np.random.Generator):
        """A packet: ("raw", x) for b = 32, else ("q", scale, codes (uint8/uint16)).

        decode(packet) = lam * C(x): C unbiased, lam = 1/(1 + omega(x)) with omega(x) = Var C(x) / |x|^2
        (known to the sender before drawing). The damping is what makes the error-feedback update
        xhat += lam C(x - xhat) a contraction (E|e - lam C(e)|^2 = omega/(1+omega) |e|^2) even when
        omega > 1 (few bits); lam is folded into the scale s lam, sent as a bfloat16 (16 bits; its
        rounding, <= 0.4%, only perturbs the damping), so it costs no extra bits."""
        if self.bits == 32:
            return ("raw", np.array(x, float))
        s = float(np.max(np.abs(x))) if x.size else 0.0
        s32 = np.float32(s)
        if float(s32) < s:
            s32 = np.nextafter(s32, np.float32(np.inf))
        s = float(s32)
        L = self.intervals
        draw = rng.random(x.shape)                          # always drawn: a fixed rng consumption
        if not np.isfinite(s):
            raise SolverError("dqsfw diverged: a message left the float32 range (try more bits or gossip_step < 1)")
        if s == 0.0:
            return ("q", 0.0, np.zeros(x.shape, dtype=np.uint8 if self.bits <= 8 else np.uint16))
        u = np.clip((x / s + 1.0) * (0.5 * L), 0.0, L)
        lo = np.minimum(np.floor(u), L)
        frac = u - lo
        codes = lo + (draw < frac)
        var = float(np.sum(frac * (1.0 - frac))) * (2.0 * s / L) ** 2
        xx = float(x @ x)
        lam = xx / (xx + var) if xx > 0 else 1.0
        return ("q", bfloat16(s * lam), codes.astype(np.uint8 if self.bits <= 8 else np.uint16))

    def decode(self, packet) -> np.ndarray:
        if packet[0] == "raw":
            return packet[1]
        _, s, codes = packet
        return (codes.astype(float) * (2.0 / self.intervals) - 1.0) * s

    def cost(self, entries: int) -> int:
        """Bits of one message with `entries` numbers: b per entry plus the 16-bit scale; b = 32 is
        counted as a float32 message (the simulation keeps float64 so that it reproduces centralized
        FW exactly -- counting 64 bits would double every compression ratio)."""
        return 32 * entries if self.bits == 32 else self.bits * entries + SCALE_BITS


class Packing:
    """Upper-triangle vectors of symmetric (p+1, p+1) matrices: D = (p+1)(p+2)/2 entries."""

    def __init__(self, p: int):
        self.n = p + 1
        self.iu = np.triu_indices(self.n)
        self.D = self.iu[0].size
        pos = np.zeros((self.n, self.n), dtype=np.intp)
        pos[self.iu] = np.arange(self.D)
        self._gather = np.maximum(pos, pos.T)      # (i, j) -> index of (min, max) in the packed vector

    def pack(self, M: np.ndarray) -> np.ndarray:
        return M[self.iu]

    def unpack(self, v: np.ndarray) -> np.ndarray:
        return v[self._gather]


@dataclass
class PublicCopies:
    """One agent's public copies xhat_j (D,) of its own vector and of its neighbours' (error feedback)."""

    copies: dict[int, np.ndarray] = field(default_factory=dict)

    def message(self, quant: Quantizer, own: int, x: np.ndarray, rng: np.random.Generator):
        """The packet agent `own` broadcasts: the compressed difference to its public copy."""
        return quant.encode(x - self.copies.get(own, 0.0), rng)

    def receive(self, quant: Quantizer, j: int, packet) -> None:
        """Apply agent j's packet to its public copy (the sender applies its own packet too)."""
        self.copies[j] = self.copies.get(j, 0.0) + quant.decode(packet)

    def mix(self, own: int, nbrs: list[int], W: np.ndarray, eta: float) -> np.ndarray:
        """eta sum_j W_kj (xhat_j - xhat_own), summed in neighbour order (engine-independent)."""
        out = np.zeros_like(self.copies[own])
        for j in nbrs:
            out += W[own, j] * (self.copies[j] - self.copies[own])
        return eta * out
