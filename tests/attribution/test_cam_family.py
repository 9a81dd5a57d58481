"""The CAM family, the perturbation engine, Deconvnet and several classes per image.

Formulas are checked against hand computations (explicit loops over channels, positions and
masks on activations and gradients taken with plain autograd), Shap-CAM against exact Shapley
values, and every method for batch = per image and K classes = K single-class calls.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from test_attribution_nets import GapNet, tiny
from torch import nn

import convlens.attribution as A
from convlens.attribution import _perturb
from convlens.attribution._perturb import Engine, split_after
from convlens.attribution.random_masks import RiseMasks
from convlens.attribution.shapcam import shapley_values
from convlens.errors import InputError

GRADIENT_CAMS = {
    "grad-cam": A.grad_cam, "grad-cam++": A.grad_cam_pp, "xgrad-cam": A.xgrad_cam,
    "layer-cam": A.layer_cam, "hires-cam": A.hires_cam,
}  # fmt: skip
PERTURBATION_CAMS = {"score-cam": A.score_cam, "ablation-cam": A.ablation_cam, "shap-cam": A.shap_cam}


@pytest.fixture(scope="module")
def x16() -> torch.Tensor:
    return torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)


def act_and_grad(model: nn.Module, layer: nn.Module, x: torch.Tensor, classes: torch.Tensor):
    """The layer's activation and d logit[class] / d activation, by plain autograd."""
    store = {}

    def hook(_m, _i, out):
        out = out.detach().clone().requires_grad_(True)
        store["a"] = out
        return out

    handle = layer.register_forward_hook(hook)
    try:
        logits = model(x)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), store["a"])
    return store["a"].detach(), grad


def hand_cam(act: torch.Tensor, grad: torch.Tensor, method: str) -> torch.Tensor:
    """The paper's formula, one image, one channel and one position at a time."""
    batch, channels, h, w = act.shape
    out = torch.zeros(batch, 1, h, w, dtype=act.dtype)
    for b in range(batch):
        for k in range(channels):
            a, g = act[b, k], grad[b, k]
            if method == "grad-cam":
                term = g.mean() * a
            elif method == "grad-cam++":
                weight = 0.0
                for i in range(h):
                    for j in range(w):
                        denom = 2 * g[i, j] ** 2 + a.sum() * g[i, j] ** 3
                        alpha = g[i, j] ** 2 / denom if denom != 0 else 0.0
                        weight += alpha * max(float(g[i, j]), 0.0)
                term = weight * a
            elif method == "xgrad-cam":
                term = ((a / a.sum()) * g).sum() * a if a.sum() != 0 else torch.zeros_like(a)
            elif method == "layer-cam":
                term = g.clamp(min=0) * a
            else:  # hires-cam
                term = g * a
            out[b, 0] += term
    return out.clamp(min=0)


@pytest.mark.parametrize("name", list(GRADIENT_CAMS))
def test_gradient_cams_match_hand_computation(x16, name):
    model = tiny("module")
    classes = torch.tensor([0, 3, 4])
    act, grad = act_and_grad(model, model.conv2, x16, classes)
    expected = hand_cam(act, grad, name)
    ours = GRADIENT_CAMS[name](model, x16, classes, layer="conv2", upsample=False)
    torch.testing.assert_close(ours, expected, rtol=1e-9, atol=1e-12)
    assert expected.abs().max() > 0


def test_hires_cam_equals_grad_cam_on_a_global_average_pooling_head():
    torch.manual_seed(0)
    model = GapNet().double().eval()
    x = torch.rand(2, 3, 10, 10, dtype=torch.float64)
    torch.testing.assert_close(A.hires_cam(model, x, layer="features.3"), A.grad_cam(model, x, layer="features.3"))


def test_layer_cam_fusion_matches_hand_computation(x16):
    model = tiny("module")
    classes = torch.tensor([1, 2, 0])
    maps = []
    for layer in (model.conv1, model.conv2):
        act, grad = act_and_grad(model, layer, x16, classes)
        heat = hand_cam(act, grad, "layer-cam")
        peak = heat.amax(dim=(1, 2, 3), keepdim=True)
        maps.append(F.interpolate(torch.tanh(2.0 * heat / peak), size=(16, 16), mode="bilinear", align_corners=False))
    expected = torch.maximum(maps[0], maps[1])
    ours = A.layer_cam(model, x16, classes, layer=["conv1", "conv2"])
    torch.testing.assert_close(ours, expected)
    with pytest.raises(InputError, match="different"):
        A.layer_cam(model, x16, layer=["conv2", "conv2"])


