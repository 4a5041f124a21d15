"""``evaluate --html``: what the plots draw (JSON sections) and one self-contained HTML page.

``summarize`` adds three sections to evaluate's JSON report, all on the test split:

- ``curves.precision_recall``: the vertices of the precision-recall step curve. Cutting the
  scores from the top, recall only moves when an anomalous window is flagged; between two such
  cuts only false positives are added (precision falls, recall stays). So the first and the last
  cut of each recall level draw the curve exactly: at most two points per anomalous window.
- ``curves.score_histogram``: window counts per class in equal score bins on [0, 1].
- ``templates``: templates over-represented in anomalous windows (RANKING below), with the
  model's mean contribution to the logit beside them.

The page opens with the report's ``warnings`` (splits too small to trust) in a box, then the
model and every detector (``baselines``, detectors.py) side by side, and their spread over seeds.

``render_html`` draws the page from that JSON alone (it takes nothing else), so the JSON
summary (``--report``, stdout) holds every number the page shows. The plots are matplotlib
SVG inlined as text (Agg, no display, no network); every string from the logs, the paths or
the bundle goes through ``html.escape``.
"""
from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .data import Prepared

HIST_BINS = 50
TOP_TEMPLATES = 15
MAX_PR_POINTS = 400
RANKING = ("share of anomalous test windows containing the template minus share of normal test windows "
           "containing it (largest first; only templates more common in anomalous windows)")
CONTRIBUTION = ("mean, over the anomalous test windows containing the template, of its lines' summed "
                "contribution to the window's logit (model.py: contribution)")


class ReportDependencyError(RuntimeError):
    """matplotlib is missing: --html cannot draw."""


