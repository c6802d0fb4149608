"""Latency-constrained differentiable NAS of the integrated denoise + classify model (TF-NAS style).

See docs/nas.md: ops (Table 9), macro (scaled TF-NAS macro-architecture), supernet, lut (device-keyed
latency table), elastic (width elasticity), search (the loop, then retraining), derive (architecture
JSON and the standalone SearchedNet), config (trial-config fields).
"""