def _layer_scores(model: nn.Module, layer: nn.Module, x: torch.Tensor, acts: torch.Tensor, classes: torch.Tensor):
    """Logits of ``classes`` when the layer's output is replaced by ``acts`` (one copy per row of x)."""
    handle = layer.register_forward_hook(lambda _m, _i, _o: acts)
    try:
        with torch.no_grad():
            return model(x).gather(1, classes[:, None])[:, 0]
    finally:
        handle.remove()


def test_ablation_cam_matches_hand_computation(x16):
    model = tiny("module")
    classes = torch.tensor([0, 3, 4])
    act, _ = act_and_grad(model, model.conv2, x16, classes)
    clean = model(x16).detach().gather(1, classes[:, None])[:, 0]
    expected = torch.zeros(3, 1, 4 * 2, 4 * 2, dtype=torch.float64)[..., :8, :8]
    for b in range(3):
        for k in range(act.shape[1]):
            ablated = act[b : b + 1].clone()
            ablated[0, k] = 0
            y_k = _layer_scores(model, model.conv2, x16[b : b + 1], ablated, classes[b : b + 1])[0]
            expected[b, 0] += (clean[b] - y_k) / clean[b] * act[b, k]
    expected = expected.clamp(min=0)
    ours = A.ablation_cam(model, x16, classes, layer="conv2", upsample=False)
    torch.testing.assert_close(ours, expected)


