"""The perturbation engine behind Score-CAM, Ablation-CAM, Shap-CAM, RISE and occlusion.

Every perturbation method scores many perturbed copies of each image: copies of the input
(masked, occluded) or copies of a layer's activation (channels removed). :class:`Engine` does
what they share:

- one clean forward pass that gives the class scores, the layer's activation and the size of
  the activations one copy produces;
- copies are built on the model's device, chunk by chunk, for all images AND all masks at once
  (a chunk mixes images and masks freely), without autograd;
- the chunk size comes from the free device memory (on a GPU) or from a cache-sized budget (on
  the CPU), or from the caller's ``batch_size``; a chunk that runs out of memory is halved and
  run again instead of failing;
- copies of an activation run only the part of the model after the layer when the model can be
  split there (:func:`split_after`: the layer sits on the main path of the root's ``forward``
  and of ``nn.Sequential`` containers and nothing after it reads an earlier value, e.g. the
  ``features``/``classifier`` models and residual stages as whole blocks); otherwise the whole
  model runs with a hook that puts the perturbed activation in place of the layer's output;
- every copy is scored for all K classes of its image at once (a (B, K) target or ``top=K``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from .._checks import Target, target_matrix
from .._hooks import activation_size
from .._outputs import OutputSpec, select_logits
from ..errors import InputError
from ._common import MAX_AUTO_BATCH, NO_GRAD_BUDGET, ModelRunner, positive_int

# fraction of the free GPU memory one chunk's activations may take (several live at once)
GPU_MEMORY_SHARE = 0.25
# fewest copies per pass on the CPU: below this, per-pass overheads dominate (measured on
# squeezenet1_1 at 112×112: 32 channels-last copies per pass ran 2× faster per copy than 8 or 16)
MIN_CPU_CHUNK = 32


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (CUDA's OutOfMemoryError or the CPU allocator's)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def chunk_size(per_copy: int, device: torch.device, dtype: torch.dtype, batch_size: int | None) -> int:
    """Copies per forward pass: the caller's ``batch_size``, or one sized to free memory.

    On a GPU, a chunk's activations may fill :data:`GPU_MEMORY_SHARE` of the free memory; on the
    CPU, the cache-sized budget of :data:`convlens.attribution._common.NO_GRAD_BUDGET` elements,
    and at least :data:`MIN_CPU_CHUNK` copies.
    """
    if batch_size is not None:
        return positive_int(batch_size, "batch_size")
    per_copy = max(1, per_copy)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        elem = torch.empty((), dtype=dtype).element_size()
        return max(1, min(1 << 16, int(free * GPU_MEMORY_SHARE) // (per_copy * elem)))
    return max(MIN_CPU_CHUNK, min(MAX_AUTO_BATCH, NO_GRAD_BUDGET // per_copy))


def evaluate_chunks(
    total: int, size: int, fn: Callable[[torch.Tensor], torch.Tensor], device: torch.device
) -> tuple[torch.Tensor, int]:
    """``fn`` on index ranges covering ``range(total)``, halving a chunk that runs out of memory.

    Args:
        total: number of copies.
        size: copies per call to start with.
        fn: maps a 1-D long tensor of copy indices (on ``device``) to their (n, K) scores.
        device: where the indices live.

    Returns:
        The (total, K) scores and the chunk size that worked last.
    """
    out: torch.Tensor | None = None
    start = 0
    while start < total:
        stop = min(total, start + size)
        try:
            scores = fn(torch.arange(start, stop, device=device))
        except Exception as exc:
            if not is_out_of_memory(exc) or size == 1:
                raise
            size = max(1, size // 2)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        if out is None:
            out = scores.new_empty((total, scores.shape[1]))
        out[start:stop] = scores
        start = stop
    assert out is not None
    return out, size


class _SplitTracer(fx.Tracer):
    """Traces the root's forward and ``nn.Sequential`` containers; every other module is one call."""

    def __init__(self, layer: str) -> None:
        super().__init__()
        self.layer = layer

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name == self.layer or type(m) is not nn.Sequential


def split_after(model: nn.Module, name: str) -> nn.Module | None:
    """The part of ``model`` after layer ``name`` as a module taking the layer's output, or None.

    The split exists when a symbolic trace of the root's ``forward`` (through ``nn.Sequential``
    containers only, so no other module's code runs) calls the layer exactly once and nothing
    after the call reads a value computed before it (a residual connection around the layer),
    and when the root and the traced containers carry no hooks. The result shares the model's
    modules and parameters (nothing is copied or changed); call it in eval mode, as traced.
    """
    modules = dict(model.named_modules())
    traced_through = [m for m in modules.values() if m is model or type(m) is nn.Sequential]
    if any(m._forward_hooks or m._forward_pre_hooks for m in traced_through):
        return None
    try:
        graph = _SplitTracer(name).trace(model)
    except Exception:  # anything the tracer cannot follow: run the whole model instead
        return None
    nodes = list(graph.nodes)
    hits = [i for i, n in enumerate(nodes) if n.op == "call_module" and n.target == name]
    if len(hits) != 1 or nodes[hits[0]].kwargs or len(nodes[hits[0]].args) != 1:
        return None
    cut = hits[0]
    before = set(nodes[:cut])
    tail = fx.Graph()
    env: dict[fx.Node, fx.Node] = {nodes[cut]: tail.placeholder("activation")}
    for node in nodes[cut + 1 :]:
        for arg in node.all_input_nodes:
            if arg in before and arg not in env:
                if arg.op != "get_attr":
                    return None
                env[arg] = tail.node_copy(arg)
        if node.op == "placeholder":
            return None
        env[node] = tail.node_copy(node, lambda a: env[a])
    try:
        return fx.GraphModule(model, tail)
    except Exception:
        return None