def require_matplotlib() -> None:
    """Fail before scoring, not after: --html needs matplotlib (Debian: python3-matplotlib)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise ReportDependencyError(f"--html needs matplotlib in this Python ({err}); install python3-matplotlib "
                                    "or point $FLUENT_ANOMALY_PYTHON at a Python that has it") from err


def _r(values: np.ndarray) -> List[float]:
    return [round(float(v), 6) for v in values]


def precision_recall(scores: np.ndarray, labels: np.ndarray, max_points: int = MAX_PR_POINTS) -> Dict[str, object]:
    """Vertices of the PR step curve, highest threshold first (a window is flagged when score >= threshold)."""
    y = labels.astype(bool)
    if not y.any():
        return {"recall": [], "precision": [], "threshold": [], "note": "no anomalous window in the test split"}
    order = np.argsort(-scores, kind="stable")
    s, yy = scores[order], y[order]
    cut = np.r_[s[1:] != s[:-1], True]  # equal scores fall on the same side
    tp = np.cumsum(yy)[cut]
    flagged = np.arange(1, len(s) + 1)[cut]
    first = np.r_[True, tp[1:] != tp[:-1]]
    last = np.r_[tp[1:] != tp[:-1], True]
    idx = np.flatnonzero(first | last)
    cuts = len(idx)
    if len(idx) > max_points:  # evenly thinned, both ends kept
        idx = idx[np.unique(np.linspace(0, len(idx) - 1, max_points).round().astype(int))]
    return {"recall": _r(tp[idx] / y.sum()), "precision": _r(tp[idx] / flagged[idx]), "threshold": _r(s[cut][idx]),
            "vertices": cuts, "points": int(len(idx))}


def histogram(scores: np.ndarray, labels: np.ndarray, bins: int = HIST_BINS) -> Dict[str, object]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    y = labels.astype(bool)
    return {"edges": _r(edges), "normal": np.histogram(scores[~y], edges)[0].tolist(),
            "anomalous": np.histogram(scores[y], edges)[0].tolist()}


def read_templates(data: Prepared) -> Dict[int, dict]:
    """templates.jsonl (row, id, text, count) by row; {} when the folder has none."""
    f = data.path / "templates.jsonl"
    if not f.is_file():
        return {}
    return {int(t["row"]): t for t in (json.loads(line) for line in f.read_text().splitlines() if line)}


def rank_templates(data: Prepared, rows: np.ndarray, contribution_sum: Optional[np.ndarray] = None,
                   top: int = TOP_TEMPLATES) -> Dict[str, object]:
    """Templates most over-represented in the anomalous windows of ``rows`` (RANKING).

    ``contribution_sum[k]``: template row k's per-line contributions summed over the anomalous windows of ``rows``.
    """
    K = data.vectors.shape[0]
    y = data.labels[rows].astype(bool)
    w = data.windows[rows]
    r, c = np.nonzero(w >= 0)
    pairs = np.unique(r.astype(np.int64) * K + w[r, c])  # (window, template) once per window
    win, tmpl = pairs // K, pairs % K
    anom = np.bincount(tmpl[y[win]], minlength=K)
    norm = np.bincount(tmpl[~y[win]], minlength=K)
    n_anom, n_norm = int(y.sum()), int((~y).sum())
    share_a = anom / max(n_anom, 1)
    share_n = norm / max(n_norm, 1)
    diff = share_a - share_n
    order = sorted((k for k in range(K) if diff[k] > 0), key=lambda k: (-diff[k], -share_a[k], k))[:top]
    info = read_templates(data)
    ranked = []
    for k in order:
        t = info.get(k, {})
        mean_c = None if contribution_sum is None or anom[k] == 0 else round(float(contribution_sum[k] / anom[k]), 6)
        ranked.append({"row": k, "id": t.get("id"), "text": t.get("text", f"template row {k}"),
                       "anomalous_windows": int(anom[k]), "normal_windows": int(norm[k]),
                       "share_anomalous": round(float(share_a[k]), 6), "share_normal": round(float(share_n[k]), 6),
                       "mean_contribution": mean_c})
    return {"split": "test", "ranked_by": RANKING, "mean_contribution": CONTRIBUTION,
            "anomalous_windows": n_anom, "normal_windows": n_norm, "top": ranked}


def summarize(data: Prepared, rows: np.ndarray, scores: np.ndarray, contribution_sum: Optional[np.ndarray] = None) -> Dict[str, object]:
    """The sections evaluate adds to its report: what the HTML plots draw (test split)."""
    labels = data.labels[rows]
    return {"curves": {"split": "test", "precision_recall": precision_recall(scores, labels), "score_histogram": histogram(scores, labels)},
            "templates": rank_templates(data, rows, contribution_sum)}


# ---- HTML ------------------------------------------------------------------------------------------------

def write_html(report: Dict[str, object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")


def render_html(report: Dict[str, object]) -> str:
    """One self-contained page from evaluate's JSON report (nothing else is read)."""
    e = html.escape
    m = report["model"]
    figures = [
        ("pr-curve", "Precision-recall curve (test split)", _plot_pr(report),
         "Each point is one threshold: further right flags more anomalies, higher means fewer false alarms. "
         "The marker is the bundle's threshold (chosen on validation); the detectors' points use theirs. "
         "The dotted line is the share of anomalous windows: what flagging at random scores."),
        ("score-histogram", "Scores by class (test split)", _plot_histogram(report),
         "How many windows of each class got each score. A good model puts normal windows left and anomalous "
         "ones right of the threshold line; anomalous bars left of it are misses, normal bars right of it false alarms."),
        ("confusion-matrix", "Confusion matrix at the bundle's threshold (test split)", _plot_confusion(report),
         "Rows: the label; columns: the decision. The diagonal is right; top right are false alarms, bottom left misses."),
        ("templates", "Templates over-represented in anomalous windows (test split)", _plot_templates(report),
         f"Ranked by the {e(RANKING)}. Long bars in the anomalous colour and short ones in the normal colour mark "
         "events that mostly occur in anomalies; the table gives the full text and the model's mean contribution "
         "(positive: the template pushes windows towards anomalous)."),
    ]
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>fluent-anomaly eval: {e(str(report['source']))}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>fluent-anomaly eval: source <code>{e(str(report['source']))}</code></h1>",
        _warnings(report), _summary_table(report), _metrics_table(report), _seeds_table(report), _detectors_note(report),
    ]
    for fid, title, svg, how in figures:
        parts.append(f'<figure id="{fid}"><h2>{e(title)}</h2>{svg}<figcaption>{how}</figcaption></figure>')
    parts.append(_templates_table(report))
    parts.append(f"<p class=note>Threshold {m['threshold']:.4f}: {e(str(m.get('threshold_rule')))}. "
                 "Every number on this page is in the JSON summary (<code>--report</code>).</p></body></html>")
    return "\n".join(parts) + "\n"


