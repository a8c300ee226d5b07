"""A lighter ``module(x)`` for the modules a decoded token passes through.

Calling an ``nn.Module`` runs torch's ``_wrapped_call_impl`` and ``_call_impl`` before ``forward``:
two more Python frames, a JIT-tracing check, a compiled-module check and eight hook checks. A
microbenchmark prices that at under 1 us, but between the large matrix products of decoding, where
the interpreter's own data has been pushed out of the CPU caches, it cost about 4 us a call: the
6 x 384 GPT makes 53 module calls a token, and with bare ``forward`` calls it decoded 6-7% faster
(bench/call_overhead.py, docs/generation.md); this mixin gains as much.

``FastCall.__call__`` goes straight to ``forward`` when nothing needs torch's machinery, and hands
the call to ``nn.Module.__call__`` otherwise: forward (pre-)hooks or backward hooks on the module,
global module hooks, a ``module.compile()``d module, a tool that replaced ``nn.Module.__call__``
(``torch.fx``'s tracer, non-strict ``torch.export``, which then see every module call) or a running
``torch.profiler`` (whose module view reads torch's call). Hooks therefore behave exactly as on any
module (tests/nn/test_fast_call.py), whenever they are registered. One departure: under
``torch.jit.trace`` the traced operations are the same, but their nodes are not scoped by module
name (torch's check for a running trace cost 2% of a decoded token by itself, in the same rounds).

If a torch version renames the internals read here, ``AVAILABLE`` is False and every call takes
torch's own path.
"""

from __future__ import annotations

from torch import nn
from torch.autograd import profiler as _profiler
from torch.nn.modules import module as _module

_GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)
_INSTANCE_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_probe = nn.Module()
AVAILABLE = (
    all(isinstance(getattr(_module, name, None), dict) for name in _GLOBAL_HOOKS)
    and all(isinstance(getattr(_probe, name, None), dict) for name in _INSTANCE_HOOKS)
    and hasattr(_probe, "_compiled_call_impl")
    and isinstance(getattr(_profiler, "_is_profiler_enabled", None), bool)
)
_TORCH_CALL = nn.Module.__call__  # a tracer that patches it must see every call
_global_forward_hooks = _module._global_forward_hooks if AVAILABLE else None
_global_forward_pre_hooks = _module._global_forward_pre_hooks if AVAILABLE else None
_global_backward_hooks = _module._global_backward_hooks if AVAILABLE else None
_global_backward_pre_hooks = _module._global_backward_pre_hooks if AVAILABLE else None


class FastCall:
    """Mixin for an ``nn.Module`` subclass (listed before it): ``module(...)`` calls ``forward``
    directly unless a hook, compilation, a tracer or the profiler needs ``nn.Module.__call__``."""

    def __call__(self, *args, **kwargs):
        if (
            not AVAILABLE
            or self._forward_hooks
            or self._forward_pre_hooks
            or self._backward_hooks
            or self._backward_pre_hooks
            or _global_forward_hooks
            or _global_forward_pre_hooks
            or _global_backward_hooks
            or _global_backward_pre_hooks
            or self._compiled_call_impl is not None
            or nn.Module.__call__ is not _TORCH_CALL
            or _profiler._is_profiler_enabled
        ):
            return nn.Module.__call__(self, *args, **kwargs)
        return self.forward(*args, **kwargs)


class Linear(FastCall, nn.Linear):
    """``nn.Linear`` (the same parameters, state dict and result) called through ``FastCall``: the
    projections of attention and the feed-forward network, which a decoded token calls most."""
