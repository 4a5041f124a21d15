import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

from models.trainer.data import Prepared, duplicate_groups
from models.trainer.model import Encoder, ModelConfig, init_source_tensors
from models.trainer.train import FitOptions, Task, fit, fit_many, sampling_weights

from synthetic import make_prepared


def model(data: Prepared, seed: int = 0):
    cfg = ModelConfig(input_dim=data.D, d_model=32, ffn=64, adapter_size=8, layers=1, buckets=64, max_params=data.P)
    gen = torch.Generator().manual_seed(seed)
    return Encoder(cfg, gen), init_source_tensors(cfg, gen)


class TrainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = Prepared(make_prepared(Path(cls.tmp.name) / "prep"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_the_split_is_meta_json_s_and_train_size_takes_the_earliest_windows(self):
        d = self.data
        self.assertEqual(list(d.rows("train", 10)), list(range(10)))
        self.assertEqual(d.rows("validation")[0], d.meta["split"]["validation"]["start"])
        counts = d.event_counts(np.array([0, 1]))
        self.assertEqual(counts.sum(axis=1).tolist(), (d.windows[:2] >= 0).sum(axis=1).tolist())

    def test_full_training_learns_a_separable_task(self):
        enc, src = model(self.data)
        res = fit(enc, src, self.data, torch.device("cpu"), FitOptions(epochs=15, batch_size=16, lr=3e-3, patience=15))
        self.assertGreaterEqual(res.validation["f1"], 0.9, res.history)

    def test_adapter_mode_moves_only_per_source_tensors(self):
        enc, src = model(self.data)
        before_enc = {k: v.clone() for k, v in enc.state_dict().items()}
        before_src = {k: v.clone() for k, v in src.items()}
        fit(enc, src, self.data, torch.device("cpu"), FitOptions(epochs=2, batch_size=16, train_encoder=False))
        for k, v in enc.state_dict().items():
            self.assertTrue(torch.equal(v, before_enc[k]), f"frozen {k} changed")
        moved = [k for k in src if not torch.equal(src[k], before_src[k])]
        self.assertIn("head.weight", moved)
        self.assertTrue(any("adapter" in k for k in moved))

    def test_same_seed_same_result(self):
        runs = []
        for _ in range(2):
            torch.manual_seed(0)
            enc, src = model(self.data)
            res = fit(enc, src, self.data, torch.device("cpu"), FitOptions(epochs=2, batch_size=16, seed=3))
            runs.append((res.threshold, [h["train_loss"] for h in res.history]))
        self.assertEqual(runs[0], runs[1])


class SmallTargetTest(unittest.TestCase):
    """Small targets must train (or say why not), never crash on the scheduler or a one-class validation slice."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_64_training_windows_with_default_epochs_train_with_a_constant_rate(self):
        # 60 windows: 42 train -> 1 step per epoch at batch 64; 10 epochs = 10 steps (OneCycle's 10 % warm-up was 1 step:
        # torch divided by zero)
        data = Prepared(make_prepared(Path(self.tmp.name) / "p", n=60))
        enc, src = model(data)
        with self.assertLogs("models.trainer.train", level="WARNING") as logs:
            res = fit(enc, src, data, torch.device("cpu"), FitOptions(epochs=3, batch_size=64))
        self.assertEqual(res.epochs_run, 3)
        self.assertTrue(any("constant learning rate" in m for m in logs.output), logs.output)
        res = fit(enc, src, data, torch.device("cpu"), FitOptions(epochs=10, batch_size=64))  # 10 steps: OneCycle, 2 warm-up
        self.assertGreaterEqual(res.epochs_run, 1)

    def test_one_class_validation_trains_and_warns(self):
        for value in (0, 1):
            root = make_prepared(Path(self.tmp.name) / f"v{value}")
            meta = json.loads((root / "meta.json").read_text())
            labels = np.load(root / "labels.npy")
            v = meta["split"]["validation"]
            labels[v["start"]:v["end"]] = value
            np.save(root / "labels.npy", labels)
            data = Prepared(root)
            enc, src = model(data)
            with self.assertLogs("models.trainer.train", level="WARNING") as logs:
                res = fit(enc, src, data, torch.device("cpu"), FitOptions(epochs=2, batch_size=16))
            self.assertIsNone(res.validation["roc_auc"], "AUC is undefined with one class, not an exception")
            self.assertTrue(any("validation holds 0" in m for m in logs.output), logs.output)

    def test_two_sources_share_one_encoder_and_keep_their_own_tensors(self):
        a = Prepared(make_prepared(Path(self.tmp.name) / "a", seed=1))
        b = Prepared(make_prepared(Path(self.tmp.name) / "b", seed=2, n=120))
        enc, src_a = model(a)
        src_b = init_source_tensors(enc.cfg, torch.Generator().manual_seed(9))
        res = fit_many(enc, [Task("a", a, src_a), Task("b", b, src_b)], torch.device("cpu"),
                       FitOptions(epochs=12, batch_size=16, lr=3e-3, patience=12))
        self.assertEqual(len(res), 2)
        self.assertEqual(res[0].best_epoch, res[1].best_epoch, "one encoder: one epoch kept for both")
        self.assertEqual((res[0].train_windows, res[1].train_windows), (168, 84))
        self.assertFalse(torch.equal(src_a["head.weight"], src_b["head.weight"]))
        for r in res:
            self.assertGreaterEqual(r.validation["f1"], 0.8, r.history[-1])
        self.assertIn("sources", res[0].history[0])


class SamplingTest(unittest.TestCase):
    def test_identical_template_multisets_are_one_group_drawn_by_the_square_root_of_its_size(self):
        w = np.array([[0, 1, -1], [1, 0, -1], [0, 1, -1], [0, 1, -1], [2, -1, -1]], dtype=np.int32)
        groups = duplicate_groups(w)
        self.assertEqual(len(set(groups[:4])), 1, "order does not matter")
        self.assertNotEqual(groups[4], groups[0])
        weights = sampling_weights(w, "sqrt")
        # group of 4 draws 4 * (1/2) = 2 in total, the singleton 1: sqrt(4) : sqrt(1)
        self.assertAlmostEqual(float(weights[:4].sum() / weights[4]), 2.0)
        self.assertIsNone(sampling_weights(w, "uniform"))


if __name__ == "__main__":
    unittest.main()
