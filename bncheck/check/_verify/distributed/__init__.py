"""``verify(target, world_size=K)``: a synchronized BN run in K processes over gloo and checked
against the single-process truth.
"""
