"""Attribution methods: analytic references, targets, options, the registry and errors."""

from __future__ import annotations

import threading
import warnings

import pytest
import torch
import torch.nn.functional as F
from test_attribution_nets import STYLES, GapNet, ViewNet, tiny
from torch import nn

import convlens.attribution as A
from convlens._hooks import ReluRule, relu_gradient
from convlens.errors import ConvlensError, InputError, UnknownNameError
from convlens.registry import get_method, list_methods

NAMES = (
    "saliency", "guided-backprop", "grad-cam", "guided-grad-cam", "integrated-gradients",
    "occlusion", "occlusion-sensitivity", "smoothgrad", "ablation-cam", "deconvnet", "grad-cam++", "xgrad-cam",
    "hires-cam", "layer-cam", "rise", "score-cam", "shap-cam",
)  # fmt: skip


@pytest.fixture(scope="module")
def x_tiny() -> torch.Tensor:
    return torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


# ----------------------------------------------------------------------------- registry, API


def test_every_method_is_registered_with_usable_defaults():
    specs = {s.name: s for s in list_methods("attribution")}
    assert tuple(specs) == NAMES
    assert specs["occlusion-sensitivity"].output == "grid"
    assert {specs[n].output for n in ("saliency", "grad-cam", "smoothgrad")} == {"map"}
    for spec in specs.values():
        assert spec.kind == "attribution" and spec.reference and spec.summary
    model, x = tiny("module", dtype=torch.float32), torch.rand(2, 3, 16, 16)
    for spec in specs.values():
        out = spec.func(model, x, None, **spec.defaults)
        expected = {"map": (2, 1, 16, 16), "pixel": (2, 3, 16, 16), "grid": (2, 3, 3)}[spec.output]
        assert tuple(out.shape) == expected, spec.name


def test_unknown_method_lists_the_valid_names():
    with pytest.raises(UnknownNameError, match="grad-cam"):
        get_method("bogus")


def test_results_are_detached_contiguous_and_in_the_inputs_dtype(x_tiny):
    model = tiny("module", dtype=torch.float32)
    for name in ("saliency", "guided-backprop", "grad-cam", "integrated-gradients", "occlusion"):
        out = get_method(name).func(model, x_tiny, None)
        assert out.dtype == torch.float64 and not out.requires_grad and out.is_contiguous(), name


def test_works_inside_no_grad_and_inference_mode(x_tiny):
    model = tiny("module")
    expected = A.saliency(model, x_tiny)
    with torch.no_grad():
        assert torch.equal(A.saliency(model, x_tiny), expected)
    with torch.inference_mode():
        assert torch.equal(A.grad_cam(model, x_tiny, layer="conv2"), A.grad_cam(model, x_tiny, layer="conv2"))
        assert torch.equal(A.saliency(model, x_tiny), expected)


# ----------------------------------------------------------------------------- analytic references


def test_saliency_of_a_linear_model_is_the_weight_magnitude():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).double()
    x = torch.rand(5, 3, 8, 8, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 3, 1])
    weight = model[1].weight.detach()[target].view(5, 3, 8, 8)
    torch.testing.assert_close(A.saliency(model, x, target), weight.abs().amax(dim=1, keepdim=True))


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_right"])
def test_integrated_gradients_complete_within_one_percent_at_200_steps(trained_mnist, test_digits, method):
    x, labels = test_digits[0][:6], test_digits[1][:6]
    attributions, delta = A.integrated_gradients(trained_mnist, x, labels, steps=200, method=method, return_delta=True)
    with torch.no_grad():
        logits = trained_mnist(torch.cat([x, torch.zeros_like(x)]))
    gap = logits[:6].gather(1, labels[:, None])[:, 0] - logits[6:].gather(1, labels[:, None])[:, 0]
    torch.testing.assert_close(attributions.flatten(1).sum(1) - gap, delta, rtol=0, atol=1e-4)
    assert bool((delta.abs() <= 0.01 * gap.abs()).all()), (delta, gap)


def test_integrated_gradients_is_exact_for_a_linear_model():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).double()
    x = torch.rand(2, 2, 4, 4, dtype=torch.float64)
    baseline = torch.full((1, 2, 1, 1), 0.3, dtype=torch.float64)
    attr, delta = A.integrated_gradients(model, x, 2, baseline=baseline, steps=3, return_delta=True)
    expected = (x - baseline) * model[1].weight.detach()[2].view(1, 2, 4, 4)
    torch.testing.assert_close(attr, expected)
    assert float(delta.abs().max()) < 1e-12


