"""Which scene seeds are for what, so that settings tuned on some are never scored on them.

Demonstrations use seeds 0, 1, 2, ... (``df-policy collect``); settings of the runtime are
tuned on the validation seeds; the results tables use the held-out test seeds.
"""

EVAL_SEED_OFFSET = 1_000_000
"""Test seeds (the default of ``df-policy eval``) start here, far from the demonstrations."""

VALIDATION_SEED_OFFSET = 2_000_000
"""Validation seeds (``df-policy eval --first-seed 2000000``) for choosing runtime settings."""
