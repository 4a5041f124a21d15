"""The detectors evaluate compares the model against (models/trainer/detectors.py), on the synthetic
prepared folder: anomalous windows hold template row 3, normal ones only rows 0-2 (synthetic.py)."""
import tempfile
import unittest
from pathlib import Path

import numpy as np

from models.trainer import detectors
from models.trainer.data import Prepared

from synthetic import make_prepared


class DetectorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = Prepared(make_prepared(Path(cls.tmp.name) / "prep"))
        d = cls.data
        cls.train, cls.val, cls.test = d.rows("train"), d.rows("validation"), d.rows("test")
        cls.entries = detectors.run_all(d, cls.train, cls.val, cls.test, seed=7)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def holds_row_3(self, rows):
        return (self.data.windows[rows] == 3).any(axis=1)

    def test_unseen_template_flags_exactly_the_windows_with_row_3(self):
        known = detectors.normal_templates(self.data, self.train)
        self.assertEqual(known.tolist(), [True, True, True, False, False], "rows 0-2 occur in normal training windows")
        rows = np.arange(len(self.data.labels))
        share = detectors.unseen_share(self.data, rows, known)
        np.testing.assert_array_equal(share > 0, self.holds_row_3(rows))
        w = self.data.windows[rows]
        np.testing.assert_allclose(share, (w == 3).sum(axis=1) / (w >= 0).sum(axis=1))
        t = self.entries["unseen_template"]["test"]
        self.assertEqual((t["fp"], t["fn"], t["tp"]), (0, 0, int(self.holds_row_3(self.test).sum())))
        self.assertEqual(t["threshold"], detectors.UNSEEN_THRESHOLD)
        self.assertIn("not chosen on validation", self.entries["unseen_template"]["threshold_rule"])

    def test_a_template_seen_only_in_anomalous_training_windows_counts_as_unseen(self):
        d = self.data
        anomalous_train = self.train[d.labels[self.train] == 1]
        self.assertFalse(detectors.normal_templates(d, anomalous_train).any(), "no normal window: nothing is known")
        self.assertTrue(detectors.normal_templates(d, self.train)[:3].all())

    def test_weighted_jaccard_is_sum_of_min_over_sum_of_max(self):
        a = np.array([[2, 0, 1, 0], [0, 0, 0, 0]])
        b = np.array([[1, 1, 1, 0], [2, 0, 1, 0], [0, 0, 0, 3]])
        sim = detectors.weighted_jaccard(a, b)
        # min (1,0,1,0) = 2, max (2,1,1,0) = 4; identical; disjoint; the empty window vs non-empty ones: 0
        np.testing.assert_allclose(sim, [[2 / 4, 1.0, 0.0], [0.0, 0.0, 0.0]])
        self.assertEqual(detectors.weighted_jaccard(a[1:], a[1:]).tolist(), [[1.0]], "two empty windows are the same multiset")

    def test_weighted_jaccard_in_blocks_equals_the_direct_formula(self):
        rng = np.random.default_rng(1)
        a, b = rng.integers(0, 4, size=(37, 6)), rng.integers(0, 4, size=(53, 6))
        direct = np.minimum(a[:, None], b[None]).sum(2) / np.maximum(np.maximum(a[:, None], b[None]).sum(2), 1)
        old = detectors.SIMILARITY_CELLS
        try:
            detectors.SIMILARITY_CELLS = 64  # many small blocks
            np.testing.assert_allclose(detectors.weighted_jaccard(a, b), direct, rtol=1e-6)
        finally:
            detectors.SIMILARITY_CELLS = old

    def test_1nn_scores_a_copy_of_a_training_anomaly_above_a_copy_of_a_training_normal(self):
        d = self.data
        score = detectors.nearest_neighbor(d, self.train, seed=0)
        anomaly = self.train[d.labels[self.train] == 1][0]
        normal = self.train[d.labels[self.train] == 0][0]
        s = score(np.array([anomaly, normal]))
        self.assertEqual(s.tolist(), [1.0, 0.0], "distance 0 to its own class, > 0 to the other")

    def test_1nn_without_training_anomalies_ranks_by_distance_to_normal(self):
        d = self.data
        normal_only = self.train[d.labels[self.train] == 0]
        s = detectors.nearest_neighbor(d, normal_only, seed=0)(self.test)
        expected = 1 - detectors.weighted_jaccard(d.event_counts(self.test), d.event_counts(normal_only)).max(axis=1)
        np.testing.assert_allclose(s, expected, rtol=1e-6)

    def test_the_decision_tree_reports_its_spread_over_three_seeds(self):
        dt = self.entries["decision_tree"]
        self.assertEqual(dt["seeds"], [7, 8, 9])
        self.assertEqual(set(dt["spread"]), {"f1", "pr_auc", "roc_auc"})
        for k, v in dt["spread"].items():
            self.assertEqual(v["n"], 3, k)
            self.assertIsInstance(v["sd"], float, k)
        tree = next(x for x in detectors.DETECTORS if x.name == "decision_tree")
        f1 = [detectors.run(tree, self.data, self.train, self.val, self.test, s)["test"]["f1"] for s in (7, 8, 9)]
        self.assertEqual(dt["test"]["f1"], f1[0], "the entry's own metrics are the first seed's")
        self.assertAlmostEqual(dt["spread"]["f1"]["mean"], float(np.mean(f1)), places=12)

    def test_every_entry_holds_both_splits_the_rule_and_the_timings(self):
        for name, e in self.entries.items():
            self.assertLessEqual({"test", "validation", "threshold_rule", "fit_s", "score_us_per_window", "about"}, set(e), name)
            for split, rows in (("test", self.test), ("validation", self.val)):
                m = e[split]
                self.assertEqual((m["windows"], m["anomalous"]), (len(rows), int(self.data.labels[rows].sum())), f"{name} {split}")
                for k in ("precision", "recall", "f1", "roc_auc", "pr_auc", "tp", "fp", "fn", "tn", "threshold"):
                    self.assertIn(k, m, f"{name} {split}")
            self.assertEqual(e["test"]["threshold"], e["validation"]["threshold"], f"{name}: one threshold for both splits")

    def test_training_rows_of_one_class_are_skipped_with_the_reason(self):
        d = self.data
        normal_only = self.train[d.labels[self.train] == 0]
        anomalous_only = self.train[d.labels[self.train] == 1]
        normal = detectors.run_all(d, normal_only, self.val, self.test, seed=0)
        self.assertIn("one class", normal["logistic_regression"]["skipped"])
        self.assertIn("one class", normal["decision_tree"]["skipped"])
        self.assertIn("test", normal["nearest_neighbor"], "1-NN needs normal windows only")
        self.assertIn("test", normal["unseen_template"])
        anomalous = detectors.run_all(d, anomalous_only, self.val, self.test, seed=0)
        for name in ("logistic_regression", "decision_tree", "nearest_neighbor", "unseen_template"):
            self.assertIn("skipped", anomalous[name], name)
        self.assertIn("no normal window", anomalous["unseen_template"]["skipped"])

    def test_a_validation_split_of_one_class_does_not_crash(self):
        d = self.data
        val_normal = self.val[d.labels[self.val] == 0]
        val_anomalous = self.val[d.labels[self.val] == 1]
        for val in (val_normal, val_anomalous, val_normal[:0]):
            for name, e in detectors.run_all(d, self.train, val, self.test, seed=0).items():
                self.assertIsNone(e["validation"]["roc_auc"], name)
                self.assertIsNone(e["validation"]["pr_auc"], name)
                self.assertIsInstance(e["test"]["f1"], float, name)


if __name__ == "__main__":
    unittest.main()
