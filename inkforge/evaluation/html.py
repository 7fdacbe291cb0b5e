"""Self-contained HTML reports of the JSON reports the commands write: open them in any browser, offline.

One page per report, with inline CSS and charts embedded as base64 PNG (:mod:`inkforge.evaluation.charts`),
so a report can be mailed, attached to an issue or archived beside its JSON without losing a picture:

* :func:`render_judge_report` (``eval-judge``): judge vs length baseline overall and on the 30–50-char
  slice, agreement and κ by length band, the confusion matrix, disagreements (judge vs human);
* :func:`render_audit_report` (``audit-judge``): the same agreement figures, length bias by band,
  position bias, attacks and consistency;
* :func:`render_refinement_report` (``refine-judge``): κ over iterations with accepted and rejected
  rubric versions beside the length baseline, the proposals and the hard negatives that fooled the judge;
* :func:`render_policy_report` (``eval-policy``): the length distribution before and after.

The renderers take the report dicts as written and read every key defensively: a section they do not
know (added by a newer command) is shown as a generic table under "Other sections", and a missing one
is left out. All text from reports and data is HTML-escaped.

Example:
    >>> page = render_judge_report({"overall": {"n": 2, "judge": {"accuracy": 0.5, "kappa": 0.0}}})
    >>> page.startswith("<!doctype html>") and "Judge vs length-only baseline" in page
    True
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inkforge.core.io import atomic_write
from inkforge.evaluation import charts
from inkforge.evaluation.metrics import LENGTH_BANDS, LENGTH_RULE_THRESHOLD, accuracy, cohen_kappa

__all__ = ["band_rows", "render_audit_report", "render_judge_report", "render_policy_report",
           "render_refinement_report", "write_report"]

_CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;margin:0;
background:#f6f7f9;color:#1d2330}
main{max-width:1080px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1e7;
padding-bottom:4px}h3{font-size:14px;margin:16px 0 6px}
.meta{color:#5b6475;font-size:12.5px}.note{color:#5b6475;font-size:12.5px;margin:6px 0}
.warn{background:#fff4e0;border-left:4px solid #e08a2e;padding:8px 12px;margin:10px 0}
table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:13px}
th,td{border:1px solid #dde1e7;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.text{max-width:520px;white-space:pre-wrap;word-break:break-word}
.charts{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.charts img{background:#fff;border:1px solid #dde1e7;max-width:100%}
.ok{color:#2e8b57;font-weight:600}.bad{color:#c0392b;font-weight:600}
details{margin:6px 0}summary{cursor:pointer;color:#3565a8}
"""


# ------------------------------------------------------------------------------------------- helpers


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x: Any, pct: bool = False) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "—"
        if abs(x) < (5e-4 if not pct else 5e-5):
            x = 0.0  # no "-0.000"
        return f"{100 * x:.1f}%" if pct else f"{x:.3f}"
    return str(x)


