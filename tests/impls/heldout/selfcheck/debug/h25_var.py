import sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import numpy as np
from h25_welford_is_training import BN as _BN

class BNcast(_BN):
    """running stats cast to the input dtype after each update"""
    def forward(self, x, is_training):
        y = super().forward(x, is_training)
        if is_training:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        return y

class BNtwo(_BN):
    """two-pass float64 stats instead of Welford"""
    @staticmethod
    def _welford(rows):
        m = rows.mean(axis=0)
        return m, ((rows - m) ** 2).mean(axis=0)

class BNround(_BN):
    """float64 Welford, batch statistics rounded to float32 before blending (running stays float64)"""
    @staticmethod
    def _welford(rows):
        m, v = _BN._welford(rows)
        return m.astype(np.float32).astype(np.float64), v.astype(np.float32).astype(np.float64)
