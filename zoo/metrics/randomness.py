"""Scoring must not change training: every global random state is restored after an evaluation.

Training noise (z, a VAE's reparameterisation, WGAN-GP's interpolation factors) comes from torch's global
generators. Anything drawn from them during an evaluation (torch's DataLoader draws a seed each time it is
iterated; a plugin's generator might call ``torch.randn`` in ``forward``) would shift the rest of the run by an
amount that depends on the evaluation schedule and on the reference cache's warmth.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch


@contextlib.contextmanager
def preserved_random_state() -> Iterator[None]:
    """Run the body, then put back torch's CPU generator, the generator of every CUDA device already initialised,
    numpy's global ``RandomState`` and Python's ``random`` exactly as they were (also when the body raises).

    CUDA devices not yet initialised are not touched: nothing has drawn from them, so the run cannot depend on them.
    """
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=cuda_devices):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
