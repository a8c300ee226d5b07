"""The numbers behind the explorer's step view: every intermediate of every attention layer, taken
from the model's own forward pass.

``recording(model)`` switches on each attention module's ``recorder`` (``MultiHeadAttention``,
Transformer-XL's ``RelativeMultiHeadAttention`` and DeBERTa's ``DisentangledSelfAttention``). A
forward with ``output_attentions=True`` then runs the einsum reference path (``nn/attention.py``,
``_einsum_attention``), the same code that returns the attention weights, and each module appends
what it computed: its query and key inputs,
q, k and v per head, q.k, the scale, the mask (or Transformer-XL's position term), the scores, the
softmax weights, each head's weighted sum of values, their concatenation and the output projection.
With rotary positions (the Llama family) q and k are also kept as they were before the rotation;
with DeBERTa's disentangled attention, its content-to-position and position-to-content terms.
Nothing is recomputed afterwards, here or in the page.

The letters follow the walk-through the explorer shows: a query sequence A of M tokens is expressed
through a sequence B of N tokens (B = A for self-attention); per head, queries and keys are d_qk
wide and values d_v wide.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from ..nn.attention import MultiHeadAttention
from ..nn.disentangled import DisentangledSelfAttention
from ..nn.relative import RelativeMultiHeadAttention

RECORDED = (MultiHeadAttention, RelativeMultiHeadAttention, DisentangledSelfAttention)


@contextlib.contextmanager
def recording(model: nn.Module, enabled: bool = True) -> Iterator[dict[str, list[dict]]]:
    """Within the block, attention forwards with weights append their intermediates to the yielded
    lists, one list per module, keyed by the module's name in ``model``. Not ``enabled``: nothing is
    kept (an empty dict), so a caller that wants no steps holds no intermediates.

    An attention with rotary positions (the Llama family) also keeps its queries and keys as they
    were before the rotation (``q_unrotated``, ``k_unrotated``) and the positions they were turned by:
    forward hooks on the rotary module and on the attention take them from the same forward."""
    modules = [(n, m) for n, m in model.named_modules() if isinstance(m, RECORDED)] if enabled else []
    handles = []
    for _, module in modules:
        module.recorder = []
        if getattr(module, "rotary", None) is not None:
            handles += _rotation_hooks(module)
    try:
        yield {name: module.recorder for name, module in modules}
    finally:
        for handle in handles:
            handle.remove()
        for _, module in modules:
            module.recorder = None


def _rotation_hooks(attn: nn.Module) -> list:
    """Hooks that add the rotary module's inputs to the record ``attn`` appends in the same forward.
    The rotary module is shared by every layer, so its hook keeps only the call made inside ``attn``."""
    seen: dict = {}
    inside = []

    def enter(module, args):
        inside.append(len(module.recorder))

    def rotated(module, args, output):
        if inside:
            q, k, position_ids = args
            seen.update(q_unrotated=q, k_unrotated=k, positions=position_ids)

    def leave(module, args, output):
        before = inside.pop()
        if seen and len(module.recorder) > before:
            module.recorder[-1].update(seen)
        seen.clear()

    return [attn.register_forward_pre_hook(enter), attn.rotary.register_forward_hook(rotated),
            attn.register_forward_hook(leave)]  # fmt: skip


def steps_by_kind(recorded: dict[str, list[dict]], kinds: list[str]) -> dict[str, list[dict]]:
    """Group the recorded forwards as the attention maps are grouped: ``{kind: [one per layer]}``.

    ``kinds`` names the maps wanted ("self", or "encoder" / "decoder" / "cross"). A decoder layer's
    ``self_attn`` is "decoder" and its ``cross_attn`` "cross", the encoder-decoder's
    ``encoder_layers`` are "encoder", and any other attention is "self". Modules are in layer order
    (``named_modules`` follows the layer lists). Each record is taken at batch row 0.
    """
    steps: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for name, calls in recorded.items():
        kind = _kind(name)
        if not calls or kind not in steps:
            continue
        if len(calls) != 1:
            raise RuntimeError(f"{name} ran {len(calls)} times while recording; record one forward")
        steps[kind].append(_row(calls[0]))
    return steps


def _kind(name: str) -> str:
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ("cross_attn", "self_attn"):
        return "cross" if leaf == "cross_attn" else "decoder"
    return "encoder" if name.startswith("encoder_layers.") else "self"


def _row(record: dict) -> dict:
    """One forward's intermediates at batch row 0, shapes named with the step view's letters."""
    q, k, dots = record["q"][0], record["k"][0], record["dots"][0]  # (H, M, d_qk), (Hkv, N, d_qk), (H, M, N)
    mask = record["mask"]
    if mask is not None:  # broadcastable to (B, H, M, N): made explicit for row 0
        mask = torch.broadcast_to(mask, record["dots"].shape)[0]
    key_input = record["key_input"]
    if key_input is record["query_input"]:
        key_input = None  # self-attention: B = A
    return {
        "x": record["query_input"][0],  # (M, D): what the queries are projected from
        "y": None if key_input is None else key_input[0],  # (N, D_kv): what keys and values come from; None: x
        "q": q,
        "k": k,
        "v": record["v"][0],  # (Hkv, N, d_v)
        "dots": dots,
        "scale": float(record["scale"]),
        "mask": mask,  # (H, M, N): boolean keep-mask, or an additive bias (-inf = masked), or None
        "mask_kind": _mask_kind(record),
        "scaled": record["scaled"][0],  # (H, M, N): dots * scale
        "scores": record["scores"][0],  # (H, M, N): dots * scale + mask
        "weights": record["weights"][0],  # (H, M, N): softmax over N
        "heads": record["heads"][0],  # (H, M, d_v): each head's weighted sum of values
        "concat": record["concat"][0],  # (M, H * d_v)
        "output": record["output"][0],  # (M, D): the output projection of the concatenation
        **_rotation(record),
        **_disentangled(record),
    }


def _disentangled(record: dict) -> dict:
    """DeBERTa: its two position terms at batch row 0 (a term the layer lacks is None); nothing for
    other attention. Their sum, with -inf on padding keys, is the record's "mask"."""
    if record.get("bias") != "disentangled":
        return {}
    return {name: record[name][0] if name in record else None for name in ("c2p", "p2c")}  # (H, M, N) each