CSS = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}"
       "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
       "td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:2em 0}svg{max-width:100%;height:auto}"
       "figcaption,.note{color:#555;font-size:.9em}code{font-size:.9em}td.t{font-family:monospace;font-size:.85em}"
       "#warnings{border:2px solid #c05a00;background:#fff3e0;padding:.5em 1em;margin:1em 0}#warnings h2{margin:.2em 0;font-size:1.1em;color:#a04000}")


def _get(report: Dict[str, object], key: str):
    v = report
    for part in key.split("."):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v


def _cell(report: Dict[str, object], key: str, fmt: str = "{:.3f}") -> str:
    """A number cell that names where it comes from in the JSON (the test reads data-key / data-value)."""
    v = _get(report, key)
    shown = "n/a" if v is None else fmt.format(v)
    return f'<td class=n data-key="{html.escape(key)}" data-value="{html.escape(json.dumps(v))}">{shown}</td>'


def _summary_table(r: Dict[str, object]) -> str:
    e = html.escape
    sp = r["split"]
    m = r["model"]
    rows = [("bundle", f"<code>{e(str(r['bundle']))}</code> (encoder sha256 <code>{e(str(r['encoder_sha256'])[:16])}</code>…)"),
            ("model", e(f"{m['mode']}, {m['layers']} layer(s), d_model {m['d_model']}, Log-Attention "
                        f"{'on' if m['log_attention'] else 'off'}, {m['trainable_params']:,} trainable parameters")),
            ("source", f"<code>{e(str(r['source']))}</code>"),
            ("data folder", f"<code>{e(str(r['data']))}</code>"),
            ("split", e(f"{sp['method']}" + (f" (seed {sp['seed']})" if sp.get("seed") is not None else ""))),
            ("threshold", e(f"{m['threshold']:.4f} ({m.get('threshold_rule')})")),
            ("device", e(f"{r['device']}; evaluated in {r.get('eval_wall_s', 'n/a')} s"))]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    counts = "".join(f"<tr><th>{name.replace('_', ' ')}</th>{_cell(r, f'split.{name}.windows', '{:,}')}"
                     f"{_cell(r, f'split.{name}.anomalous', '{:,}')}</tr>" for name in ("train", "train_used", "validation", "test"))
    return (f'<table id="summary">{body}</table>'
            f'<table id="counts"><tr><th>split</th><th>windows</th><th>anomalous</th></tr>{counts}</table>')


def _warnings(r: Dict[str, object]) -> str:
    """The report's warnings in a box at the top of the page; nothing when there are none."""
    ws = r.get("warnings") or []
    if not ws:
        return ""
    items = "".join(f"<li>{html.escape(str(w))}</li>" for w in ws)
    return f'<div id="warnings" role="alert"><h2>Warning: read these figures with care</h2><ul>{items}</ul></div>'


def _metrics_table(r: Dict[str, object]) -> str:
    cols = ("precision", "recall", "f1", "roc_auc", "pr_auc", "tp", "fp", "fn", "tn", "threshold")
    names = {"f1": "F1", "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC"}
    head = "".join(f"<th>{names.get(c, c)}</th>" for c in cols) + "<th>µs / window</th>"
    fmt = {"tp": "{:,}", "fp": "{:,}", "fn": "{:,}", "tn": "{:,}", "threshold": "{:.4f}"}
    lines = [f'<table id="metrics"><tr><th>test split</th>{head}</tr>']
    entries = [("model", f"{r['model']['mode']} (this bundle)")] + [(f"baselines.{b}", b.replace("_", " ")) for b in r["baselines"]]
    for key, name in entries:
        entry = _get(r, key)
        if "test" not in entry:
            lines.append(f'<tr><th>{html.escape(name)}</th><td colspan={len(cols) + 1}>skipped: {html.escape(str(entry.get("skipped")))}</td></tr>')
            continue
        cells = "".join(_cell(r, f"{key}.test.{c}", fmt.get(c, "{:.3f}")) for c in cols)
        cells += _cell(r, f"{key}.score_us_per_window", "{:,.1f}")
        lines.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return "".join(lines) + "</table>"