def _get(d: Any, *path: Any, default: Any = None) -> Any:
    for p in path:
        if isinstance(d, Mapping) and p in d:
            d = d[p]
        elif isinstance(d, Sequence) and not isinstance(d, str) and isinstance(p, int) and -len(d) <= p < len(d):
            d = d[p]
        else:
            return default
    return d


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, cls: str = "") -> str:
    """A table; a cell given as ``("text", css_class)`` gets that class, numbers are right-aligned."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for c in row:
            if isinstance(c, tuple):
                cells.append(f'<td class="{_e(c[1])}">{c[0]}</td>')
            elif _is_num(c):
                cells.append(f'<td class="n">{_e(_fmt(c))}</td>')
            else:
                cells.append(f"<td>{_e(_fmt(c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f' class="{_e(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">'


def _charts(*imgs: str) -> str:
    return '<div class="charts">' + "".join(imgs) + "</div>" if imgs else ""


def _page(title: str, subtitle: str, body: Sequence[str]) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body><main><h1>{_e(title)}</h1>"
            f"<div class=\"meta\">{subtitle} · generated {stamp} by inkforge</div>"
            + "".join(body) + "</main></body></html>\n")


def _ci(sec: Any, key: str) -> str:
    c = _get(sec, "ci", key)
    if isinstance(c, Sequence) and len(c) == 2 and all(_is_num(v) for v in c):
        return f" [{c[0]:.2f}, {c[1]:.2f}]"
    return ""


def _cell_ci(sec: Any, key: str) -> tuple[str, str]:
    return (_e(_fmt(_get(sec, key)) + _ci(sec, key)), "n")


def _generic(value: Any, depth: int = 0) -> str:
    """Any JSON value as HTML: mappings as key/value tables, lists of mappings as tables, scalars as text."""
    if isinstance(value, Mapping):
        if not value:
            return "<span class=\"note\">(empty)</span>"
        rows = []
        for k, v in value.items():
            inner = _generic(v, depth + 1) if depth < 4 else _e(json.dumps(v, ensure_ascii=False)[:400])
            rows.append((_e(k), (inner, "text")))
        return _table(["key", "value"], [(("<b>" + k + "</b>", ""), v) for k, v in rows])
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) for v in value):
            keys = list(dict.fromkeys(k for v in value[:50] for k in v))
            body = [[(_generic(v.get(k), depth + 1) if isinstance(v.get(k), Mapping | list) else _e(_fmt(v.get(k))),
                      "text") for k in keys] for v in value[:50]]
            more = f'<div class="note">… {len(value) - 50} more rows</div>' if len(value) > 50 else ""
            return _table(keys, body) + more
        return _e(", ".join(_fmt(v) for v in value[:100]) + (" …" if len(value) > 100 else ""))
    return _e(_fmt(value))


def _other_sections(report: Mapping[str, Any], known: set[str]) -> list[str]:
    """Sections the renderer has no layout for: section-like ones as judge tables, the rest generically."""
    extra = [(k, v) for k, v in report.items() if k not in known and isinstance(v, Mapping | list) and v]
    if not extra:
        return []
    out = ["<h2>Other sections</h2>"]
    for k, v in extra:
        if _section_like(v):
            out.append(f"<h3>{_e(k)}</h3>" + _judge_table([(k, v)]))
        else:
            out.append(f"<details open><summary>{_e(k)}</summary>{_generic(v)}</details>")
    return out


def _flat(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return "; ".join(str(x) for x in v)
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _section_like(v: Any) -> bool:
    return isinstance(v, Mapping) and isinstance(v.get("judge"), Mapping) and "n" in v


def _judge_table(sections: Sequence[tuple[str, Any]]) -> str:
    """Judge beside the fixed and fitted length rules, one row per section (overall, slice, test...)."""
    rows = []
    for name, sec in sections:
        j = _get(sec, "judge", default={})
        fx = _get(sec, "length_baseline", "fixed", default={})
        ft = _get(sec, "length_baseline", "fitted", default={})
        rng = _get(sec, "range")
        label = f"{name} ({rng[0]}–{rng[1]} chars)" if isinstance(rng, Sequence) and len(rng) == 2 else name
        rows.append([label, _get(sec, "n"), _get(sec, "positives"),
                     _cell_ci(j, "accuracy"), _cell_ci(j, "kappa"), _get(j, "strict", "accuracy"),
                     _cell_ci(fx, "accuracy"), _cell_ci(fx, "kappa"),
                     (_e(f"{_fmt(_get(ft, 'accuracy'))} (t*={_fmt(_get(ft, 'threshold'))})"), "n"),
                     (_e(f"{_fmt(_get(sec, 'parse_failures', 'count'))} "
                         f"({_fmt(_get(sec, 'parse_failures', 'rate'), True)})"), "n")])
    return _table(["rows", "n", "good", "judge accuracy [95% CI]", "judge κ [95% CI]", "judge strict acc.",
                   f"len ≥ {LENGTH_RULE_THRESHOLD} accuracy", f"len ≥ {LENGTH_RULE_THRESHOLD} κ",
                   "len ≥ t* accuracy (fitted)", "judge failures"], rows, cls="judge")


def band_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per length band: n, judge and baseline accuracy and κ (κ from the report's ``items`` when it has them).

    Example:
        >>> rep = {"items": [{"length": 10, "label": 0, "verdict": 0}, {"length": 12, "label": 1, "verdict": 1},
        ...                  {"length": 60, "label": 1, "verdict": 0}]}
        >>> [(b["band"], b["n"], b["judge_accuracy"]) for b in band_rows(rep) if b["n"]]
        [('0-19', 2, 1.0), ('50-69', 1, 0.0)]
    """
    items = [i for i in report.get("items") or [] if isinstance(i, Mapping) and _is_num(i.get("length"))]
    given = {b.get("band"): b for b in report.get("by_length_band") or [] if isinstance(b, Mapping)}
    if not items:
        return [dict(b) for b in given.values()]
    out = []
    for lo, hi in LENGTH_BANDS:
        name = f"{lo}-{hi - 1}" if hi is not None else f"{lo}+"
        idx = [i for i in items if i["length"] >= lo and (hi is None or i["length"] < hi)]
        judged = [i for i in idx if i.get("verdict") is not None]
        y = [int(i["label"]) for i in idx]
        base = [int(i["length"] >= LENGTH_RULE_THRESHOLD) for i in idx]
        yj = [int(i["label"]) for i in judged]
        pj = [int(i["verdict"]) for i in judged]
        out.append({**given.get(name, {}), "band": name, "n": len(idx), "judged": len(judged),
                    "judge_accuracy": accuracy(yj, pj) if judged else None,
                    "length_baseline_accuracy": accuracy(y, base) if idx else None,
                    # κ of a band with one class is 0 by definition, not a finding: shown, but read with care.
                    "judge_kappa": cohen_kappa(yj, pj) if len(judged) >= 2 else None,
                    "length_baseline_kappa": cohen_kappa(y, base) if len(idx) >= 2 else None})
    return out


