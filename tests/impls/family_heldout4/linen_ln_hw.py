"""flax.linen LayerNorm normalizing the last two axes, with a scale and bias per element of
those two axes (reduction_axes = feature_axes = (-2, -1)); Flax's other defaults kept."""

import flax.linen as nn

ln2d = nn.LayerNorm(reduction_axes=(-2, -1), feature_axes=(-2, -1), epsilon=1e-6)