def _seeds_table(r: Dict[str, object]) -> str:
    """Mean and sd over seeds: the model's bundles (model_seeds) and the seeded detectors."""
    rows = []
    if "model_seeds" in r:
        rows.append(("model_seeds.spread", f"model ({len(r['model_seeds']['runs'])} bundles)"))
    rows += [(f"baselines.{b}.spread", f"{b.replace('_', ' ')} (seeds {', '.join(map(str, e['seeds']))})")
             for b, e in r["baselines"].items() if "spread" in e]
    if not rows:
        return ""
    keys = (("f1", "F1"), ("pr_auc", "PR-AUC"), ("roc_auc", "ROC-AUC"))
    head = "".join(f"<th>{n} mean</th><th>{n} sd</th>" for _, n in keys)
    body = "".join(f"<tr><th>{html.escape(name)}</th>" + "".join(_cell(r, f"{key}.{k}.{s}") for k, _ in keys for s in ("mean", "sd")) + "</tr>"
                   for key, name in rows)
    return f'<table id="seeds"><tr><th>test split, over seeds</th>{head}</tr>{body}</table>'


def _detectors_note(r: Dict[str, object]) -> str:
    e = html.escape
    items = []
    for b, entry in r["baselines"].items():
        rule = f" Threshold: {e(str(entry['threshold_rule']))}." if "threshold_rule" in entry else ""
        items.append(f"<li><b>{e(b.replace('_', ' '))}</b>: {e(str(entry.get('about', '')))}.{rule}</li>")
    return f'<ul class=note id="detectors">{"".join(items)}</ul>'


def _templates_table(r: Dict[str, object]) -> str:
    t = r["templates"]
    e = html.escape
    if not t["top"]:
        return "<p class=note>No template is more common in anomalous than in normal test windows.</p>"
    head = ("<tr><th>#</th><th>template</th><th>anomalous windows</th><th>normal windows</th>"
            "<th>share anomalous</th><th>share normal</th><th>mean contribution</th></tr>")
    rows = []
    for i, x in enumerate(t["top"]):
        base = f"templates.top.{i}"
        rows.append(f"<tr><td class=n>{i + 1}</td><td class=t>{e(str(x['text']))}</td>"
                    + "".join(_cell(r, f"{base}.{c}", f) for c, f in (("anomalous_windows", "{:,}"), ("normal_windows", "{:,}"),
                                                                   ("share_anomalous", "{:.3f}"), ("share_normal", "{:.3f}"),
                                                                   ("mean_contribution", "{:+.3f}")))
                    + "</tr>")
    return (f'<table id="templates-table">{head}{"".join(rows)}</table>'
            f"<p class=note>Of {t['anomalous_windows']:,} anomalous and {t['normal_windows']:,} normal test windows. "
            f"Mean contribution: {e(t['mean_contribution'])}.</p>")


# ---- plots: matplotlib figures as inline SVG text -------------------------------------------------------

NORMAL, ANOMALOUS, MODEL = "#4c72b0", "#dd5144", "#222222"
DETECTOR_MARKERS = ("s", "^", "D", "v", "P", "X")  # hollow, one shape per detector


def _figure(size=(6.4, 4.0)):
    import matplotlib

    matplotlib.use("Agg")  # no display; the figure is only ever written as SVG text
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    return fig, fig.subplots()


