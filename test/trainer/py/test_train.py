import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

from models.trainer.data import Prepared
from models.trainer.model import Encoder, ModelConfig, init_source_tensors
from models.trainer.train import FitOptions, fit

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


if __name__ == "__main__":
    unittest.main()
