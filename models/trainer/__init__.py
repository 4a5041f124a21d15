"""The bundled trainer of fluent-anomaly (TransLog / LogFormer).

Run it as ``python3 -m models.trainer <mode> ...`` from the repository root;
modes are ``pretrain``, ``adapt``, ``finetune``, ``scratch`` and ``evaluate``
(``python3 -m models.trainer --help``). It reads what ``fluent-anomaly prepare``
writes (DESIGN.md, "Prepared data") and writes a model bundle the sidecar loads
(DESIGN.md, "Model bundle"; models/bundle.ts validates it).
"""

__version__ = "0.1.0"