def _rotation(record: dict) -> dict:
    """Rotary attention: q and k before the rotation and the positions they were turned by, at batch
    row 0; nothing for other attention."""
    if "q_unrotated" not in record:
        return {}
    return {
        "q_unrotated": record["q_unrotated"][0],  # (H, M, d_qk): after q_proj (and qk-norm), before rotation
        "k_unrotated": record["k_unrotated"][0],  # (Hkv, N, d_qk)
        "positions": record["positions"][0],  # (M,) position ids (B or 1, M): each query's (and key's) m
    }


def _mask_kind(record: dict) -> str | None:
    if record.get("bias") == "position":
        return "position"  # Transformer-XL: terms (b) + (d), scaled, with the causal mask as -inf
    if record.get("bias") == "disentangled":
        return "disentangled"  # DeBERTa: c2p + p2c, scaled, with the padding mask as -inf
    mask = record["mask"]
    if mask is None:
        return None
    return "keep" if mask.dtype == torch.bool else "additive"


def step_json(row: dict, decimals: int) -> dict:
    """Plain lists for the page: values rounded to ``decimals``, -inf (masked) as null. The weights
    are left out: the page reads them from the head view's maps, so both views show one row."""
    out = {}
    for name, value in row.items():
        if name != "weights":
            out[name] = _plain(value, decimals) if isinstance(value, Tensor) else value
    return out


def _plain(t: Tensor, decimals: int):
    if t.dtype == torch.bool:
        return t.tolist()
    scale = 10**decimals
    t = torch.round(t.double() * scale) / scale
    if bool(torch.isfinite(t).all()):
        return t.tolist()
    return _nulls(t.tolist())


def _nulls(values):
    if isinstance(values, list):
        return [_nulls(v) for v in values]
    return values if values == values and abs(values) != float("inf") else None
