import unittest

import torch

from models.trainer.model import (Encoder, ModelConfig, _adapter, count_features, count_params, init_source_tensors,
                                  log_attention_bias)


def tiny(**kw) -> tuple[Encoder, dict]:
    cfg = ModelConfig(input_dim=12, d_model=32, ffn=64, adapter_size=8, layers=2, buckets=16, max_params=3, **kw)
    gen = torch.Generator().manual_seed(0)
    enc = Encoder(cfg, gen).eval()
    src = init_source_tensors(cfg, gen)
    for k, v in src.items():  # non-trivial per-source tensors, so every path matters
        src[k] = v + 0.1 * torch.randn(v.shape, generator=gen)
    return enc, src


def batch(B=3, T=6, D=12, P=3, buckets=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(B, T, D, generator=g)
    mask = torch.ones(B, T)
    mask[1, 4:] = 0
    emb = emb * mask[..., None]
    pb = torch.randint(-1, buckets, (B, T, P), generator=g, dtype=torch.int32)
    pb[mask == 0] = -1
    return emb, mask, pb


def pad(emb, mask, pb, extra):
    B, T, D = emb.shape
    return (torch.cat([emb, torch.zeros(B, extra, D)], 1), torch.cat([mask, torch.zeros(B, extra)], 1),
            torch.cat([pb, torch.full((B, extra, pb.shape[2]), -1, dtype=pb.dtype)], 1))


class EncoderTest(unittest.TestCase):
    def test_padding_does_not_change_scores_and_contributes_nothing(self):
        enc, src = tiny()
        emb, mask, pb = batch()
        with torch.no_grad():
            s1, c1, _ = enc(emb, mask, pb, src)
            s2, c2, _ = enc(*pad(emb, mask, pb, 5), src)
        torch.testing.assert_close(s1, s2, atol=1e-6, rtol=0)
        self.assertTrue(torch.all(c2[:, 6:] == 0))
        self.assertTrue(torch.all(c1[1, 4:] == 0), "the padded tail of window 1")

    def test_contributions_sum_to_the_logit(self):
        enc, src = tiny()
        with torch.no_grad():
            score, contribution, logit = enc(*batch(), src)
        torch.testing.assert_close(contribution.sum(1) + src["head.bias"], logit)
        torch.testing.assert_close(torch.sigmoid(logit), score)

    def test_log_attention_reads_the_parameters_of_real_lines_only(self):
        enc, src = tiny()
        emb, mask, pb = batch()
        changed = pb.clone()
        changed[0, 2] = torch.tensor([5, 6, 7], dtype=torch.int32)
        pad_changed = pb.clone()
        pad_changed[1, 5] = torch.tensor([5, 6, 7], dtype=torch.int32)  # a padded position of window 1
        with torch.no_grad():
            base, _, _ = enc(emb, mask, pb, src)
            moved, _, _ = enc(emb, mask, changed, src)
            same, _, _ = enc(emb, mask, pad_changed, src)
        self.assertGreater(abs(float(moved[0] - base[0])), 1e-6, "a line's parameters move its window's score")
        torch.testing.assert_close(moved[1:], base[1:])
        torch.testing.assert_close(same, base, atol=1e-6, rtol=0)

    def test_log_attention_bias_is_the_mean_over_valid_params_and_zero_without_params(self):
        scalars = torch.arange(2 * 10, dtype=torch.float32).reshape(2, 10)  # [H=2, K=10]
        pb = torch.tensor([[[1, 3, -1], [-1, -1, -1]]], dtype=torch.int32)  # line 0: buckets 1, 3; line 1: none
        bias = log_attention_bias(pb, scalars)  # [B,H,1,T]
        self.assertEqual(tuple(bias.shape), (1, 2, 1, 2))
        torch.testing.assert_close(bias[0, :, 0, 0], torch.tensor([2.0, 12.0]))
        torch.testing.assert_close(bias[0, :, 0, 1], torch.zeros(2))

    def test_without_log_attention_buckets_are_ignored(self):
        enc, src = tiny(log_attention=False)
        self.assertNotIn("log_attention", src)
        emb, mask, pb = batch()
        with torch.no_grad():
            a, _, _ = enc(emb, mask, pb, src)
            b, _, _ = enc(emb, mask, torch.randint(0, 16, pb.shape, dtype=torch.int32), src)
        torch.testing.assert_close(a, b)

    def test_count_features_count_lines_of_the_same_template(self):
        g = torch.Generator().manual_seed(3)
        vecs = torch.nn.functional.normalize(torch.randn(3, 12, generator=g), dim=1)
        emb = vecs[[0, 1, 0, 0, 2, 0]].unsqueeze(0)  # template 0 four times, 1 and 2 once, then a padded line
        mask = torch.tensor([[1, 1, 1, 1, 1, 0]], dtype=torch.float32)
        emb = emb * mask[..., None]
        f = count_features(emb, mask)
        torch.testing.assert_close(f[0, :, 0], torch.log1p(torch.tensor([3.0, 1, 3, 3, 1, 0])))
        torch.testing.assert_close(f[0, :5, 1], torch.full((5,), float(torch.log1p(torch.tensor(5.0)))))
        self.assertTrue(torch.all(f[0, 5] == 0), "padding has no features")

    def test_twice_every_line_is_not_the_same_window_as_once_every_line(self):
        """The masked mean (the pooling before issue 16) cannot tell them apart; count-aware pooling can."""
        g = torch.Generator().manual_seed(4)
        vecs = torch.nn.functional.normalize(torch.randn(3, 12, generator=g), dim=1)
        once = vecs[[0, 1, 2]].unsqueeze(0)
        twice = vecs[[0, 0, 1, 1, 2, 2]].unsqueeze(0)
        m1, m2 = torch.ones(1, 3), torch.ones(1, 6)
        p1, p2 = torch.full((1, 3, 3), -1, dtype=torch.int32), torch.full((1, 6, 3), -1, dtype=torch.int32)
        gaps = {}
        for name, kw in (("counts", {}), ("mean", dict(pooling="mean", count_features=False))):
            enc, src = tiny(**kw)
            enc.positions.zero_()  # positions aside: only the pooling and the counts can tell the windows apart
            with torch.no_grad():
                gaps[name] = abs(float(enc(once, m1, p1, src)[2] - enc(twice, m2, p2, src)[2]))
        self.assertLess(gaps["mean"], 1e-5, "mean pooling: the same logit")
        self.assertGreater(gaps["counts"], 1e-3, "count-aware: another logit")

    def test_attention_pooling_weights_lines_and_the_contributions_still_sum_to_the_logit(self):
        enc, src = tiny()
        self.assertIn("pool.query", src)
        emb, mask, pb = batch()
        with torch.no_grad():
            _, contribution, logit = enc(emb, mask, pb, src)
        torch.testing.assert_close(contribution.sum(1) + src["head.bias"], logit)
        enc_mean, src_mean = tiny(pooling="mean")
        self.assertNotIn("pool.query", src_mean)

    def test_new_adapter_is_the_identity(self):
        cfg = ModelConfig(input_dim=12, d_model=32, ffn=64, adapter_size=8, layers=1)
        src = init_source_tensors(cfg, torch.Generator().manual_seed(0))
        h = torch.randn(2, 5, 32)
        torch.testing.assert_close(_adapter(h, src, "layers.0.adapter_attn"), h)

    def test_default_architecture_keeps_the_trainable_share_at_most_5_percent(self):
        for layers in (1, 2, 4):
            cfg = ModelConfig(input_dim=100, layers=layers)  # d_model 512, ffn 2048, adapter 64
            gen = torch.Generator().manual_seed(0)
            frozen, per_source = count_params(Encoder(cfg, gen), init_source_tensors(cfg, gen))
            share = per_source / (frozen + per_source)
            self.assertLessEqual(share, 0.05, f"{layers} layers: {share:.3%}")
            self.assertGreater(share, 0.03)


if __name__ == "__main__":
    unittest.main()
