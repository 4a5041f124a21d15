"""evaluate --html (models/trainer/report.py): a real tiny bundle trained on a synthetic prepared folder,
evaluated, and its page parsed back with html.parser. The page is rendered from the JSON summary alone
(after a json round trip), so what it shows is what --report holds."""
import hashlib
import io
import json
import shutil
import tempfile
import unittest
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from models.trainer import modes, report, train
from models.trainer import __main__ as trainer_cli
from models.trainer.evaluate import evaluate, write_report
from models.trainer.train import FitOptions

from synthetic import make_prepared

# row 3 is the template that makes a synthetic window anomalous (synthetic.py). '$HOME_$' is broken
# mathtext: drawn as a matplotlib label without parse_math=False it raises.
HOSTILE = 'worker <script>alert("x")</script> failed & $HOME_$ -->'
TEMPLATES = ["open <*>", "read <*> bytes", "close <*>", HOSTILE, "never seen"]


class Page(HTMLParser):
    """What the tests read back: tags, the number cells (data-key / data-value / shown text), template texts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags, self.ids, self.figures, self.cells, self.template_texts, self.external = [], [], [], [], [], []
        self.svg_in_figure = {}
        self._figure, self._cell, self._text = None, None, None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.append(a["id"])
        for name in ("href", "xlink:href", "src"):
            if name in a and not a[name].startswith(("#", "data:")):
                self.external.append(a[name])
        if tag == "figure":
            self._figure = a["id"]
            self.figures.append(a["id"])
        elif tag == "svg" and self._figure is not None:
            self.svg_in_figure[self._figure] = self.svg_in_figure.get(self._figure, 0) + 1
        elif tag == "td" and "data-key" in a:
            self._cell = [a["data-key"], a["data-value"], ""]
        elif tag == "td" and a.get("class") == "t":
            self._text = ""

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        elif tag == "td" and self._cell is not None:
            self.cells.append(tuple(self._cell))
            self._cell = None
        elif tag == "td" and self._text is not None:
            self.template_texts.append(self._text)
            self._text = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data
        if self._text is not None:
            self._text += data


def lookup(r: dict, key: str):
    for part in key.split("."):
        r = r[int(part)] if isinstance(r, list) else r[part]
    return r


def prepared(path: Path, n: int = 240) -> Path:
    """The synthetic folder with templates.jsonl and the embedder hash a bundle records (the same vectors for any n)."""
    prep = make_prepared(path, n=n)
    meta = json.loads((prep / "meta.json").read_text())
    meta["embedder"]["sha256"] = hashlib.sha256((prep / "embedder.safetensors").read_bytes()).hexdigest()
    (prep / "meta.json").write_text(json.dumps(meta))
    (prep / "templates.jsonl").write_text("".join(json.dumps({"row": i, "id": f"t{i}", "text": t, "count": 1}) + "\n"
                                                  for i, t in enumerate(TEMPLATES)))
    return prep


class ReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = cls.root = Path(cls.tmp.name)
        prep = prepared(root / "prep")  # 24 validation windows, 6 anomalous: a warning
        cls.arch = {"d_model": 32, "ffn": 64, "layers": 1, "adapter_size": 8, "max_len": 16, "dropout": 0.0, "log_attention": True}
        modes.train_new_encoder("pretrain", prep, "synth", root / "bundle", cls.arch, FitOptions(epochs=3, batch_size=16, lr=3e-3),
                                torch.device("cpu"))
        r = evaluate(root / "bundle", prep, "synth", torch.device("cpu"))
        write_report(r, root / "report.json")
        cls.report = json.loads((root / "report.json").read_text())  # the JSON summary, as --report writes it
        report.write_html(cls.report, root / "report.html")
        cls.html = (root / "report.html").read_text()
        cls.page = Page(cls.html)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_four_inline_svg_plots_and_nothing_to_fetch(self):
        self.assertEqual(self.page.figures, ["pr-curve", "score-histogram", "confusion-matrix", "templates"])
        self.assertEqual(self.page.tags.count("svg"), 4)
        self.assertEqual(self.page.svg_in_figure, {f: 1 for f in self.page.figures}, "one SVG per figure")
        self.assertEqual({"script", "link", "img", "iframe", "object"} & set(self.page.tags), set(), "nothing to run or load")
        self.assertEqual(self.page.external, [], "no external resource")
        self.assertEqual(len(self.page.ids), len(set(self.page.ids)), "ids are unique across the four SVGs")

    def test_metric_cells_equal_the_json_summary(self):
        cells = {k: (json.loads(v), shown) for k, v, shown in self.page.cells}
        for key in ("model.test.precision", "model.test.recall", "model.test.f1", "model.test.roc_auc", "model.test.tp",
                    "model.test.fp", "model.test.fn", "model.test.tn", "model.test.pr_auc", "model.score_us_per_window",
                    "baselines.logistic_regression.test.f1", "baselines.decision_tree.test.roc_auc", "baselines.nearest_neighbor.test.f1",
                    "baselines.nearest_neighbor.test.pr_auc", "baselines.unseen_template.test.recall",
                    "baselines.unseen_template.score_us_per_window", "baselines.decision_tree.spread.f1.mean",
                    "baselines.decision_tree.spread.pr_auc.sd", "split.test.windows", "split.test.anomalous", "templates.top.0.share_anomalous"):
            self.assertIn(key, cells)
        for key, (value, shown) in cells.items():
            self.assertEqual(value, lookup(self.report, key), key)
        value, shown = cells["model.test.f1"]
        self.assertEqual(shown, f"{value:.3f}")

    def test_detector_rows_sit_beside_the_model(self):
        table = self.html[self.html.index('<table id="metrics">'):]
        table = table[: table.index("</table>")]
        for name in ("logistic regression", "decision tree", "nearest neighbor", "unseen template"):
            self.assertIn(f"<tr><th>{name}</th>", table, name)
        self.assertIn("<th>PR-AUC</th>", table)
        self.assertIn('<ul class=note id="detectors">', self.html)
        self.assertIn("not chosen on validation", self.html, "unseen_template's fixed rule is on the page")

    def test_few_validation_windows_of_a_class_put_a_warning_box_at_the_top(self):
        self.assertEqual(self.report["warnings"], ["validation holds 6 anomalous windows: its F1 and threshold move a lot with one window"])
        self.assertIn("warnings", self.page.ids)
        box = self.html.index('<div id="warnings"')
        self.assertLess(box, self.html.index('<table id="summary">'), "above the tables")
        self.assertIn("<li>validation holds 6 anomalous windows", self.html)

    def test_enough_windows_of_both_classes_give_no_warning_box(self):
        prep = prepared(self.root / "prep-480", n=480)  # validation: 48 windows, 12 anomalous; test: 96, 24
        r = json.loads(json.dumps(evaluate(self.root / "bundle", prep, "synth", torch.device("cpu"))))
        self.assertEqual(r["warnings"], [])
        html_text = report.render_html(r)
        self.assertNotIn('id="warnings"', html_text)
        self.assertNotIn("Warning", html_text)

    def test_warnings_are_escaped(self):
        r = dict(self.report, warnings=['validation holds <b>4</b> "anomalous" windows'])
        self.assertIn("<li>validation holds &lt;b&gt;4&lt;/b&gt; &quot;anomalous&quot; windows</li>", report.render_html(r))

    def test_several_bundles_give_the_model_s_spread_over_seeds(self):
        second = self.root / "bundle-seed-43"
        modes.train_new_encoder("pretrain", self.root / "prep", "synth", second, self.arch,
                                FitOptions(epochs=3, batch_size=16, lr=3e-3, seed=43), torch.device("cpu"))
        args = trainer_cli.parser().parse_args(["evaluate", "--bundle", str(self.root / "bundle"), "--bundle", str(second),
                                                "--data", str(self.root / "prep"), "--source", "synth", "--device", "cpu"])
        with mock.patch("sys.stderr", io.StringIO()) as err:  # the table
            r = json.loads(json.dumps(trainer_cli.run(args)))
        self.assertEqual(r["model"]["test"], self.report["model"]["test"], "model is the first bundle's, as with one --bundle")
        self.assertNotIn("model_seeds", self.report, "one bundle: no spread")
        runs = r["model_seeds"]["runs"]
        self.assertEqual([(x["bundle"], x["seed"]) for x in runs], [(str(self.root / "bundle"), 42), (str(second), 43)])
        self.assertEqual(runs[0]["test"], r["model"]["test"])
        f1 = [x["test"]["f1"] for x in runs]
        self.assertAlmostEqual(r["model_seeds"]["spread"]["f1"]["mean"], sum(f1) / 2)
        self.assertAlmostEqual(r["model_seeds"]["spread"]["f1"]["sd"], abs(f1[0] - f1[1]) / 2 ** 0.5)
        self.assertIn("model over 2 bundles", err.getvalue(), "the table prints the spread")
        self.assertIn("warning: validation holds 6 anomalous windows", err.getvalue())
        page = Page(report.render_html(r))
        self.assertIn(("model_seeds.spread.f1.mean", json.dumps(r["model_seeds"]["spread"]["f1"]["mean"]),
                       f"{r['model_seeds']['spread']['f1']['mean']:.3f}"), page.cells)

    def test_log_text_is_escaped(self):
        self.assertFalse("<script" in self.html, "no raw <script> anywhere in the page (SVG comments included)")
        self.assertIn("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;", self.html)
        self.assertIn(HOSTILE, self.page.template_texts, "the text reads back as written")
        self.assertEqual(self.report["templates"]["top"][0]["text"], HOSTILE, "the anomalous template ranks first")

    def test_the_json_holds_what_the_plots_draw(self):
        t = self.report["split"]["test"]
        h = self.report["curves"]["score_histogram"]
        self.assertEqual((sum(h["normal"]), sum(h["anomalous"])), (t["windows"] - t["anomalous"], t["anomalous"]))
        pr = self.report["curves"]["precision_recall"]
        self.assertEqual(pr["recall"], sorted(pr["recall"]))
        self.assertEqual(pr["recall"][-1], 1.0)
        self.assertAlmostEqual(pr["precision"][-1], t["anomalous"] / t["windows"], places=6, msg="the lowest cut flags every window")
        top = self.report["templates"]["top"][0]
        self.assertEqual((top["row"], top["share_anomalous"], top["share_normal"]), (3, 1.0, 0.0))
        self.assertIsInstance(top["mean_contribution"], float)

    def test_a_test_split_without_anomalies_still_renders(self):
        prep = self.root / "prep-quiet"
        shutil.copytree(self.root / "prep", prep)
        labels = np.load(prep / "labels.npy")
        labels[json.loads((prep / "meta.json").read_text())["split"]["test"]["start"]:] = 0
        np.save(prep / "labels.npy", labels)
        r = json.loads(json.dumps(evaluate(self.root / "bundle", prep, "synth", torch.device("cpu"))))
        self.assertIsNone(r["model"]["test"]["roc_auc"])
        self.assertEqual((r["curves"]["precision_recall"]["recall"], r["templates"]["top"]), ([], []))
        page = Page(report.render_html(r))
        self.assertEqual(page.tags.count("svg"), 4, "each plot says why it is empty instead of failing")
        self.assertIn(("model.test.roc_auc", "null", "n/a"), page.cells)

    def test_pr_vertices_are_the_first_and_last_cut_of_each_recall_level(self):
        pr = report.precision_recall(np.array([0.9, 0.8, 0.7, 0.6, 0.5]), np.array([1, 0, 0, 1, 0]))
        self.assertEqual(pr["threshold"], [0.9, 0.7, 0.6, 0.5])
        self.assertEqual(pr["recall"], [0.5, 0.5, 1.0, 1.0])
        self.assertEqual(pr["precision"], [1.0, round(1 / 3, 6), 0.5, 0.4])
        self.assertEqual(report.precision_recall(np.array([0.2, 0.1]), np.array([0, 0]))["recall"], [])


@unittest.skipIf(train.tqdm is None, "no tqdm in this Python: no bars at all")
class ProgressTest(unittest.TestCase):
    """tqdm bars only when stderr is a terminal: never in CI logs or pipes."""

    def test_a_bar_on_a_terminal_and_nothing_in_a_pipe(self):
        class Terminal(io.StringIO):
            def isatty(self):
                return True

        for stream, drawn in ((io.StringIO(), False), (Terminal(), True)):
            with mock.patch("sys.stderr", stream):
                self.assertEqual(list(train.progress(iter(range(3)), 3, "epoch 1/1")), [0, 1, 2])
            self.assertEqual("epoch 1/1" in stream.getvalue(), drawn, stream.getvalue())


if __name__ == "__main__":
    unittest.main()