def _band_table(bands: Sequence[Mapping[str, Any]]) -> str:
    return _table(["length band (chars)", "n", "human good rate", "judge accuracy", f"len ≥ {LENGTH_RULE_THRESHOLD} "
                   "accuracy", "judge κ", f"len ≥ {LENGTH_RULE_THRESHOLD} κ", "judge failures"],
                  [[b.get("band"), b.get("n"), (_e(_fmt(b.get("positive_rate"), True)), "n"),
                    (_e(_fmt(b.get("judge_accuracy"), True)), "n"),
                    (_e(_fmt(b.get("length_baseline_accuracy"), True)), "n"), b.get("judge_kappa"),
                    b.get("length_baseline_kappa"), b.get("parse_failures")] for b in bands], cls="bands")


def _confusion_table(conf: Mapping[str, Any]) -> str:
    return _table(["human label \\ judge", "Bad", "Good"],
                  [["bad", conf.get("tn"), conf.get("fp")], ["good", conf.get("fn"), conf.get("tp")]], cls="confusion")


def _row_text(rows: Sequence[Mapping[str, Any]] | None, i: Any, key: str) -> str:
    if rows is None or not isinstance(i, int) or not 0 <= i < len(rows):
        return "—"
    return str(rows[i].get(key, "—"))