def test_grad_cam_on_gap_linear_model_is_the_cam_formula():
    torch.manual_seed(2)
    model = GapNet().double().eval()
    x = torch.rand(3, 3, 10, 10, dtype=torch.float64)
    target = torch.tensor([0, 2, 3])
    act = model.features(x)  # (B, K, 8, 8)
    weights = model.fc.weight.detach()[target]  # (B, K)
    cam = torch.relu((weights[:, :, None, None] * act).sum(1, keepdim=True)) / (act.shape[2] * act.shape[3])
    torch.testing.assert_close(A.grad_cam(model, x, target, layer="features", upsample=False), cam.detach())
    full = A.grad_cam(model, x, target, layer="features")
    torch.testing.assert_close(full, F.interpolate(cam.detach(), size=(10, 10), mode="bilinear", align_corners=False))


def test_grad_cam_default_layer_is_the_recorded_one_or_the_last_feature_map(trained_mnist, test_digits):
    x = test_digits[0][:4]
    assert torch.equal(A.grad_cam(trained_mnist, x), A.grad_cam(trained_mnist, x, layer="features.3"))
    x64 = x.double().expand(4, 3, 28, 28)[:, :, :16, :16]
    model = tiny("module")  # conv2 -> relu2 module -> functional pool: relu2 is the last map
    assert torch.equal(A.grad_cam(model, x64), A.grad_cam(model, x64, layer=model.relu2))
    model = tiny("functional")  # conv2 -> x.relu_(): conv2 is the last module with a map
    assert torch.equal(A.grad_cam(model, x64), A.grad_cam(model, x64, layer=model.conv2))


# ----------------------------------------------------------------------------- guided ReLU


@pytest.mark.parametrize("style", STYLES)
def test_guided_backprop_is_the_same_for_every_relu_style(style, x_tiny):
    reference = A.guided_backprop(tiny("module"), x_tiny, 1)
    assert torch.equal(A.guided_backprop(tiny(style), x_tiny, 1), reference)
    assert not torch.equal(reference, get_method("saliency").func(tiny("module"), x_tiny, 1))


def test_guided_backprop_differs_from_the_plain_gradient(x_tiny):
    model = tiny("functional")
    guided = A.guided_backprop(model, x_tiny, 1)
    xg = x_tiny.clone().requires_grad_()
    (plain,) = torch.autograd.grad(tiny("functional")(xg)[:, 1].sum(), xg)
    assert not torch.allclose(guided, plain)


def test_relu_override_is_scoped_to_the_block_and_the_thread():
    x = torch.tensor([1.0, 2.0, -1.0], requires_grad=True)
    upstream = torch.tensor([-1.0, 3.0, 5.0])
    other: list[torch.Tensor] = []

    def elsewhere() -> None:
        (g,) = torch.autograd.grad(torch.relu(x), x, upstream)
        other.append(g)

    with relu_gradient(ReluRule(guided=True)):
        (inside,) = torch.autograd.grad(F.relu(x), x, upstream)
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    (after,) = torch.autograd.grad(torch.relu(x), x, upstream)
    assert inside.tolist() == [0.0, 3.0, 0.0]
    assert other[0].tolist() == after.tolist() == [-1.0, 3.0, 0.0]
    assert not torch._C._is_torch_function_mode_enabled()


