"""Rich renderings of the reports commands write: judge evaluation, judge audit, policy evaluation.

Every figure is shown beside its baseline, as in the JSON report it renders.

Example:
    >>> # print_judge_report(json.loads(Path("report.json").read_text()))
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from inkforge.cli.display import num, pct


def print_judge_report(report: dict[str, Any], console_out: Console | None = None) -> None:
    """Print the judge beside the length-only baselines, overall and on the length-controlled slice.

    Example:
        >>> # print_judge_report(json.loads(Path("report.json").read_text()))
    """
    con = console_out or Console()
    table = Table(title="Judge vs length-only baseline (same rows)", show_lines=False)
    table.add_column("rows")
    table.add_column("metric")
    table.add_column("judge", justify="right")
    table.add_column("len ≥ 39", justify="right")
    table.add_column("len ≥ t* (fitted)", justify="right")

    def ci(sec: dict[str, Any], key: str) -> str:
        c = (sec.get("ci") or {}).get(key)
        return f" [{c[0]:.2f}, {c[1]:.2f}]" if c else ""

    for name, key in (("all", "overall"), (f"slice {report['slice']['range'][0]}–{report['slice']['range'][1]}",
                                           "slice")):
        sec = report[key]
        j, fx, ft = sec["judge"], sec["length_baseline"]["fixed"], sec["length_baseline"]["fitted"]
        label = f"{name} (n={sec['n']}, {sec['positives']} good)"
        table.add_row(label, "accuracy", f"{num(j['accuracy'])}{ci(j, 'accuracy')}",
                      f"{num(fx['accuracy'])}{ci(fx, 'accuracy')}", f"{num(ft['accuracy'])}{ci(ft, 'accuracy')}")
        table.add_row("", "Cohen's κ", f"{num(j['kappa'])}{ci(j, 'kappa')}", f"{num(fx['kappa'])}{ci(fx, 'kappa')}",
                      f"{num(ft['kappa'])}{ci(ft, 'kappa')}")
        table.add_row("", "recall good / bad", f"{num(j['recall']['good'])} / {num(j['recall']['bad'])}",
                      f"{num(fx['recall']['good'])} / {num(fx['recall']['bad'])}",
                      f"{num(ft['recall']['good'])} / {num(ft['recall']['bad'])}")
        pf = sec["parse_failures"]
        table.add_row("", "judged / failures", f"{j['n']} / {pf['count']}", "—", f"t*={ft['threshold']}",
                      end_section=True)
    con.print(table)
    ex = report["length_explains_judge"]
    br = ex["best_rule_for_verdicts"]
    con.print(f"length explains the judge: its verdicts agree {pct(br['agreement'])} with 'len ≥ {br['threshold']}' "
              f"(κ {num(br['kappa'])}), {pct(ex['agreement_with_fixed_rule'])} with 'len ≥ 39'; "
              f"point-biserial r(verdict, length) = {num(ex['point_biserial_verdict_length'])} "
              f"vs r(human label, length) = {num(ex['point_biserial_label_length'])}")
    pf = report["overall"]["parse_failures"]
    if pf["count"]:
        con.print(f"[yellow]{pf['count']} judge failures ({pct(pf['rate'])}) left out of the judge's metrics:[/yellow] "
                  f"{pf['by_status']}; 'strict' (failures counted wrong) accuracy "
                  f"{num(report['overall']['judge']['strict']['accuracy'])}")


def _fmt_audit(x: Any, pct: bool = False) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{100 * x:.1f}%" if pct else f"{x:.3f}"
    return str(x)


def audit_table(report: dict[str, Any]) -> Table:
    """A rich table of a judge audit's headline figures (each beside its reference)."""
    t = Table(title=f"Judge audit — rubric {report['rubric']['version']} ({report['n']} labelled items)")
    t.add_column("Check")
    t.add_column("Judge", justify="right")
    t.add_column("Reference", justify="right")
    t.add_column("Reference is")
    ov, sl = report["human_agreement"]["overall"], report["human_agreement"]["slice"]
    t.add_row("Human agreement: accuracy", _fmt_audit(ov["judge"]["accuracy"], True),
              _fmt_audit(ov["length_baseline"]["fixed"]["accuracy"], True),
              f"length ≥ {ov['length_baseline']['fixed']['threshold']} chars")
    t.add_row("Human agreement: κ", _fmt_audit(ov["judge"]["kappa"]), _fmt_audit(ov["length_baseline"]["fixed"]["kappa"]),
              "length-only baseline")
    t.add_row(f"Slice {sl['range'][0]}–{sl['range'][1]} chars: accuracy (n={sl['n']})",
              _fmt_audit(sl["judge"]["accuracy"], True), _fmt_audit(sl["length_baseline"]["fixed"]["accuracy"], True),
              "length-only baseline")
    lb = report["length_bias"]
    t.add_row("Length bias: r(verdict, length)", _fmt_audit(lb["point_biserial_verdict_length"]),
              _fmt_audit(lb["point_biserial_label_length"]), "r(human label, length)")
    t.add_row("Length bias: best length rule ≈ verdicts", _fmt_audit(lb["best_length_rule_for_verdicts"]["agreement"], True),
              "", "1.0 = verdicts are a length rule")
    pb = report.get("position_bias")
    if pb:
        t.add_row(f"Position bias: flip rate ({pb['both_orders_valid']} pairs)", _fmt_audit(pb["flip_rate"], True),
                  "0%", "order-independent judge")
        t.add_row("Position bias: first-position win rate", _fmt_audit(pb["first_position_win_rate"], True), "50%",
                  "no position preference")
    at = report.get("attacks")
    if at:
        t.add_row(f"Attacks rated Good ({at['judged']} judged)", _fmt_audit(at["rated_good_rate"], True),
                  _fmt_audit(at["controls_good_rate"], True), "clean controls rated Good")
        if at["rated_good_unguarded_rate"] is not None:
            t.add_row("Attacks rated Good and missed by guards", _fmt_audit(at["rated_good_unguarded_rate"], True), "",
                      "residual risk with default guards")
    co = report.get("consistency")
    if co:
        t.add_row(f"Consistency: unanimous over {co['samples']} samples", _fmt_audit(co["unanimous_rate"], True),
                  "100%", f"{co['all_samples_valid']} items")
    fails = report["failures"]
    t.add_row("Failures (labelled items)", str(sum(fails.values())), "", ", ".join(f"{k}={v}" for k, v in fails.items()))
    return t