def _disagreements(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]] | None, limit: int) -> list[str]:
    items = [i for i in report.get("items") or [] if isinstance(i, Mapping)]
    if not items:
        return []
    wrong = [i for i in items if i.get("verdict") is not None and i.get("label") is not None
             and int(i["verdict"]) != int(i["label"])]
    failed = [i for i in items if i.get("verdict") is None]
    out = [f"<h2>Disagreements: judge vs human ({len(wrong)} of {len(items)} rows)</h2>"]
    if rows is None:
        out.append('<p class="note">Response texts are not in the report; the command passes the labelled rows '
                   "to show them.</p>")
    # Short "good" and long "bad" rows first: the ones a length rule gets wrong are the informative ones.
    wrong.sort(key=lambda i: (int(i["label"]) == int(i.get("length", 0) >= LENGTH_RULE_THRESHOLD), i.get("i", 0)))
    body = [[i.get("i"), _row_text(rows, i.get("i"), "query"), (_e(_row_text(rows, i.get("i"), "response")), "text"),
             i.get("length"), "good" if int(i["label"]) else "bad", "Good" if int(i["verdict"]) else "Bad"]
            for i in wrong[:limit]]
    out.append(_table(["row", "query", "response", "chars", "human", "judge"], body, cls="disagreements"))
    if len(wrong) > limit:
        out.append(f'<p class="note">… and {len(wrong) - limit} more (see the JSON report).</p>')
    if failed:
        out.append(f"<h3>Judge failures ({len(failed)})</h3>")
        out.append(_table(["row", "status", "error", "raw output"],
                          [[i.get("i"), i.get("status"), (_e(str(i.get("error") or "")[:500]), "text"),
                            (_e(str(i.get("raw") or "")[:500]), "text")] for i in failed[:limit]], cls="failures"))
    return out


def _length_explains(ex: Any) -> str:
    if not isinstance(ex, Mapping):
        return ""
    br = ex.get("best_rule_for_verdicts") or {}
    return (f'<p class="note">Length explains the judge: its verdicts agree {_e(_fmt(br.get("agreement"), True))} with '
            f'"len ≥ {_e(br.get("threshold", "?"))}" (κ {_e(_fmt(br.get("kappa")))}) and '
            f'{_e(_fmt(ex.get("agreement_with_fixed_rule"), True))} with "len ≥ {LENGTH_RULE_THRESHOLD}"; '
            f'point-biserial r(verdict, length) = {_e(_fmt(ex.get("point_biserial_verdict_length")))} vs '
            f'r(human label, length) = {_e(_fmt(ex.get("point_biserial_label_length")))}.</p>')


def _agreement(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]] | None, limit: int,
               ) -> list[str]:
    """The judge-vs-humans sections shared by the judge and audit reports."""
    sections = [(k, report[k]) for k in ("overall", "slice") if isinstance(report.get(k), Mapping)]
    out = ["<h2>Judge vs length-only baseline (same rows)</h2>", _judge_table(sections)]
    out.append(_length_explains(report.get("length_explains_judge")))
    bands = band_rows(report)
    conf = _get(report, "overall", "judge", "confusion")
    imgs = []
    if bands:
        imgs.append(_img(charts.band_chart(bands), "accuracy and kappa by length band, judge vs length baseline"))
    if isinstance(conf, Mapping):
        imgs.append(_img(charts.confusion_chart(conf), "confusion matrix"))
    out.append("<h2>By response length</h2>" + _charts(*imgs))
    if bands:
        out.append(_band_table(bands))
    if isinstance(conf, Mapping):
        out.append("<h3>Confusion matrix (all rows the judge scored)</h3>" + _confusion_table(conf))
    out += _disagreements(report, rows, limit)
    return out


# ------------------------------------------------------------------------------------------ renderers


_JUDGE_KNOWN = {"overall", "slice", "length_explains_judge", "by_length_band", "bootstrap", "notes", "rubric",
                "model", "usage", "items", "labels"}


