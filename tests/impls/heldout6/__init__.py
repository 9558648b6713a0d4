"""Held-out corpus 6 for `bncheck verify`: normalization layers in styles
the engine was not taught."""
