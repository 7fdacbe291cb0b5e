"""Charts for the HTML reports, drawn with matplotlib's Agg canvas and returned as base64 PNG data URIs.

Every chart puts the length-only baseline on the same axes as the judge, because on greeting data a
response's length alone predicts the human label most of the time. Figures are built with
:class:`matplotlib.figure.Figure` (no pyplot, no global backend switch), so rendering is safe in any
process. matplotlib is the ``reports`` extra: ``pip install "inkforge[reports]"``.

Example:
    >>> uri = confusion_chart({"tn": 5, "fp": 2, "fn": 1, "tp": 7})
    >>> uri.startswith("data:image/png;base64,")
    True
"""

from __future__ import annotations

import base64
import importlib.util
import io
from collections.abc import Mapping, Sequence
from typing import Any

from inkforge.core.errors import ConfigError

__all__ = ["band_chart", "check_matplotlib", "confusion_chart", "figure_uri", "iterations_chart",
           "length_distribution_chart", "rate_by_band_chart"]

JUDGE, BASE, HUMAN, GOOD, BAD = "#3565a8", "#b8b8b8", "#e08a2e", "#2e8b57", "#c0392b"


def check_matplotlib(field: str = "--html") -> None:
    """Raise one line naming the extra when matplotlib is missing (call it before any costly work).

    Example:
        >>> check_matplotlib()
    """
    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError('HTML reports draw their charts with matplotlib: pip install "inkforge[reports]"',
                          field=field)


