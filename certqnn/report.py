"""Tables and plots of certified results (the CLI and the examples print these)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import BackendUnavailableError
from .gaps import relative_gap


@dataclass
class Row:
    """One line of a comparison table."""

    backend: str
    lower_bound: float | None = None
    upper_bound: float | None = None
    gap: float | None = None
    relative_gap: float | None = None
    width: int | None = None
    seconds: float | None = None
    note: str = ""


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def table(rows: list[Row], best_lower_bound: float | None = None) -> str:
    """Aligned plain-text table; with best_lower_bound, also each UB's gap to the best LB."""
    head = ["backend", "lower bound", "upper bound", "gap", "rel. gap", "width", "seconds"]
    if best_lower_bound is not None:
        head.append("gap to best LB")
    data = {}
    for i, r in enumerate(rows):
        if r.note:
            continue
        cells = [r.backend, _fmt(r.lower_bound, ".6g"), _fmt(r.upper_bound, ".6g"), _fmt(r.gap, ".3g"),
                 _fmt(r.relative_gap, ".2e"), _fmt(r.width, "d"), _fmt(r.seconds, ".2f")]
        if best_lower_bound is not None:
            g = None if r.upper_bound is None else relative_gap(r.upper_bound, best_lower_bound)
            cells.append(_fmt(g, ".2e"))
        data[i] = cells
    widths = [max([len(h)] + [len(c[k]) for c in data.values()] + ([len(r.backend) for r in rows] if k == 0 else []))
              for k, h in enumerate(head)]

    def line(cells):
        return "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(cells, widths)))

    out = [line(head), "  ".join("-" * w for w in widths)]
    for i, r in enumerate(rows):
        out.append(f"{r.backend.ljust(widths[0])}  {r.note}" if r.note else line(data[i]))
    return "\n".join(out)


def _pyplot():
    """matplotlib.pyplot on the non-interactive backend, or an error naming the extra to install."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BackendUnavailableError("plotting needs matplotlib: pip install 'certqnn[plot]'") from None
    return plt


def _save(plt, fig, path, dpi=None) -> None:
    """Write the figure atomically (no half-written file); the format follows the extension (PNG by default)."""
    try:
        with atomic_path(path, suffix=Path(path).suffix or ".png") as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)


def plot_bounds(rows: list[Row], path: str, title: str = "") -> None:
    """Bar-and-whisker plot of each backend's certified interval [LB, UB]; written atomically."""
    plt = _pyplot()
    rows = [r for r in rows if r.upper_bound is not None]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * max(len(rows), 1), 4.2))
    for i, r in enumerate(rows):
        lb = r.lower_bound if r.lower_bound is not None else 0.0
        ax.plot([i, i], [lb, r.upper_bound], color="tab:blue", lw=6, alpha=0.35, solid_capstyle="butt")
        ax.scatter([i], [r.upper_bound], marker="v", color="tab:red", zorder=3, label="upper bound (network)" if i == 0 else None)
        ax.scatter([i], [lb], marker="^", color="tab:green", zorder=3, label="certified lower bound" if i == 0 else None)
    if rows:
        best = max((r.lower_bound for r in rows if r.lower_bound is not None), default=None)
        if best is not None:
            ax.axhline(best, color="tab:green", ls=":", lw=1, label="best lower bound")
    ax.set_xticks(range(len(rows)), [r.backend for r in rows], rotation=20, ha="right")
    ax.set_ylabel("objective J")
    ax.set_title(title or "certified bounds per backend")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    _save(plt, fig, path, dpi=120)


CONVERGENCE_LABELS = {
    "objective": "objective J of the iterate (before certification)",
    "fw_gap": "FW gap of the solver's own formulation (its stopping test, not the certified gap)",
    "dual_bound": "objective - best dual bound seen by the solver",
    "consensus_error": "consensus error between agents",
    "certified_gap": "certified gap (upper - lower bound, as in the table)",
}


def plot_convergence(trajectory: dict, path, title: str = "", x: str = "iteration",
                     certified_gap: float | None = None) -> None:
    """Objective, FW gap, objective - best dual bound and (dqsfw) consensus error on a log scale
    against iterations, or against the bits sent with x="bits" (dqsfw trajectories), into `path`
    (PNG/PDF; needs matplotlib). trajectory: per-iteration lists keyed by name (Result.trajectory);
    entries that are zero or negative are not drawn."""
    plt = _pyplot()

    def positive(v):
        v = np.asarray(v, float)
        return np.where(v > 0, v, np.nan)          # log scale: exact zeros are simply not drawn

    gap = np.asarray(trajectory["fw_gap"], float)
    xs = np.asarray(trajectory[x], float) if x in trajectory else np.arange(1, gap.size + 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if "objective" in trajectory:
        ax.semilogy(xs, positive(trajectory["objective"]), label=CONVERGENCE_LABELS["objective"])
    ax.semilogy(xs, positive(gap), label=CONVERGENCE_LABELS["fw_gap"])
    if "dual_bound" in trajectory:
        sub = np.asarray(trajectory["objective"], float) - np.asarray(trajectory["dual_bound"], float)
        ax.semilogy(xs, positive(sub), label=CONVERGENCE_LABELS["dual_bound"])
    if "consensus_error" in trajectory:
        ax.semilogy(xs, positive(trajectory["consensus_error"]), label=CONVERGENCE_LABELS["consensus_error"])
    if certified_gap is not None and certified_gap > 0:
        # the number the table reports, so the figure and the table cannot seem to disagree
        ax.axhline(certified_gap, color="black", ls="--", lw=1.0,
                   label=f"{CONVERGENCE_LABELS['certified_gap']}: {certified_gap:.2e}")
    ax.set_xlabel("bits sent" if x == "bits" else "iteration")
    ax.set_title(title or "Frank-Wolfe convergence")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(plt, fig, path)


def plot_training_curves(trajectories: dict[str, dict], lower_bound: float | None, path: str, title: str = "") -> None:
    """Objective J against epoch for each heuristic (trajectories: backend -> Result.trajectory with
    "epoch" and "objective" lists), with the certified lower bound as a horizontal line; written
    atomically. The y axis is logarithmic when every value is positive (early epochs are far off)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    values = []
    for name, traj in trajectories.items():
        if not traj or "epoch" not in traj or "objective" not in traj:
            continue
        ax.plot(traj["epoch"], traj["objective"], lw=1.4, label=name)
        values.extend(float(v) for v in traj["objective"])
    if lower_bound is not None:
        ax.axhline(lower_bound, color="black", ls="--", lw=1.2, label=f"certified lower bound {lower_bound:.6g}")
        values.append(float(lower_bound))
    if values and min(values) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("objective J = L + beta |alpha|_1")
    ax.set_title(title or "training curves against the certified lower bound")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    _save(plt, fig, path, dpi=120)