def _svg(fig, name: str) -> str:
    """The figure as inline SVG markup: no XML prolog or doctype, no date, and every id (and reference to
    one) prefixed with the plot's name: matplotlib numbers ids per figure (figure_1, glyph DejaVuSans-30),
    and the four SVGs share one HTML document."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name, "svg.fonttype": "path"}):  # hashed ids: the same on every run
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    return re.sub(r'(\bid="|href="#|url\(#)', lambda m: m.group(1) + name + "-", s)


def _mpl_text(s: str, width: int = 60) -> str:
    """Log text as a tick label: one line, shortened (drawn with parse_math=False: '$' is not mathtext)."""
    s = " ".join(s.split())
    return s if len(s) <= width else s[: width - 1] + "…"


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555")
    ax.set_xticks([])
    ax.set_yticks([])


def _plot_pr(r: Dict[str, object]) -> str:
    fig, ax = _figure()
    pr = r["curves"]["precision_recall"]
    if not pr["recall"]:
        _empty(ax, pr.get("note", "no curve"))
        return _svg(fig, "pr-curve")
    ax.plot(pr["recall"], pr["precision"], color=MODEL, lw=1.5, label="model (all thresholds)")
    t = r["model"]["test"]
    ax.axhline(t["anomalous"] / max(t["windows"], 1), color="#999", ls=":", lw=1, label="random flagging")
    ax.plot([t["recall"]], [t["precision"]], "o", color=ANOMALOUS, ms=9, label=f"bundle threshold {t['threshold']:.3f}")
    for i, (name, b) in enumerate(r["baselines"].items()):
        marker = DETECTOR_MARKERS[i % len(DETECTOR_MARKERS)]
        if "test" in b:
            ax.plot([b["test"]["recall"]], [b["test"]["precision"]], marker, mfc="none", mec=NORMAL, mew=1.5,
                    ms=12 - 1.5 * (i % len(DETECTOR_MARKERS)), label=name.replace("_", " "))  # shrinking: coinciding points stay visible
    ax.set(xlabel="recall", ylabel="precision", xlim=(-0.02, 1.02), ylim=(-0.02, 1.05))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _svg(fig, "pr-curve")


def _plot_histogram(r: Dict[str, object]) -> str:
    fig, ax = _figure()
    h = r["curves"]["score_histogram"]
    counts = [c for c in h["normal"] + h["anomalous"] if c > 0]
    ax.stairs(h["normal"], h["edges"], fill=True, alpha=0.45, color=NORMAL, label=f"normal ({sum(h['normal']):,})")
    ax.stairs(h["anomalous"], h["edges"], fill=True, alpha=0.6, color=ANOMALOUS, label=f"anomalous ({sum(h['anomalous']):,})")
    if counts and max(counts) > 20 * min(counts):  # a few anomalies beside thousands of normal windows
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.8)
    ax.axvline(r["model"]["threshold"], color=MODEL, ls="--", lw=1.2, label=f"threshold {r['model']['threshold']:.3f}")
    ax.set(xlabel="anomaly score", ylabel="windows" + (" (log scale)" if ax.get_yscale() == "log" else ""), xlim=(0, 1))
    ax.legend(fontsize=8)
    return _svg(fig, "score-histogram")


def _plot_confusion(r: Dict[str, object]) -> str:
    fig, ax = _figure((4.2, 3.6))
    t = r["model"]["test"]
    cells = np.array([[t["tn"], t["fp"]], [t["fn"], t["tp"]]])
    ax.pcolormesh([-0.5, 0.5, 1.5], [-0.5, 0.5, 1.5], np.log1p(cells), cmap="Blues")  # vector cells (imshow embeds a PNG)
    ax.invert_yaxis()
    ax.set_aspect("equal")
    for (i, j), v in np.ndenumerate(cells):
        word = [["true negative", "false alarm"], ["miss", "hit"]][i][j]
        ax.text(j, i, f"{v:,}\n{word}", ha="center", va="center",
                color="white" if np.log1p(v) > 0.6 * np.log1p(cells.max()) else "black")
    ax.set_xticks([0, 1], ["normal", "anomalous"])
    ax.set_yticks([0, 1], ["normal", "anomalous"])
    ax.set(xlabel="decision (score >= threshold)", ylabel="label")
    return _svg(fig, "confusion-matrix")


def _plot_templates(r: Dict[str, object]) -> str:
    top = r["templates"]["top"]
    fig, ax = _figure((7.5, 0.9 + 0.32 * max(len(top), 3)))
    if not top:
        _empty(ax, "no template is more common in anomalous windows")
        return _svg(fig, "templates")
    y = np.arange(len(top))
    ax.barh(y - 0.2, [x["share_anomalous"] for x in top], 0.4, color=ANOMALOUS, label="anomalous windows")
    ax.barh(y + 0.2, [x["share_normal"] for x in top], 0.4, color=NORMAL, label="normal windows")
    ax.set_yticks(y, [f"{i + 1}. {_mpl_text(str(x['text']))}" for i, x in enumerate(top)], fontsize=7, parse_math=False)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel("share of test windows containing the template")
    ax.legend(fontsize=8, loc="lower right")
    return _svg(fig, "templates")