def render_judge_report(report: Mapping[str, Any], *, rows: Sequence[Mapping[str, Any]] | None = None,
                        title: str = "Judge evaluation", max_examples: int = 25) -> str:
    """The page of an ``eval-judge`` report (:func:`~inkforge.evaluation.judge_eval.aevaluate_judge`).

    Args:
        report: The report dict, as written to JSON.
        rows: The labelled rows it was computed on (``query``, ``response``), to show disagreement texts.
        title: Page title.
        max_examples: Disagreements (and failures) shown.
    """
    rb = report.get("rubric") or {}
    model = report.get("model") or {}
    sub = (f"rubric {_e(rb.get('version', '—'))}{' (task default)' if rb.get('default') else ''} · "
           f"task {_e(rb.get('task', '—'))} · judge {_e(model.get('model', '—') if isinstance(model, Mapping) else model)}"
           f" · labels {_e(_get(report, 'labels', 'path', default='—'))}")
    body = _agreement(report, rows, max_examples)
    usage = report.get("usage")
    if isinstance(usage, Mapping) and usage:
        body.append("<h2>Model usage</h2>" + _generic(usage))
    if report.get("notes"):
        body.append(f'<p class="note">{_e(report["notes"])}</p>')
    body += _other_sections(report, _JUDGE_KNOWN)
    return _page(title, sub, body)


_AUDIT_KNOWN = {"rubric", "judge", "n", "failures", "human_agreement", "length_bias", "position_bias", "attacks",
                "consistency", "usage", "labels", "items"}


def render_audit_report(report: Mapping[str, Any], *, rows: Sequence[Mapping[str, Any]] | None = None,
                        title: str = "Judge audit", max_examples: int = 25) -> str:
    """The page of an ``audit-judge`` report (:func:`~inkforge.rewards.audit.audit_judge`)."""
    rb = report.get("rubric") or {}
    sub = (f"rubric {_e(rb.get('version', '—'))} · task {_e(rb.get('task', '—'))} · judge "
           f"{_e(_get(report, 'judge', 'model', 'model', default='—'))} · {_e(report.get('n', '?'))} labelled items")
    ha = dict(report.get("human_agreement") or {})
    if "items" in report and "items" not in ha:
        ha["items"] = report["items"]
    body = _agreement(ha, rows, max_examples) if ha else []
    lb = report.get("length_bias")
    if isinstance(lb, Mapping):
        bands = [b for b in lb.get("by_length_band") or [] if isinstance(b, Mapping)]
        best = lb.get("best_length_rule_for_verdicts") or {}
        body.append("<h2>Length bias</h2>")
        if bands:
            body.append(_charts(_img(charts.rate_by_band_chart(bands), "Good rate by length band")))
        body.append(_table(["check", "judge", "reference"], [
            ["r(verdict, length)", lb.get("point_biserial_verdict_length"),
             f"r(human label, length) = {_fmt(lb.get('point_biserial_label_length'))}"],
            [f"best length rule ≈ verdicts (len ≥ {best.get('threshold', '?')})",
             (_e(_fmt(best.get("agreement"), True)), "n"), "100% = the verdicts are a length rule"]]))
    pb = report.get("position_bias")
    if isinstance(pb, Mapping):
        body.append("<h2>Position bias (pairwise judge, both orders)</h2>" + _table(
            ["pairs", "both orders valid", "flip rate", "first-position win rate", "tie rate", "failed calls"],
            [[pb.get("pairs"), pb.get("both_orders_valid"), (_e(_fmt(pb.get("flip_rate"), True)), "n"),
              (_e(_fmt(pb.get("first_position_win_rate"), True)), "n"), (_e(_fmt(pb.get("tie_rate"), True)), "n"),
              pb.get("failed_calls")]]))
    at = report.get("attacks")
    if isinstance(at, Mapping):
        body.append("<h2>Attacks</h2>" + _generic(at))
    co = report.get("consistency")
    if isinstance(co, Mapping):
        body.append("<h2>Consistency across samples</h2>" + _generic(co))
    if report.get("failures"):
        body.append("<h2>Failures</h2>" + _generic(report["failures"]))
    body += _other_sections(report, _AUDIT_KNOWN)
    return _page(title, sub, body)