class Engine:
    """A clean forward pass, the scores of K classes, and chunked scoring of perturbed copies.

    Construct inside :func:`convlens._hooks.inspecting` and ``torch.no_grad()``.

    Args:
        model: the classifier.
        xin: the prepared images (B,C,H,W) on the model's device.
        target: None, an int, one class per image, a (B, K) tensor, or a callable (one score).
        top: K highest-scoring classes per image instead of ``target``.
        output: where the logits are in the model's output.
        layer: ``(name, module)`` whose activation is perturbed, or None.
        batch_size: copies per forward pass, or None for one sized to memory.
        probability: score copies by softmax probability instead of the logit.
    """

    def __init__(
        self,
        model: nn.Module,
        xin: torch.Tensor,
        target: Target,
        top: int | None,
        output: OutputSpec,
        *,
        layer: tuple[str, nn.Module] | None = None,
        batch_size: int | None = None,
        probability: bool = False,
    ) -> None:
        if batch_size is not None:
            positive_int(batch_size, "batch_size")
        self.model = model
        self.xin = xin
        self.batch_size = batch_size
        self.probability = probability
        self.run = ModelRunner(model, xin, output)
        self.fn: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.layer = layer
        recorded: list[torch.Tensor] = []
        handle = None
        if layer is not None:

            def keep(_m: nn.Module, _i: object, out: object) -> object:
                recorded.append(out)  # type: ignore[arg-type]
                return out.clone() if isinstance(out, torch.Tensor) else None  # later in-place ops keep it

            handle = layer[1].register_forward_hook(keep)
        try:
            with activation_size(model) as total:
                logits = self.run(xin)
        finally:
            if handle is not None:
                handle.remove()
        self.per_copy = max(1, total[0] // xin.shape[0])
        if callable(target) and not isinstance(target, torch.Tensor):
            if top is not None:
                raise InputError("pass either a target callable or top, not both")
            self.fn = target
            self.classes: torch.Tensor | None = None
        else:
            self.classes = target_matrix(target, logits, top)
        self.clean = self.score(logits, torch.arange(xin.shape[0], device=xin.device))
        if self.fn is not None and probability:
            raise InputError(
                "this method scores the probability of a target class; pass an int or a sequence, not a callable"
            )
        self.activation: torch.Tensor | None = None
        if layer is not None:
            from ._camgrad import one_activation

            self.activation = one_activation(recorded, layer[0]).detach()
        self._tail: nn.Module | None | bool = False  # False: not looked for yet
        self.size: int | None = None

    def score(self, logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """(n, K) scores of copies of ``images`` (n,) from their logits (n, classes)."""
        if self.fn is not None:
            scores = self.fn(logits)
            if not isinstance(scores, torch.Tensor) or scores.shape != (logits.shape[0],):
                raise InputError(
                    "a target callable must map logits of shape (N, classes) to scores of shape (N,), "
                    "row by row, for any N"
                )
            return scores[:, None]
        if logits.dim() != 2:
            raise InputError(f"the model must return logits of shape (B, classes), got {tuple(logits.shape)}")
        assert self.classes is not None
        values = torch.softmax(logits, dim=1) if self.probability else logits
        return values.gather(1, self.classes[images])

    @property
    def classes_per_image(self) -> int:
        return 1 if self.classes is None else int(self.classes.shape[1])

    def _evaluate(self, total: int, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        if total == 0:
            return self.xin.new_empty((0, self.classes_per_image))
        size = self.size or chunk_size(self.per_copy, self.xin.device, self.xin.dtype, self.batch_size)
        scores, self.size = evaluate_chunks(total, size, fn, self.xin.device)
        return scores

    def inputs(self, total: int, build: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Scores (total, K) of perturbed input copies.

        Args:
            total: number of copies.
            build: copy indices (n,) → (images (n,C,H,W), the image each copy comes from (n,)).
        """

        def fn(idx: torch.Tensor) -> torch.Tensor:
            copies, images = build(idx)
            return self.score(self.run(copies), images)

        return self._evaluate(total, fn)

    def tail(self) -> nn.Module | None:
        """The model after the layer (:func:`split_after`), found once; None when it cannot be split."""
        if self._tail is False:
            assert self.layer is not None
            self._tail = split_after(self.model, self.layer[0])
        return self._tail  # type: ignore[return-value]

    def activations(
        self, total: int, build: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    ) -> torch.Tensor:
        """Scores (total, K) of copies whose layer activation is replaced.

        Args:
            total: number of copies.
            build: copy indices (n,) → (activations (n,C,h,w), the image each copy comes from (n,)).
        """
        assert self.layer is not None
        tail = self.tail()
        output = self.run.output

        def fn(idx: torch.Tensor) -> torch.Tensor:
            acts, images = build(idx)
            if tail is not None:
                return self.score(select_logits(tail(acts), output), images)
            return self.score(self._replaced(acts, images), images)

        return self._evaluate(total, fn)

    def _replaced(self, acts: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Logits of the whole model on ``images`` with the layer's output replaced by ``acts``."""
        assert self.layer is not None

        def swap(_m: nn.Module, _i: object, _out: Any) -> torch.Tensor:
            return acts

        handle = self.layer[1].register_forward_hook(swap)
        try:
            return self.run(self.xin[images])
        finally:
            handle.remove()


__all__ = ["Engine", "chunk_size", "evaluate_chunks", "is_out_of_memory", "split_after"]
