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


if __name__ == "__main__":
    unittest.main()