def render_refinement_report(summary: Mapping[str, Any], history: Sequence[Mapping[str, Any]], *,
                             hard_negatives: Sequence[Mapping[str, Any]] | None = None,
                             title: str = "Judge refinement", max_examples: int = 25) -> str:
    """The page of a ``refine-judge`` run: its ``summary.json`` and ``history.jsonl`` (and hard negatives)."""
    gates = [h for h in history if isinstance(h, Mapping) and h.get("target", "S_D") == "S_D"
             and h.get("kind") in ("initial", "candidate", "no_proposal")]
    points = [{"iteration": int(h.get("iteration", 0)), "kappa": _get(h, "metrics", "kappa"),
               "accepted": bool(h.get("accepted")), "best_kappa": h.get("best_kappa"), "kind": h.get("kind")}
              for h in gates]
    base_k = _get(summary, "length_baseline_val", "kappa")
    if base_k is None:
        base_k = next((_get(h, "metrics", "length_baseline_kappa") for h in gates
                       if _get(h, "metrics", "length_baseline_kappa") is not None), None)
    best = summary.get("best") or {}
    sub = (f"status {_e(summary.get('status', '—'))} · stop {_e(summary.get('stop_reason', '—'))} · "
           f"{_e(summary.get('iterations_done', '?'))} iterations · task {_e(summary.get('task', '—'))} · "
           f"best rubric {_e(best.get('version', '—'))} (iteration {_e(best.get('iteration', '—'))})")
    body = []
    if points:
        body.append("<h2>κ over iterations</h2>" + _charts(_img(charts.iterations_chart(
            points, baseline_kappa=base_k if _is_num(base_k) else None), "kappa over refinement iterations")))
    rows = []
    for h in gates:
        m = h.get("metrics") or {}
        verdict = ("starting rubric" if h.get("kind") == "initial" else "no proposal" if h.get("kind") == "no_proposal"
                   else "accepted" if h.get("accepted") else "rejected")
        css = "ok" if verdict == "accepted" else "bad" if verdict == "rejected" else ""
        rows.append([h.get("iteration"), h.get("version") or "—", (_e(verdict), css), m.get("kappa"),
                     h.get("best_kappa"), (_e(_fmt(m.get("accuracy"), True)), "n"),
                     (_e(_fmt(m.get("slice_accuracy"), True)), "n"),
                     (_e(_fmt(m.get("length_baseline_accuracy"), True)), "n"), m.get("length_baseline_kappa"),
                     (_e(_fmt(m.get("failure_rate"), True)), "n"), (_e(str(h.get("reason") or "")), "text")])
    if rows:
        body.append("<h2>Rubric proposals (validation split)</h2>" + _table(
            ["iteration", "version", "decision", "κ", "best κ", "accuracy", "slice accuracy",
             f"len ≥ {LENGTH_RULE_THRESHOLD} accuracy", f"len ≥ {LENGTH_RULE_THRESHOLD} κ", "failures", "reason"],
            rows, cls="proposals"))
    conf = _get(best, "metrics", "confusion")
    if isinstance(conf, Mapping):
        body.append("<h3>Confusion matrix of the best rubric</h3>" + _charts(_img(charts.confusion_chart(conf),
                                                                                  "confusion matrix")))
    fooled = [h for h in hard_negatives or [] if isinstance(h, Mapping) and not h.get("caught")]
    if fooled:
        body.append(f"<h2>Hard negatives that fooled the judge ({len(fooled)})</h2>" + _table(
            ["iteration", "query", "flawed response", "planted flaws", "judge's explanation"],
            [[h.get("iteration"), h.get("prompt") or h.get("query"),
              (_e(h.get("rejected") or h.get("response") or ""), "text"),
              (_e(_flat(h.get("planted_flaws"))), "text"), (_e(_flat(h.get("detector_explanation"))), "text")]
             for h in fooled[:max_examples]], cls="hard-negatives"))
    known = {"status", "stop_reason", "thread_id", "iterations_done", "task", "language", "best", "config",
             "usage_this_process", "fingerprint", "initial_metrics", "length_baseline_val"}
    facts = {k: v for k, v in summary.items() if k not in known and not isinstance(v, Mapping | list)}
    body.append("<h2>Run</h2>" + _generic({**facts, **{k: summary[k] for k in ("labels", "proposals",
                                                                               "hard_negatives", "items")
                                                       if isinstance(summary.get(k), Mapping)}}))
    body += _other_sections(summary, known | {"labels", "proposals", "hard_negatives", "items", "this_run",
                                              "usage", "runs", "warnings"})
    return _page(title, sub, body)


