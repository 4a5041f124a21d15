import struct
import unittest

import numpy as np

from models.trainer import safetensors
from models.trainer.safetensors import SafetensorsError


class SafetensorsTest(unittest.TestCase):
    def test_round_trip_keeps_names_dtypes_shapes_values_and_metadata(self):
        tensors = {"b.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([-1, 7], dtype=np.int32),
                   "scalar": np.array(3.5, dtype=np.float64)}
        data = safetensors.encode(tensors, {"source": "bgl"})
        (n,) = struct.unpack("<Q", data[:8])
        self.assertEqual(n % 8, 0, "header padded to a multiple of 8")
        out, meta = safetensors.decode(data)
        self.assertEqual(meta, {"source": "bgl"})
        self.assertEqual(set(out), set(tensors))
        for k, v in tensors.items():
            self.assertEqual(out[k].dtype, v.dtype)
            np.testing.assert_array_equal(out[k], v)

    def test_truncated_or_inconsistent_files_are_refused(self):
        data = safetensors.encode({"x": np.ones((4, 4), dtype=np.float32)})
        with self.assertRaisesRegex(SafetensorsError, "offsets"):
            safetensors.decode(data[:-4])
        with self.assertRaisesRegex(SafetensorsError, "too short"):
            safetensors.decode(b"\x01")
        with self.assertRaisesRegex(SafetensorsError, "does not fit"):
            safetensors.decode(struct.pack("<Q", 10_000) + b"{}")


if __name__ == "__main__":
    unittest.main()
