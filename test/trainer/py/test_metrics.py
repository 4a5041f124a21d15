import unittest

import numpy as np

from models.trainer import metrics


class MetricsTest(unittest.TestCase):
    def test_threshold_maximises_f1_and_sits_below_the_lowest_flagged_score(self):
        scores = np.array([0.9, 0.8, 0.7, 0.4, 0.35, 0.1])
        labels = np.array([1, 1, 0, 1, 0, 0])
        thr, _ = metrics.best_threshold(scores, labels)
        # flag the top 4 (tp 3, fp 1): F1 0.857, better than top 2 (F1 0.8)
        self.assertAlmostEqual(thr, (0.4 + 0.35) / 2)
        r = metrics.report(scores, labels, thr)
        self.assertEqual((r["tp"], r["fp"], r["fn"], r["tn"]), (3, 1, 0, 2))
        self.assertAlmostEqual(r["f1"], 6 / 7)

    def test_ties_fall_on_the_same_side(self):
        thr, _ = metrics.best_threshold(np.array([0.5, 0.5, 0.2]), np.array([1, 0, 0]))
        self.assertLess(thr, 0.5)
        self.assertGreater(thr, 0.2)

    def test_no_anomaly_in_validation_keeps_the_default(self):
        thr, rule = metrics.best_threshold(np.array([0.9, 0.1]), np.array([0, 0]))
        self.assertEqual(thr, 0.5)
        self.assertIn("no anomaly", rule)
        self.assertIsNone(metrics.roc_auc(np.array([0.9, 0.1]), np.array([0, 0])))

    def test_pr_auc_is_the_mean_precision_at_each_anomaly(self):
        scores = np.array([0.9, 0.8, 0.7, 0.4, 0.35, 0.1])
        labels = np.array([1, 1, 0, 1, 0, 0])
        # anomalies at ranks 1, 2, 4: precision 1/1, 2/2, 3/4 there
        self.assertAlmostEqual(metrics.pr_auc(scores, labels), (1 + 1 + 3 / 4) / 3)
        self.assertAlmostEqual(metrics.report(scores, labels, 0.5)["pr_auc"], (1 + 1 + 3 / 4) / 3)
        # a tie of an anomaly with a normal window: both flagged at once, precision 1/2 at that cut
        self.assertAlmostEqual(metrics.pr_auc(np.array([0.8, 0.8, 0.1]), np.array([1, 0, 0])), 1 / 2)

    def test_one_class_leaves_the_aucs_undefined_and_the_threshold_defined(self):
        for labels in (np.array([0, 0, 0]), np.array([1, 1, 1]), np.array([], dtype=np.uint8)):
            scores = np.linspace(0.2, 0.8, len(labels))
            self.assertIsNone(metrics.pr_auc(scores, labels), labels)
            self.assertIsNone(metrics.roc_auc(scores, labels), labels)
            thr, _ = metrics.best_threshold(scores, labels)
            self.assertTrue(0.0 <= thr <= 1.0, thr)
            r = metrics.report(scores, labels, thr)
            self.assertEqual((r["windows"], r["anomalous"]), (len(labels), int(labels.sum())))
        thr, _ = metrics.best_threshold(np.array([0.9, 0.3]), np.array([1, 1]))
        self.assertEqual(metrics.confusion(np.array([0.9, 0.3]), np.array([1, 1]), thr)["recall"], 1.0,
                         "all anomalous: every window is flagged")

    def test_spread_is_the_mean_and_sample_sd_of_the_defined_values(self):
        runs = [{"f1": 0.5, "pr_auc": 0.7, "roc_auc": None}, {"f1": 0.7, "pr_auc": 0.9, "roc_auc": 0.8}, {"f1": 0.9, "pr_auc": 0.8, "roc_auc": None}]
        sp = metrics.spread(runs)
        self.assertAlmostEqual(sp["f1"]["mean"], 0.7)
        self.assertAlmostEqual(sp["f1"]["sd"], 0.2)  # sqrt(((-0.2)^2 + 0 + 0.2^2) / 2)
        self.assertEqual(sp["f1"]["n"], 3)
        self.assertEqual(sp["roc_auc"], {"mean": 0.8, "sd": None, "n": 1})

    def test_few_windows_of_a_class_give_a_warning(self):
        labels = np.array([1] * 4 + [0] * 30)
        self.assertEqual(metrics.few_windows_warnings("validation", labels, chooses_thresholds=True),
                         ["validation holds 4 anomalous windows: its F1 and threshold move a lot with one window"])
        self.assertEqual(metrics.few_windows_warnings("test", np.array([1] * 10 + [0] * 10), chooses_thresholds=False), [])
        w = metrics.few_windows_warnings("test", np.array([0] * 3), chooses_thresholds=False)
        self.assertEqual(len(w), 2)
        self.assertIn("no anomalous window", w[0])
        self.assertIn("3 normal windows", w[1])


if __name__ == "__main__":
    unittest.main()
