"""The checks: their inputs, one case evaluated and judged, the forward/backward search, finite
differences and identities, running statistics and eval.
"""
