"""BN implementations in the styles public NumPy code uses (cs231n assignment solutions, the
book "Deep Learning from Scratch", numpy-ml, torch- and keras-like from-scratch layers), right
and wrong, loaded by `bncheck verify` as file targets.

Expected verdicts: tests/realworld_cases.py.
"""
