"""A dataset held whole on the run's device, sampled with replacement."""

from __future__ import annotations

import torch

from zoo.imaging import to_unit_range
from zoo.interfaces import Batch


class InMemoryDataset:
    """uint8 images ``[N, C, H, W]`` and int64 labels ``[N]``, moved once to ``device`` and kept there as uint8.

    :meth:`sample` draws ``batch_size`` indices uniformly with replacement, on the device, from a
    ``torch.Generator`` (which must live on the same device): the same generator state gives the same batch.
    Batches are converted to float32 ``[-1, 1]`` only after indexing, so memory holds one byte per pixel.
    ``num_classes`` defaults to ``labels.max() + 1``; pass it (0 for a dataset without classes) to override.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        device: torch.device | str = "cpu",
        num_classes: int | None = None,
    ):
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) == 0:
            raise ValueError(f"images must be non-empty uint8 [N, C, H, W], got {images.dtype} {list(images.shape)}")
        if labels.shape != (len(images),):
            raise ValueError(f"labels must have shape [{len(images)}], got {list(labels.shape)}")
        self.images = images.to(device)
        self.labels = labels.to(device=device, dtype=torch.long)
        self.num_classes = int(labels.max()) + 1 if num_classes is None else num_classes

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A batch of ``batch_size`` images float32 ``[B, C, H, W]`` in ``[-1, 1]`` and their labels int64 ``[B]``."""
        index = torch.randint(len(self), (batch_size,), generator=generator, device=self.device)
        return Batch(images=to_unit_range(self.images[index]), labels=self.labels[index])
