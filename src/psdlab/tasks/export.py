"""The trained network as a single inference graph (ONNX or TorchScript) for use outside
psdlab.

Files are written to a temporary name and moved into place with ``os.replace``, so a run
killed mid-write never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from psdlab.tasks.module import Task
from psdlab.utils.io import atomic_path


@contextlib.contextmanager
def _no_mha_fastpath():
    """Disable the fused nn.TransformerEncoderLayer kernel, which neither the ONNX exporter
    nor a traced graph can represent portably (aten::_transformer_encoder_layer_fwd)."""
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


def _inference_model(module: Task | torch.nn.Module) -> torch.nn.Module:
    model = module.inference_model() if isinstance(module, Task) else module
    return model.eval().cpu()


def export_torchscript(
    module: Task | torch.nn.Module, path: str | os.PathLike, input_shape: Sequence[int]
) -> Path:
    """Trace backbone+heads into a TorchScript file mapping (B, C, L) -> (B, n_outputs).

    ``input_shape`` is (C, L) or (B, C, L). Column names are stored as the ``output_names``
    extra file.
    """
    model = _inference_model(module)
    shape = tuple(input_shape) if len(input_shape) == 3 else (2, *input_shape)
    example = torch.randn(*shape)
    path = Path(path)
    with torch.no_grad(), _no_mha_fastpath():
        traced = torch.jit.trace(model, example, check_trace=False)
    names = ",".join(getattr(model, "output_names", []))
    with atomic_path(path) as tmp:
        torch.jit.save(traced, str(tmp), _extra_files={"output_names": names})
    return path


def export_onnx(
    module: Task | torch.nn.Module,
    path: str | os.PathLike,
    input_shape: Sequence[int],
    opset: int | None = None,
) -> Path:
    """Export backbone+heads to ONNX: input ``waveform`` (batch, C, L), output ``output``
    (batch, n_outputs), dynamic batch axis; column names in the metadata ``output_names``.

    Uses the TorchScript-based exporter (``dynamo=False``): it needs no extra packages and
    handles the GRU/Transformer backbones.
    """
    import onnx

    model = _inference_model(module)
    shape = tuple(input_shape) if len(input_shape) == 3 else (2, *input_shape)
    example = torch.randn(*shape)
    path = Path(path)
    with atomic_path(path) as tmp:
        kwargs = {"opset_version": opset} if opset else {}
        with torch.no_grad(), _no_mha_fastpath():
            torch.onnx.export(
                model,
                (example,),
                str(tmp),
                input_names=["waveform"],
                output_names=["output"],
                dynamic_axes={"waveform": {0: "batch"}, "output": {0: "batch"}},
                dynamo=False,
                **kwargs,
            )
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = "output_names", ",".join(getattr(model, "output_names", []))
        onnx.save(proto, str(tmp))
    return path