def test_score_cam_matches_hand_computation(x16):
    model = tiny("module")
    classes = torch.tensor([2, 2, 1])
    act, _ = act_and_grad(model, model.conv2, x16, classes)
    expected = torch.zeros(3, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        for b in range(3):
            scores = []
            for k in range(act.shape[1]):
                a = act[b, k]
                norm = (a - a.min()) / (a.max() - a.min()) if a.max() > a.min() else torch.zeros_like(a)
                mask = F.interpolate(norm[None, None], size=(16, 16), mode="bilinear", align_corners=False)
                scores.append(model(x16[b : b + 1] * mask)[0, classes[b]])
            weights = torch.softmax(torch.stack(scores), dim=0)
            expected[b, 0] = (weights[:, None, None] * act[b]).sum(0).clamp(min=0)
    torch.testing.assert_close(A.score_cam(model, x16, classes, layer="conv2", upsample=False), expected)


def test_rise_matches_hand_computation(x16):
    model = tiny("module")
    classes = torch.tensor([0, 1, 2])
    ours = A.rise(model, x16, classes, masks=40, cell=4, p=0.3, seed=3, batch_size=7)
    masks = RiseMasks(40, (16, 16), 4, 0.3, 3, torch.device("cpu"))(torch.arange(40), torch.float64)
    assert set(masks.unique().tolist()) - {0.0, 1.0}  # smooth, not binary
    expected = torch.zeros(3, 1, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        for b in range(3):
            for i in range(40):
                p = torch.softmax(model(x16[b : b + 1] * masks[i]), dim=1)[0, classes[b]]
                expected[b] += p * masks[i]
    torch.testing.assert_close(ours, expected / (40 * 0.3))


def exact_shapley(model, layer, x, act, classes):
    """Shapley values of every channel by enumerating all channel subsets (the definition)."""
    batch, channels = act.shape[:2]
    value = {}
    for subset in itertools.product((0, 1), repeat=channels):
        keep = torch.tensor(subset, dtype=act.dtype)[None, :, None, None]
        value[subset] = _layer_scores(model, layer, x, act * keep, classes)
    phi = torch.zeros(batch, channels, dtype=act.dtype)
    n = channels
    for subset, v in value.items():
        for k in range(n):
            if subset[k]:
                continue
            with_k = subset[:k] + (1,) + subset[k + 1 :]
            s = sum(subset)
            weight = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
            phi[:, k] += weight * (value[with_k] - v)
    return phi


def test_shap_cam_converges_to_exact_shapley_values(x16):
    model = tiny("module")
    classes = torch.tensor([0, 3, 4])
    act, _ = act_and_grad(model, model.conv2, x16, classes)
    exact = exact_shapley(model, model.conv2, x16, act, classes)
    with torch.no_grad():
        engine = Engine(model, x16, classes, None, None, layer=("conv2", model.conv2))
        errors = []
        for samples in (20, 2000):
            estimate = shapley_values(engine, act, samples, seed=0)[:, :, 0]
            # efficiency holds for every sample: the values add up to v(all) - v(none)
            total = _layer_scores(model, model.conv2, x16, act, classes) - _layer_scores(
                model, model.conv2, x16, torch.zeros_like(act), classes
            )
            torch.testing.assert_close(estimate.sum(1), total)
            errors.append(float((estimate - exact).abs().max() / exact.abs().max()))
    assert errors[1] < 0.05 and errors[1] < errors[0] / 3, errors
    heat = A.shap_cam(model, x16, classes, layer="conv2", samples=2000, upsample=False)
    expected = (exact[:, :, None, None] * act).sum(1, keepdim=True).clamp(min=0)
    torch.testing.assert_close(heat, expected, rtol=0.1, atol=0.05 * float(expected.max()))


def test_shap_cam_is_seedable():
    model = tiny("module")
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    a = A.shap_cam(model, x, layer="conv2", samples=3, seed=5)
    assert torch.equal(a, A.shap_cam(model, x, layer="conv2", samples=3, seed=5, batch_size=4))
    assert not torch.equal(a, A.shap_cam(model, x, layer="conv2", samples=3, seed=6))


ALL = {**GRADIENT_CAMS, **PERTURBATION_CAMS, "rise": A.rise, "deconvnet": A.deconvnet}
SMALL = {"rise": {"masks": 30}, "shap-cam": {"samples": 3}}


def call(name: str, model, x, target, **kw):
    options = dict(SMALL.get(name, {}), **kw)
    if name not in ("rise", "deconvnet"):
        options.setdefault("layer", "conv2")
    return ALL[name](model, x, target, **options)


@pytest.mark.parametrize("name", list(ALL))
def test_batch_equals_per_image_and_top_k_equals_single_classes(x16, name):
    model = tiny("inplace")
    classes = torch.tensor([[0, 3], [4, 1], [2, 2]])
    batched = call(name, model, x16, classes)
    assert batched.shape[:2] == (3, 2)
    for b in range(3):
        for k in range(2):
            single = call(name, model, x16[b : b + 1], classes[b : b + 1, k])
            torch.testing.assert_close(batched[b : b + 1, k], single, rtol=1e-7, atol=1e-10)
    top = call(name, model, x16, None, top=2)
    torch.testing.assert_close(top, call(name, model, x16, model(x16).topk(2).indices))


EXISTING = (
    "saliency", "guided-backprop", "guided-grad-cam", "occlusion", "occlusion-sensitivity", "integrated-gradients",
    "smoothgrad",
)  # fmt: skip


@pytest.mark.parametrize("name", EXISTING)
def test_top_k_for_the_existing_methods(x16, name):
    fn = {"saliency": A.saliency, "guided-backprop": A.guided_backprop, "guided-grad-cam": A.guided_grad_cam,
          "occlusion": A.occlusion, "occlusion-sensitivity": A.occlusion_sensitivity,
          "integrated-gradients": A.integrated_gradients, "smoothgrad": A.smoothgrad}[name]  # fmt: skip
    options = {"guided-grad-cam": {"layer": "conv2"}, "integrated-gradients": {"steps": 4},
               "smoothgrad": {"samples": 3, "seed": 0}, "occlusion": {"window": 6, "stride": 5},
               "occlusion-sensitivity": {"window": 6, "stride": 5}}.get(name, {})  # fmt: skip
    model = tiny("functional")
    multi = fn(model, x16, None, top=3, **options)
    classes = model(x16).topk(3).indices
    for k in range(3):
        torch.testing.assert_close(multi[:, k], fn(model, x16, classes[:, k], **options))


class Counting(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.calls = 0
        self.rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.rows += x.shape[0]
        return self.model(x)


def test_gradient_cams_share_one_forward_pass_in_explain(x16):
    counted = Counting(tiny("module"))
    A.explain(counted, x16, ["grad-cam"], layer="model.conv2")
    one = counted.rows
    counted.rows = 0
    A.explain(counted, x16, list(GRADIENT_CAMS), layer="model.conv2", top=3)
    assert counted.rows == one
    counted.rows = 0
    A.grad_cam(counted, x16, layer="model.conv2", top=5)
    assert counted.rows == x16.shape[0]  # K classes, one forward pass


def test_explain_with_top_k_gives_k_maps(x16):
    model = tiny("module")
    result = A.explain(model, x16, ["grad-cam", "score-cam", "saliency"], layer="conv2", top=2)
    assert result.target.shape == (3, 2) and result.target_probability.shape == (3, 2)
    assert result.maps["grad-cam"].shape == (3, 2, 1, 16, 16)
    assert result.maps["saliency"].shape == (3, 2, 1, 16, 16)
    torch.testing.assert_close(
        result.maps["grad-cam"][:, 1], A.grad_cam(model, x16, result.target[:, 1], layer="conv2")
    )


def test_target_checks(x16):
    model = tiny("module")
    with pytest.raises(InputError, match="either"):
        A.grad_cam(model, x16, 1, top=2)
    with pytest.raises(InputError, match="classes"):
        A.score_cam(model, x16, top=9)
    with pytest.raises(InputError, match=r"\(3, K\)"):
        A.hires_cam(model, x16, torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(InputError, match="out of range"):
        A.ablation_cam(model, x16, torch.full((3, 2), 7))


# ----------------------------------------------------------------------------- the engine


class Picky(nn.Module):
    """Runs out of memory on batches of more than ``limit`` images, like a GPU would."""

    def __init__(self, model: nn.Module, limit: int) -> None:
        super().__init__()
        self.model, self.limit, self.largest = model, limit, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.largest = max(self.largest, x.shape[0])
        return self.model(x)


def test_engine_halves_chunks_that_run_out_of_memory(x16):
    model = tiny("module")
    picky = Picky(model, limit=5)
    ours = A.score_cam(picky, x16, layer="model.conv2", batch_size=64)
    assert picky.largest == 4  # 64 → 32 → 16 → 8 → 4
    torch.testing.assert_close(ours, A.score_cam(model, x16, layer="conv2", batch_size=3))
    with pytest.raises(torch.OutOfMemoryError):
        A.rise(Picky(model, limit=0), x16, masks=4)  # even the clean forward pass fails: raise


def test_other_errors_are_not_retried(x16):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.model, self.calls = tiny("module"), 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 2:
                raise RuntimeError("shape mismatch")
            return self.model(x)

    broken = Broken()
    with pytest.raises(RuntimeError, match="shape mismatch"):
        A.rise(broken, x16, masks=50, batch_size=4)
    assert broken.calls == 3


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.body = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        return self.fc((h + torch.relu(self.body(h))).mean(dim=(2, 3)))


def test_split_after_runs_only_the_tail_or_refuses():
    from convlens.models import create_model

    torch.manual_seed(0)
    squeeze = create_model("squeezenet1_1")
    x = torch.rand(2, 3, 64, 64)
    calls = []
    with torch.no_grad():
        tail = split_after(squeeze, "features.12")
        assert tail is not None
        handle = squeeze.features[0].register_forward_hook(lambda *a: calls.append(1))
        act = {}
        h2 = squeeze.features[12].register_forward_hook(lambda m, i, o: act.setdefault("a", o.clone()))
        full = squeeze(x)
        h2.remove()
        calls.clear()
        torch.testing.assert_close(tail(act["a"]), full)
        handle.remove()
        assert not calls  # the layers before the cut did not run
    residual = Residual().eval()
    assert split_after(residual, "body") is None  # h (before the layer) is read after it: no split
    stem_tail = split_after(residual, "stem")  # both branches start after the stem: a split
    assert stem_tail is not None
    xr = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(stem_tail(residual.stem(xr)), residual(xr))
    gap = GapNet().eval()
    assert split_after(gap, "features.3") is not None


def test_ablation_cam_without_split_equals_with_split(x16, monkeypatch):
    model = tiny("module")
    with_split = A.ablation_cam(model, x16, layer="conv2")
    monkeypatch.setattr(_perturb, "split_after", lambda model, name: None)
    torch.testing.assert_close(A.ablation_cam(model, x16, layer="conv2"), with_split)
    res = Residual().double().eval()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    assert A.shap_cam(res, x, layer="body", samples=2).shape == (2, 1, 8, 8)


def test_chunk_size_on_cpu_and_from_the_caller():
    cpu = torch.device("cpu")
    assert _perturb.chunk_size(10, cpu, torch.float32, 5) == 5
    assert _perturb.chunk_size(1 << 30, cpu, torch.float32, None) == _perturb.MIN_CPU_CHUNK
    with pytest.raises(InputError, match="batch_size"):
        _perturb.chunk_size(10, cpu, torch.float32, 0)


# ----------------------------------------------------------------------------- deconvnet


@pytest.mark.parametrize("style", ["module", "inplace", "functional", "shared"])
def test_deconvnet_matches_hand_rule(x16, style):
    """Every ReLU passes relu(gradient) backwards regardless of its input (Zeiler & Fergus 2014)."""
    model = tiny(style)
    ref = tiny("module")
    classes = torch.tensor([0, 1, 2])

    class Reversed(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t.clamp(min=0)

        @staticmethod
        def backward(ctx, g):
            return g.clamp(min=0)

    x = x16.clone().requires_grad_(True)
    h = F.max_pool2d(Reversed.apply(ref.conv1(x)), 2)
    h = F.max_pool2d(Reversed.apply(ref.conv2(h)), 2)
    logits = ref.fc2(Reversed.apply(ref.fc1(h.flatten(1))))
    (expected,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), x)
    torch.testing.assert_close(A.deconvnet(model, x16, classes), expected)