def test_inplace_relu_on_a_view_follows_the_guided_rule():
    class ViewRelu(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            y[:, :2].relu_()
            return (y * torch.linspace(-1, 1, 4).view(1, 4, 1, 1)).mean(dim=(2, 3))

    torch.manual_seed(3)
    model = ViewRelu().double()
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    guided = A.guided_backprop(model, x, 3)
    assert guided.shape == x.shape and guided.abs().sum() > 0


def test_guided_grad_cam_uses_ordinary_gradients_for_the_cam(x_tiny):
    model = tiny("functional")
    target = torch.tensor([0, 3, 4])
    expected = A.guided_backprop(model, x_tiny, target) * A.grad_cam(model, x_tiny, target, layer="conv2")
    torch.testing.assert_close(A.guided_grad_cam(model, x_tiny, target, layer="conv2"), expected)
    # The check above is sensitive: a guided ReLU after the layer changes the layer gradient here.
    act: list[torch.Tensor] = []
    handle = model.conv2.register_forward_hook(lambda m, i, o: act.append(o))
    try:
        grads = []
        for guided in (False, True):
            act.clear()
            with relu_gradient(ReluRule(guided)):
                scores = model(x_tiny.clone().requires_grad_()).gather(1, target[:, None])
            grads.append(torch.autograd.grad(scores.sum(), act[0])[0])
    finally:
        handle.remove()
    assert not torch.allclose(grads[0], grads[1])


# ----------------------------------------------------------------------------- backward stops at the layer


class _Spy(torch.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        _Spy.calls += 1
        return grad


class SpyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _Spy.apply(torch.relu(self.conv1(x)))
        return self.fc(torch.relu(self.conv2(h)).mean(dim=(2, 3)))


def test_grad_cam_backpropagates_only_to_its_layer():
    model = SpyNet()
    x = torch.rand(2, 3, 8, 8)
    _Spy.calls = 0
    A.grad_cam(model, x, layer="conv2")
    assert _Spy.calls == 0
    A.saliency(model, x)
    assert _Spy.calls == 1  # control: a gradient to the input does pass the spy
    assert all(p.grad is None for p in model.parameters())


# ----------------------------------------------------------------------------- targets


def test_targets_int_sequence_tensor_and_callable_agree(x_tiny):
    model = tiny("module")
    base = A.saliency(model, x_tiny, 2)
    assert torch.equal(A.saliency(model, x_tiny, [2, 2, 2]), base)
    assert torch.equal(A.saliency(model, x_tiny, torch.tensor([2, 2, 2])), base)
    assert torch.equal(A.saliency(model, x_tiny, lambda z: z[:, 2]), base)
    kw = {"steps": 8, "batch_size": 4}
    torch.testing.assert_close(
        A.integrated_gradients(model, x_tiny, lambda z: z[:, 2], **kw), A.integrated_gradients(model, x_tiny, 2, **kw)
    )
    torch.testing.assert_close(A.occlusion(model, x_tiny, lambda z: z[:, 2]), A.occlusion(model, x_tiny, 2))
    torch.testing.assert_close(
        A.smoothgrad(model, x_tiny, lambda z: z[:, 2], samples=3, seed=0),
        A.smoothgrad(model, x_tiny, 2, samples=3, seed=0),
    )


def test_default_target_is_the_clean_prediction(x_tiny):
    model = tiny("module")
    predicted = model(x_tiny).argmax(1)
    kw = {"steps": 4}
    ig = A.integrated_gradients(model, x_tiny, **kw)
    assert torch.equal(ig, A.integrated_gradients(model, x_tiny, predicted, **kw))
    assert torch.equal(A.occlusion_sensitivity(model, x_tiny), A.occlusion_sensitivity(model, x_tiny, predicted))


# ----------------------------------------------------------------------------- batching


def test_batched_methods_do_not_depend_on_the_batch_size(x_tiny):
    model = tiny("module")
    ig = A.integrated_gradients(model, x_tiny, 1, steps=7)
    for size in (1, 4, 100):
        torch.testing.assert_close(A.integrated_gradients(model, x_tiny, 1, steps=7, batch_size=size), ig)
    occ = A.occlusion(model, x_tiny, 1, window=5, stride=3)
    for size in (1, 7):
        torch.testing.assert_close(A.occlusion(model, x_tiny, 1, window=5, stride=3, batch_size=size), occ)
    sg = A.smoothgrad(model, x_tiny, 1, samples=5, seed=3)
    for size in (1, 4, 8):
        torch.testing.assert_close(A.smoothgrad(model, x_tiny, 1, samples=5, seed=3, batch_size=size), sg)


def test_integrated_gradients_needs_no_extra_pass_for_a_class_target(x_tiny):
    model = tiny("module")
    calls: list[int] = []
    handle = model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    try:
        A.integrated_gradients(model, x_tiny, 1, steps=4, batch_size=5)  # 12 copies: 5 + 5 + 2
        assert calls == [5, 5, 2]
        calls.clear()
        A.integrated_gradients(model, x_tiny, steps=4, batch_size=6)  # predicted class: one clean pass first
        assert calls == [3, 6, 6]
    finally:
        handle.remove()


def test_batch_results_equal_one_image_at_a_time(x_tiny):
    model = tiny("shared")
    for name in ("saliency", "guided-backprop", "grad-cam", "guided-grad-cam", "integrated-gradients", "occlusion"):
        func = get_method(name).func
        whole = func(model, x_tiny, 1)
        single = torch.cat([func(model, x_tiny[i : i + 1], 1) for i in range(3)])
        torch.testing.assert_close(whole, single, msg=name)


# ----------------------------------------------------------------------------- SmoothGrad


def test_smoothgrad_is_the_mean_saliency_of_seeded_noisy_copies(x_tiny):
    model = tiny("module")
    target = torch.tensor([0, 1, 2])
    gen = torch.Generator().manual_seed(7)
    sigma = 0.2 * (x_tiny.amax(dim=(1, 2, 3)) - x_tiny.amin(dim=(1, 2, 3))).view(-1, 1, 1, 1)
    copies = [x_tiny + sigma * torch.randn(x_tiny.shape, generator=gen, dtype=x_tiny.dtype) for _ in range(4)]
    expected = torch.stack([A.saliency(model, c, target) for c in copies]).mean(0)
    torch.testing.assert_close(A.smoothgrad(model, x_tiny, target, samples=4, noise=0.2, seed=7), expected)
    assert torch.equal(A.smoothgrad(model, x_tiny, target, samples=2, noise=0.0), A.saliency(model, x_tiny, target))
    first = A.smoothgrad(model, x_tiny, target, samples=3, seed=1)
    assert torch.equal(first, A.smoothgrad(model, x_tiny, target, samples=3, seed=1))
    assert not torch.equal(first, A.smoothgrad(model, x_tiny, target, samples=3, seed=2))


# ----------------------------------------------------------------------------- occlusion sensitivity


def test_occlusion_sensitivity_is_the_class_probability_per_patch(trained_mnist, test_digits):
    x, labels = test_digits[0][:4], test_digits[1][:4]
    grid = A.occlusion_sensitivity(trained_mnist, x, labels, window=8, stride=4, fill=0.0)
    assert grid.shape == (4, 6, 6)
    expected = torch.empty(4, 6, 6)
    with torch.no_grad():
        for r in range(6):
            for c in range(6):
                occluded = x.clone()
                occluded[:, :, 4 * r : 4 * r + 8, 4 * c : 4 * c + 8] = 0.0
                expected[:, r, c] = torch.softmax(trained_mnist(occluded), 1)[torch.arange(4), labels]
    torch.testing.assert_close(grid, expected, rtol=1e-4, atol=1e-5)
    # the digits are well recognised, and covering their centre hurts most
    clean = torch.softmax(trained_mnist(x), 1)[torch.arange(4), labels].detach()
    assert bool((grid.amin(dim=(1, 2)) < clean).all())


def test_occlusion_attribution_is_the_average_score_drop(x_tiny):
    model = tiny("module")
    attr = A.occlusion(model, x_tiny, 4, window=16, stride=16, fill=0.25)
    with torch.no_grad():
        drop = model(x_tiny)[:, 4] - model(torch.full_like(x_tiny, 0.25))[:, 4]
    torch.testing.assert_close(attr, drop.view(3, 1, 1, 1).expand_as(x_tiny))


# ----------------------------------------------------------------------------- explain


def test_explain_collects_maps_predictions_and_layer(trained_mnist, test_digits):
    x, labels = test_digits[0][:5], test_digits[1][:5]
    result = A.explain(trained_mnist, x, ["saliency", "grad-cam", "integrated-gradients"], steps=10)
    assert list(result.maps) == ["saliency", "grad-cam", "integrated-gradients"]
    assert result.layer == "features.3"
    assert result.class_names == tuple(str(i) for i in range(10))
    probs = torch.softmax(trained_mnist(x), 1).detach()
    assert torch.equal(result.predicted, probs.argmax(1)) and torch.equal(result.target, result.predicted)
    torch.testing.assert_close(result.probability, probs.amax(1))
    torch.testing.assert_close(result.target_probability, result.probability)
    assert torch.equal(result.images, x) and result.images is not x
    torch.testing.assert_close(result.maps["integrated-gradients"], A.integrated_gradients(trained_mnist, x, steps=10))

    by_label = A.explain(trained_mnist, x, "grad-cam", target=labels, layer="features.0")
    assert by_label.layer == "features.0" and torch.equal(by_label.target, labels)
    torch.testing.assert_close(by_label.target_probability, probs[torch.arange(5), labels])
    assert A.explain(trained_mnist, x, ["saliency"]).layer is None


def test_explain_with_a_callable_target_and_bad_options(x_tiny):
    model = tiny("module")
    result = A.explain(model, x_tiny, ["saliency", "occlusion"], target=lambda z: z[:, 1] - z[:, 0], window=4)
    assert result.target.tolist() == [-1, -1, -1] and bool(result.target_probability.isnan().all())
    assert result.class_names is None
    with pytest.raises(InputError, match="unknown option"):
        A.explain(model, x_tiny, ["saliency"], step=10)
    with pytest.raises(InputError, match="unknown option"):
        A.explain(model, x_tiny, ["integrated-gradients"], return_delta=True)
    with pytest.raises(UnknownNameError):
        A.explain(model, x_tiny, ["saliency", "bogus"])
    with pytest.raises(InputError):
        A.explain(model, x_tiny, [])


# ----------------------------------------------------------------------------- layouts


def test_models_that_need_the_standard_layout_still_work():
    torch.manual_seed(4)
    viewing = ViewNet(use_view=True)
    reshaping = ViewNet(use_view=False)
    reshaping.load_state_dict(viewing.state_dict())
    x = torch.rand(2, 3, 8, 8)
    for name in NAMES:
        spec = get_method(name)
        options = {**spec.defaults, **({"window": 4, "stride": 2} if "window" in spec.defaults else {})}
        options.update({"seed": 0} if "seed" in options else {})
        if "layer" in options:
            options["layer"] = "conv"
        torch.testing.assert_close(spec.func(viewing, x, 1, **options), spec.func(reshaping, x, 1, **options), msg=name)


# ----------------------------------------------------------------------------- errors


def test_user_errors_raise_convlens_errors(x_tiny):
    model = tiny("shared")
    bad_calls = [
        (lambda: A.saliency(model, x_tiny[0]), "batch dimension"),
        (lambda: A.saliency(model, x_tiny.long()), "float"),
        (lambda: A.saliency(model, x_tiny * float("nan")), "NaN"),
        (lambda: A.saliency(model, x_tiny, 9), "out of range"),
        (lambda: A.grad_cam(model, x_tiny, layer="conv3"), "closest names"),
        (lambda: A.grad_cam(model, x_tiny, layer="relu"), "runs 3 times"),
        (lambda: A.grad_cam(model, x_tiny, layer="fc1"), "B,C,H,W"),
        (lambda: A.grad_cam(model, x_tiny, layer="conv2", interpolation="cubic"), "interpolation"),
        (lambda: A.integrated_gradients(model, x_tiny, steps=0), "steps"),
        (lambda: A.integrated_gradients(model, x_tiny, batch_size=0), "batch_size"),
        (lambda: A.integrated_gradients(model, x_tiny, method="simpson"), "quadrature"),
        (lambda: A.integrated_gradients(model, x_tiny, baseline=torch.zeros(2, 3, 16, 16)), "broadcast"),
        (lambda: A.occlusion(model, x_tiny, window=17), "larger than the images"),
        (lambda: A.occlusion(model, x_tiny, window=4, stride=5), "never be covered"),
        (lambda: A.occlusion(model, x_tiny, window=(4, 0)), "window"),
        (lambda: A.occlusion_sensitivity(model, x_tiny, lambda z: z[:, 0]), "target class"),
        (lambda: A.occlusion(model, x_tiny, lambda z: z[:1, 0]), "row by row"),
        (lambda: A.smoothgrad(model, x_tiny, samples=0), "samples"),
        (lambda: A.smoothgrad(model, x_tiny, noise=-1.0), "noise"),
        (lambda: A.smoothgrad(model, x_tiny, seed="x"), "seed"),
        (lambda: A.guided_backprop(_scripted(), x_tiny.float()), "TorchScript"),
    ]
    for call, message in bad_calls:
        with pytest.raises(ConvlensError, match=message):
            call()


def _scripted() -> nn.Module:
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 14 * 14, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.script(net)


def test_grad_cam_without_a_convolution_needs_a_layer():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(InputError, match="feature map; pass layer"):
        A.grad_cam(model, torch.rand(1, 3, 2, 2))
