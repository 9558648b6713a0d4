"""A synchronized BN that fails on one rank, differently per input (verify must report that
rank with its traceback, stop the others, go on with fresh ranks after a raise or an exit,
stop after a hang, and leave no process behind). The rank is read from torch.distributed."""

import os
import time

import torch
import torch.distributed as dist

from bncheck.check.sync_batchnorm import SyncBatchNorm


def _note_pid():
    """Every rank writes its pid where the test says (to check that none outlives verify): the
    pid as the test's process sees it. The target process may run in its own PID namespace,
    where os.getpid() gives the namespace's number; /proc/self names the process in /proc's."""
    path = os.environ.get("BNCHECK_TEST_PIDFILE")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{int(os.readlink('/proc/self'))}\n")


class FailsByCase(SyncBatchNorm):
    """2-D float64 input: rank 2 raises; 2-D float32: rank 0 exits; 4-D: rank 1 hangs."""

    def forward(self, x):
        _note_pid()
        rank = dist.get_rank()
        if x.dim() == 4:
            while rank == 1:
                time.sleep(0.05)
        elif x.dtype == torch.float64:
            if rank == 2:
                raise ValueError("rank 2 refuses this shard")
        elif rank == 0:
            os._exit(3)
        return super().forward(x)
