"""Reading helpers shared by the driver tests (real ptys, real time)."""
from __future__ import annotations

import time

import numpy as np

from drivers.base import Driver, SampleBlock


def collect(drv: Driver, seconds: float) -> list[SampleBlock]:
    """Every block ``drv`` delivers within ``seconds``."""
    blocks = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        block = drv.read(0.02)
        if block is not None:
            blocks.append(block)
    return blocks


def values(blocks: list[SampleBlock]) -> np.ndarray:
    """Channel 0 of ``blocks``, concatenated."""
    return np.concatenate([b.values[:, 0] for b in blocks]) if blocks else np.empty(0)