def _fmt_policy(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    if pct:
        return f"{100 * value:.1f}%"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_policy_report(report: dict[str, Any], console: Console | None = None) -> None:
    """Print an :func:`~inkforge.training.eval_policy.evaluate_policy` report: figures, then samples."""
    console = console or Console()
    table = Table(title=f"policy {report['model']}: {report['n_completions']} completions")
    table.add_column("metric")
    table.add_column("all", justify="right")
    table.add_column(f"{report.get('band', (30, 50))[0]}–{report.get('band', (30, 50))[1]} chars", justify="right")
    band = report["band_30_50"]
    if "excellence" in report:
        ex, bex = report["excellence"], band.get("excellence", {})
        table.add_row("excellence rate (judge pass)", _fmt_policy(ex["rate"], True), _fmt_policy(bex.get("rate"), True))
        table.add_row("  among scored", _fmt_policy(ex["rate_scored"], True), _fmt_policy(bex.get("rate_scored"), True))
        table.add_row("  unscored (judge failures)", str(ex["unscored"]), str(bex.get("unscored", "–")))
    if "reward_model" in report:
        table.add_row("reward model mean", _fmt_policy(report["reward_model"]["mean"]),
                      _fmt_policy(band.get("reward_model", {}).get("mean")))
    table.add_row("completions", str(report["n_completions"]), str(band["n"]))
    length = report["length"]
    table.add_row("length mean / median", f"{length['mean']:.1f} / {length['median']:.0f}", "")
    table.add_row("length p10 / p90", f"{length['p10']:.0f} / {length['p90']:.0f}", "")
    table.add_row("distinct-1 / distinct-2", f"{report['distinct_1']:.3f} / {report['distinct_2']:.3f}", "")
    table.add_row("self-BLEU", _fmt_policy(report["self_bleu"]), "")
    console.print(table)

    samples = Table(title="samples", show_lines=True)
    samples.add_column("query", max_width=24)
    samples.add_column("completion", max_width=60)
    samples.add_column("len", justify="right")
    samples.add_column("judge", justify="right")
    samples.add_column("RM", justify="right")
    for row in report["samples"]:
        samples.add_row(row["query"], row["completion"], str(row["length"]), _fmt_policy(row["judge"]),
                        _fmt_policy(row["reward_model"]))
    console.print(samples)
