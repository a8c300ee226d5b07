"""Key/value caches for incremental decoding.

When a decoder generates token t, the keys and values of tokens 0..t-1 do not change, so each
attention layer keeps them and only projects the new token. A model-level cache is a list of
layer caches, one per attention layer; ``MultiHeadAttention(..., kv_cache=cache[i])`` appends to
layer i. Tensors are (B, Hkv, S, Dh), heads before positions, as attention consumes them.

* ``DynamicCache`` grows as needed (doubling its buffers): no length limit to choose.
* ``StaticCache`` preallocates ``max_length`` positions and writes new keys in place: no
  reallocation per token, fixed buffer addresses.
* ``CrossAttentionCache`` holds an encoder's keys/values, projected once and then reused.

All support ``reorder(beam_idx)`` (beam search keeps the histories of the surviving beams) and
``crop(length)`` (drop positions from the end, e.g. to roll back a speculative step).
"""

from __future__ import annotations

from torch import Tensor


class _BufferedLayerCache:
    """Keys and values of one layer in (B, Hkv, capacity, Dh) buffers, the first ``length`` positions filled."""

    frozen = False

    def __init__(self) -> None:
        self.length = 0
        self._k: Tensor | None = None
        self._v: Tensor | None = None

    @property
    def keys(self) -> Tensor | None:
        return None if self._k is None else self._k[:, :, : self.length]

    @property
    def values(self) -> Tensor | None:
        return None if self._v is None else self._v[:, :, : self.length]

    def _allocate(self, k: Tensor, v: Tensor, capacity: int) -> None:
        """New buffers of ``capacity`` positions, keeping what is filled."""
        b, h = k.shape[:2]
        new_k, new_v = k.new_empty(b, h, capacity, k.shape[-1]), v.new_empty(b, h, capacity, v.shape[-1])
        if self._k is not None:
            new_k[:, :, : self.length], new_v[:, :, : self.length] = self.keys, self.values
        self._k, self._v = new_k, new_v

    def _write(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        end = self.length + k.shape[2]
        self._k[:, :, self.length : end] = k
        self._v[:, :, self.length : end] = v
        self.length = end
        return self._k[:, :, :end], self._v[:, :, :end]  # ``keys`` and ``values``, without two more calls

    def reorder(self, index: Tensor) -> None:
        if self._k is not None:
            self._k, self._v = self._k.index_select(0, index), self._v.index_select(0, index)

    def crop(self, length: int) -> None:
        self.length = min(self.length, length)


class DynamicLayerCache(_BufferedLayerCache):
    """Buffers that grow as needed: a full buffer is replaced by one twice as long (copying once), so
    appending a token is an in-place write, not a concatenation of everything so far."""

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append (B, Hkv, T, Dh) keys/values; return all (B, Hkv, S, Dh) so far."""
        end = self.length + k.shape[2]
        if self._k is None or end > self._k.shape[2]:
            self._allocate(k, v, max(end, 2 * (0 if self._k is None else self._k.shape[2]), 16))
        return self._write(k, v)


class StaticLayerCache(_BufferedLayerCache):
    """Buffers of ``max_length`` positions, allocated on the first ``update`` and never reallocated."""

    def __init__(self, max_length: int) -> None:
        super().__init__()
        self.max_length = max_length

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write (B, Hkv, T, Dh) keys/values at positions length..length+T-1; return the prefix."""
        if self._k is None:
            self._allocate(k, v, self.max_length)
        if self.length + k.shape[2] > self.max_length:
            raise ValueError(
                f"static cache of max_length={self.max_length} cannot take {k.shape[2]} more positions "
                f"after {self.length}; build it with a larger max_length"
            )
        return self._write(k, v)

    def reorder(self, index: Tensor) -> None:
        if self._k is not None and len(index) == self._k.shape[0]:  # in place: buffers keep their addresses
            self._k.copy_(self._k.index_select(0, index))
            self._v.copy_(self._v.index_select(0, index))
        else:  # a new batch size (e.g. beams expanded after the prompt): new buffers
            super().reorder(index)


class CrossAttentionCache:
    """An encoder's keys/values for one cross-attention layer: stored once, then ``frozen``."""

    def __init__(self) -> None:
        self.keys: Tensor | None = None
        self.values: Tensor | None = None

    @property
    def frozen(self) -> bool:
        return self.keys is not None

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        self.keys, self.values = k, v
        return k, v

    def reorder(self, index: Tensor) -> None:
        if self.keys is not None:
            self.keys, self.values = self.keys.index_select(0, index), self.values.index_select(0, index)

    def crop(self, length: int) -> None:
        """The encoder memory does not grow with decoding; nothing to crop."""


class _ModelCache:
    """A list of layer caches with model-wide reorder and crop."""

    def __init__(self, layers: list) -> None:
        self.layers = layers

    def __getitem__(self, i: int):
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def length(self) -> int:
        """Positions cached so far (those of the first layer)."""
        return self.layers[0].length if self.layers else 0

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (B',) of every layer, e.g. the parents of beam-search hypotheses."""
        for layer in self.layers:
            layer.reorder(index)

    def crop(self, length: int) -> None:
        """Keep the first ``length`` positions of every self-attention layer."""
        if length < 0:
            raise ValueError(f"crop length must be >= 0, got {length}")
        for layer in self.layers:
            layer.crop(length)


class DynamicCache(_ModelCache):
    """One growing cache per attention layer."""

    def __init__(self, n_layers: int) -> None:
        super().__init__([DynamicLayerCache() for _ in range(n_layers)])


class StaticCache(_ModelCache):
    """One preallocated cache of ``max_length`` positions per attention layer."""

    def __init__(self, n_layers: int, max_length: int) -> None:
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        super().__init__([StaticLayerCache(max_length) for _ in range(n_layers)])


class EncoderDecoderCache:
    """A decoder's two caches: its self-attention (``DynamicCache`` or ``StaticCache``, growing with
    the target) and one ``CrossAttentionCache`` per layer (the encoder's keys and values, fixed).
    ``length`` counts target positions."""

    def __init__(self, self_attention: _ModelCache) -> None:
        self.self_attention = self_attention
        self.cross_attention = [CrossAttentionCache() for _ in range(len(self_attention))]

    @property
    def length(self) -> int:
        return self.self_attention.length

    def layer(self, i: int) -> tuple:
        """(self-attention cache, cross-attention cache) of decoder layer ``i``."""
        return self.self_attention[i], self.cross_attention[i]

    def reorder(self, index: Tensor) -> None:
        self.self_attention.reorder(index)
        for cache in self.cross_attention:
            cache.reorder(index)

    def crop(self, length: int) -> None:
        self.self_attention.crop(length)