_POLICY_KNOWN = {"model", "n_prompts", "n_completions", "length", "distinct_1", "distinct_2", "self_bleu",
                 "excellence", "reward_model", "band", "band_30_50", "samples", "lengths", "baseline"}


def _policy_rows(name: str, r: Mapping[str, Any]) -> list[Any]:
    ln = r.get("length") or {}
    return [name, r.get("model"), r.get("n_completions"), ln.get("mean"), ln.get("median"), ln.get("p10"),
            ln.get("p90"), (_e(_fmt(_get(r, "band_30_50", "n"))), "n"), (_e(_fmt(_get(r, "excellence", "rate"), True)), "n"),
            (_e(_fmt(_get(r, "band_30_50", "excellence", "rate"), True)), "n"), _get(r, "reward_model", "mean"),
            r.get("distinct_2"), r.get("self_bleu")]


def render_policy_report(report: Mapping[str, Any], *, baseline: Mapping[str, Any] | None = None,
                         title: str = "Policy evaluation") -> str:
    """The page of an ``eval-policy`` report, with the length distribution before (``baseline``) and after."""
    baseline = baseline if baseline is not None else report.get("baseline")
    series = []
    if isinstance(baseline, Mapping):
        series.append({"name": f"before: {baseline.get('model', 'baseline')}", "length": baseline.get("length"),
                       "lengths": baseline.get("lengths")})
    series.append({"name": f"{'after: ' if series else ''}{report.get('model', 'policy')}", "length": report.get("length"),
                   "lengths": report.get("lengths")})
    band = report.get("band") or [30, 50]
    body = ["<h2>Completion length</h2>" + _charts(_img(charts.length_distribution_chart(series, band=band),
                                                        "completion length distribution"))]
    rows = ([_policy_rows("before", baseline)] if isinstance(baseline, Mapping) else []) + \
        [_policy_rows("after" if isinstance(baseline, Mapping) else "policy", report)]
    body.append(_table(["", "model", "completions", "length mean", "median", "p10", "p90",
                        f"{band[0]}–{band[1]} chars", "excellence", f"excellence {band[0]}–{band[1]}", "RM mean",
                        "distinct-2", "self-BLEU"], rows, cls="policy"))
    body.append(f'<p class="note">Longer is not better by itself: human labels of greetings follow length, so compare '
                f"quality on the {band[0]}–{band[1]}-character band.</p>")
    samples = [s for s in report.get("samples") or [] if isinstance(s, Mapping)]
    if samples:
        body.append("<h2>Samples</h2>" + _table(["query", "completion", "chars", "judge", "RM"], [
            [s.get("query"), (_e(s.get("completion", "")), "text"), s.get("length"), s.get("judge"),
             s.get("reward_model")] for s in samples], cls="samples"))
    body += _other_sections(report, _POLICY_KNOWN)
    return _page(title, f"policy {_e(report.get('model', '—'))} · {_e(report.get('n_prompts', '?'))} prompts", body)


def write_report(path: str | os.PathLike[str], page: str) -> Path:
    """Write a rendered page atomically (a crash never leaves half a report)."""
    return atomic_write(Path(path), page)