def _figure(width: float, height: float) -> Any:
    check_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def figure_uri(fig: Any) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (no timestamp metadata: stable bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _num(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else float("nan")


def band_chart(bands: Sequence[Mapping[str, Any]]) -> str:
    """Accuracy and Cohen's κ by length band: the judge's bars beside the length baseline's.

    Args:
        bands: Rows ``{"band", "n", "judge_accuracy", "length_baseline_accuracy"}`` and optionally
            ``"judge_kappa"``, ``"length_baseline_kappa"`` (a band without a figure shows no bar).
    """
    labels = [f"{b.get('band', '?')}\n(n={b.get('n', '?')})" for b in bands]
    has_kappa = any(b.get("judge_kappa") is not None or b.get("length_baseline_kappa") is not None for b in bands)
    fig = _figure(9 if has_kappa else 5.5, 3.4)
    axes = fig.subplots(1, 2 if has_kappa else 1, squeeze=False)[0]
    x = list(range(len(bands)))
    w = 0.38
    panels = [("accuracy", "judge_accuracy", "length_baseline_accuracy", (0.0, 1.0))]
    if has_kappa:
        panels.append(("Cohen's κ", "judge_kappa", "length_baseline_kappa", (-1.0, 1.0)))
    for ax, (title, jk, bk, ylim) in zip(axes, panels, strict=True):
        ax.bar([i - w / 2 for i in x], [_num(b.get(jk)) for b in bands], w, label="judge", color=JUDGE)
        ax.bar([i + w / 2 for i in x], [_num(b.get(bk)) for b in bands], w, label="length ≥ 39 baseline",
               color=BASE)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylim(ylim[0], ylim[1] + 0.25 * (ylim[1] - ylim[0]) / 2)
        ax.axhline(0, color="#555", lw=0.6)
        ax.set_title(f"{title} by response length (chars)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left", ncols=2)
    return figure_uri(fig)


def rate_by_band_chart(bands: Sequence[Mapping[str, Any]]) -> str:
    """The judge's Good rate by length band beside the human one (length bias, ``audit-judge``)."""
    labels = [f"{b.get('band', '?')}\n(n={b.get('n', '?')})" for b in bands]
    fig = _figure(5.5, 3.4)
    ax = fig.subplots()
    x = list(range(len(bands)))
    ax.plot(x, [_num(b.get("judge_good_rate")) for b in bands], "o-", color=JUDGE, label="judge: Good rate")
    ax.plot(x, [_num(b.get("human_good_rate")) for b in bands], "s--", color=HUMAN, label="humans: good rate")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("Good rate by response length (chars)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def confusion_chart(confusion: Mapping[str, Any], title: str = "judge vs human labels") -> str:
    """A 2×2 confusion matrix (rows: human label, columns: judge verdict) with its counts."""
    cells = [[int(confusion.get("tn", 0) or 0), int(confusion.get("fp", 0) or 0)],
             [int(confusion.get("fn", 0) or 0), int(confusion.get("tp", 0) or 0)]]
    fig = _figure(3.4, 3.0)
    ax = fig.subplots()
    top = max(1, max(max(r) for r in cells))
    ax.imshow(cells, cmap="Blues", vmin=0, vmax=top)
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(cells[i][j]), ha="center", va="center", fontsize=13,
                    color="white" if cells[i][j] > top / 2 else "black")
    ax.set_xticks([0, 1], ["Bad", "Good"])
    ax.set_yticks([0, 1], ["bad", "good"])
    ax.set_xlabel("judge verdict")
    ax.set_ylabel("human label")
    ax.set_title(title, fontsize=10)
    return figure_uri(fig)


def iterations_chart(points: Sequence[Mapping[str, Any]], *, baseline_kappa: float | None = None) -> str:
    """Validation κ over refinement iterations: accepted and rejected rubric versions, the best so far,
    and the length baseline's κ on the same validation rows.

    Args:
        points: Rows ``{"iteration", "kappa", "accepted", "best_kappa", "kind"}`` (one per S_D gate).
        baseline_kappa: The length-only rule's κ on the validation split.
    """
    fig = _figure(6.5, 3.4)
    ax = fig.subplots()
    scored = [p for p in points if p.get("kappa") is not None]
    acc = [p for p in scored if p.get("accepted")]
    rej = [p for p in scored if not p.get("accepted")]
    best = [p for p in points if p.get("best_kappa") is not None]
    if best:
        ax.step([p["iteration"] for p in best], [p["best_kappa"] for p in best], where="post", color=JUDGE,
                lw=1.2, alpha=0.6, label="best κ so far")
    ax.scatter([p["iteration"] for p in acc], [p["kappa"] for p in acc], marker="o", s=46, color=GOOD,
               label="accepted", zorder=3)
    ax.scatter([p["iteration"] for p in rej], [p["kappa"] for p in rej], marker="x", s=52, color=BAD,
               label="rejected", zorder=3)
    if baseline_kappa is not None:
        ax.axhline(baseline_kappa, color="#777", ls="--", lw=1, label=f"length ≥ 39 baseline (κ {baseline_kappa:.2f})")
    ax.set_xlabel("iteration")
    ax.set_ylabel("validation κ")
    its = sorted({int(p["iteration"]) for p in points}) or [0]
    ax.set_xticks(its)
    ax.set_title("Cohen's κ on held-out human labels, per rubric proposal", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return figure_uri(fig)


def length_distribution_chart(series: Sequence[Mapping[str, Any]], *, band: Sequence[int] = (30, 50)) -> str:
    """Completion lengths of one or more policies (before and after training).

    Each series is ``{"name", "length": {min, p10, median, p90, max, mean}}`` and optionally
    ``"lengths"`` (every completion's length): with lengths for all series the chart is a histogram,
    otherwise a box per series drawn from the quantiles (box p10–p90, whiskers min–max). The
    30–50-character band is shaded.
    """
    fig = _figure(6.5, 3.2)
    ax = fig.subplots()
    colors = [BASE, JUDGE, HUMAN, GOOD]
    if series and all(s.get("lengths") for s in series):
        hi = max(max(s["lengths"]) for s in series)
        bins = list(range(0, int(hi) + 6, max(1, int(hi) // 30 + 1)))
        for i, s in enumerate(series):
            ax.hist(s["lengths"], bins=bins, alpha=0.55, color=colors[i % len(colors)], label=str(s.get("name")))
        ax.set_xlabel("completion length (chars)")
        ax.set_ylabel("completions")
        ax.axvspan(band[0], band[1], color="#f3e3a0", alpha=0.35, label=f"{band[0]}–{band[1]} chars", zorder=0)
    else:
        stats = []
        for s in series:
            st = s.get("length") or {}
            stats.append({"label": str(s.get("name")), "med": _num(st.get("median")), "q1": _num(st.get("p10")),
                          "q3": _num(st.get("p90")), "whislo": _num(st.get("min")), "whishi": _num(st.get("max")),
                          "mean": _num(st.get("mean")), "fliers": []})
        if stats:
            ax.bxp(stats, orientation="horizontal", showmeans=True, patch_artist=True,
                   boxprops={"facecolor": "#dbe6f5"})
        ax.set_xlabel("completion length (chars): box p10–p90, whiskers min–max, ▲ mean")
        ax.axvspan(band[0], band[1], color="#f3e3a0", alpha=0.35, zorder=0)
    ax.set_title("Completion length before / after", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if series and all(s.get("lengths") for s in series):
        ax.legend(fontsize=8)
    return figure_uri(fig)
