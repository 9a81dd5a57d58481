"""convlens.layers: from-scratch Linear and Conv2d equal torch.nn in values and gradients."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from convlens.errors import ConvlensError, InputError
from convlens.layers import Conv2d, Linear, conv2d, conv2d_fast, conv2d_reference, convert, linear, to_torch
from convlens.layers import fast as fast_module
from convlens.layers._geometry import explicit_padding

IMPLEMENTATIONS = ("fast", "reference")

# (batch, in, out, height, width, kernel, stride, padding, dilation, groups, bias): odd and even,
# square and rectangular kernels, strides, paddings, dilations, groups, non-square images, batch 1.
CONFIGS = [
    (2, 3, 4, 9, 7, 3, 1, 0, 1, 1, True),
    (1, 3, 4, 9, 7, 3, 1, 1, 1, 1, False),
    (2, 2, 3, 8, 10, 2, 1, 0, 1, 1, True),  # even kernel
    (2, 2, 3, 8, 10, 4, 2, 1, 1, 1, True),  # even kernel, stride
    (3, 4, 6, 11, 9, (3, 2), (2, 1), (1, 0), 1, 1, True),  # rectangular everything
    (2, 4, 4, 10, 12, 3, 1, 2, 2, 1, True),  # dilation
    (2, 3, 5, 12, 9, (2, 3), 3, (0, 2), (2, 1), 1, False),
    (2, 4, 6, 7, 8, 3, 1, 1, 1, 2, True),  # groups
    (1, 6, 6, 9, 9, 3, 2, 1, 1, 6, True),  # depthwise
    (2, 6, 9, 8, 7, (1, 3), 1, 0, 1, 3, False),
    (2, 5, 7, 6, 6, 1, 1, 0, 1, 1, True),  # 1x1
    (2, 3, 4, 5, 5, 5, 1, 0, 1, 1, True),  # kernel as large as the image
    (2, 3, 4, 7, 6, 3, 1, "same", 1, 1, True),
    (2, 3, 4, 7, 6, 4, 1, "same", 2, 1, True),  # even kernel: extra padding on the right/bottom
    (2, 3, 4, 7, 6, 3, 2, "valid", 1, 1, True),
]


def _pair_of_layers(config, implementation, padding_mode="zeros", dtype=torch.float32):
    _, cin, cout, _, _, k, s, p, d, g, bias = config
    torch.manual_seed(1)
    ref = nn.Conv2d(cin, cout, k, s, p, d, g, bias, padding_mode, dtype=dtype)
    torch.manual_seed(1)
    own = Conv2d(cin, cout, k, s, p, d, g, bias, padding_mode, implementation=implementation, dtype=dtype)
    return ref, own


def _grads(layer, x, seed_grad):
    x = x.detach().clone().requires_grad_(True)
    out = layer(x)
    params = [layer.weight] + ([layer.bias] if layer.bias is not None else [])
    grads = torch.autograd.grad(out, [x, *params], seed_grad)
    return out.detach(), grads


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)).replace(" ", ""))
def test_conv_matches_torch_outputs_and_gradients(config, implementation):
    batch, cin, _, h, w = config[:5]
    ref, own = _pair_of_layers(config, implementation)
    assert torch.equal(ref.weight, own.weight)  # same initialisation for the same seed
    x = torch.randn(batch, cin, h, w, generator=torch.Generator().manual_seed(2))
    expected = ref(x)
    seed_grad = torch.randn(expected.shape, generator=torch.Generator().manual_seed(3))
    out_ref, grads_ref = _grads(ref, x, seed_grad)
    out_own, grads_own = _grads(own, x, seed_grad)
    assert out_own.shape == out_ref.shape and out_own.is_contiguous()
    torch.testing.assert_close(out_own, out_ref, rtol=1e-5, atol=1e-5)
    for name, got, want in zip(("input", "weight", "bias"), grads_own, grads_ref, strict=False):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=f"gradient of {name}")
    with torch.no_grad():  # the no-grad path writes blocks in place: same values
        torch.testing.assert_close(own(x), expected.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_match_torch(mode, implementation):
    config = (2, 4, 6, 7, 9, 3, (1, 2), (2, 1), 1, 2, True)
    ref, own = _pair_of_layers(config, implementation, padding_mode=mode)
    x = torch.randn(2, 4, 7, 9)
    seed_grad = torch.randn(ref(x).shape)
    out_ref, grads_ref = _grads(ref, x, seed_grad)
    out_own, grads_own = _grads(own, x, seed_grad)
    torch.testing.assert_close(out_own, out_ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads_own, grads_ref, strict=False):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


# Tiny shapes: gradcheck perturbs every input and weight entry one at a time.
GRADCHECK_CONFIGS = [
    (2, 2, 3, 5, 4, (3, 2), (2, 1), (1, 0), 1, 1, True),
    (1, 2, 2, 6, 5, (2, 3), 1, (0, 1), (2, 1), 1, False),
    (2, 4, 4, 4, 5, 3, 1, 1, 1, 2, True),
]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("config", GRADCHECK_CONFIGS, ids=["rect-stride", "dilated", "groups"])
def test_conv_gradcheck_float64(config, implementation):
    batch, cin, _, h, w = config[:5]
    _, own = _pair_of_layers(config, implementation, dtype=torch.float64)
    x = torch.randn(batch, cin, h, w, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in own.parameters()]
    bias = params[1] if len(params) > 1 else None
    _, _, _, _, _, _, s, p, d, g, _ = config

    def run(x, weight, *rest):
        return conv2d(x, weight, rest[0] if rest else None, s, p, d, g, implementation=implementation)

    assert torch.autograd.gradcheck(run, (x, params[0], *([bias] if bias is not None else [])))


@pytest.mark.parametrize("layout", fast_module.LAYOUTS)
@pytest.mark.parametrize(
    "config",
    [CONFIGS[4], CONFIGS[5], CONFIGS[6], CONFIGS[8], CONFIGS[9], CONFIGS[13]],
    ids=["rect-stride", "dil", "dil-stride", "dw-stride", "g3", "same-even"],
)
def test_fast_conv_layouts_and_blocks_give_the_same_result(monkeypatch, config, layout):
    """Both patch layouts, a batch split into one-image blocks: same values and gradients."""
    monkeypatch.setattr(fast_module, "BLOCK_BYTES", 1)
    batch, cin, _, h, w, _, s, p, d, g, _ = config
    ref, own = _pair_of_layers(config, "fast")
    if layout == "nhwc" and own.stride[0] != 1:
        with pytest.raises(InputError, match="vertical stride of 1"):
            conv2d_fast(torch.rand(1, cin, h, w), own.weight, own.bias, own.stride, own.dilation, g, layout="nhwc")
        return
    stride, dilation = own.stride, own.dilation
    pads = explicit_padding(own.padding, own.kernel_size, own.dilation)

    def run(x, weight, bias):
        return conv2d_fast(x, weight, bias, stride, dilation, g, pads, "zeros", layout)

    x = torch.randn(batch + 2, cin, h, w)
    with torch.no_grad():
        torch.testing.assert_close(run(x, own.weight, own.bias), ref(x), rtol=1e-5, atol=1e-5)
    xg = x.clone().requires_grad_(True)
    out = run(xg, own.weight, own.bias)
    seed_grad = torch.randn(out.shape)
    got = torch.autograd.grad(out, [xg, own.weight] + ([own.bias] if own.bias is not None else []), seed_grad)
    for a, b in zip(got, _grads(ref, x, seed_grad)[1], strict=False):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layout", fast_module.LAYOUTS)
def test_fast_layouts_gradcheck_float64(layout, monkeypatch):
    monkeypatch.setattr(fast_module, "BLOCK_BYTES", 1)  # several blocks
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)

    def run(x, w, b):
        return conv2d_fast(x, w, b, (1, 2), (2, 1), 2, (1, 0, 0, 1), "zeros", layout)

    assert torch.autograd.gradcheck(run, (x, w, b))


def test_functional_implementations_agree_on_padded_input():
    x = torch.randn(3, 4, 10, 9, dtype=torch.float64)
    w = torch.randn(6, 2, 3, 2, dtype=torch.float64)
    b = torch.randn(6, dtype=torch.float64)
    args = (x, w, b, (2, 1), (1, 2), 2)
    torch.testing.assert_close(conv2d_fast(*args), conv2d_reference(*args))


def test_conv_input_is_not_modified_and_layouts_work():
    torch.manual_seed(0)
    ref = nn.Conv2d(3, 5, 3, padding=1)
    own = Conv2d.from_torch(ref)
    x = torch.randn(2, 3, 8, 6)
    before = x.clone()
    for view in (x, x.to(memory_format=torch.channels_last), x.transpose(2, 3).contiguous().transpose(2, 3)):
        torch.testing.assert_close(own(view), ref(view), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(own(x[0]), ref(x[0]), rtol=1e-5, atol=1e-5)  # unbatched (C, H, W)
    assert torch.equal(x, before)


def test_linear_matches_torch():
    for bias in (True, False):
        torch.manual_seed(3)
        ref = nn.Linear(7, 5, bias=bias)
        torch.manual_seed(3)
        own = Linear(7, 5, bias=bias)
        assert [n for n, _ in own.named_parameters()] == [n for n, _ in ref.named_parameters()]
        for shape in ((4, 7), (2, 3, 7), (7,)):
            x = torch.randn(shape)
            seed_grad = torch.randn(ref(x).shape)
            out_ref, grads_ref = _grads(ref, x, seed_grad)
            out_own, grads_own = _grads(own, x, seed_grad)
            torch.testing.assert_close(out_own, out_ref)
            for got, want in zip(grads_own, grads_ref, strict=False):
                torch.testing.assert_close(got, want)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(linear, (x, w, b))


def test_initialisation_and_repr_match_torch():
    torch.manual_seed(5)
    ref = nn.Conv2d(4, 8, (3, 5), stride=2, padding=(1, 2), dilation=2, groups=2, bias=False, padding_mode="reflect")
    torch.manual_seed(5)
    own = Conv2d(4, 8, (3, 5), stride=2, padding=(1, 2), dilation=2, groups=2, bias=False, padding_mode="reflect")
    assert torch.equal(own.weight, ref.weight) and own.bias is None
    assert repr(own) == repr(ref)
    assert repr(Linear(3, 2)) == repr(nn.Linear(3, 2))
    assert repr(Conv2d(1, 2, 3, padding="same")) == repr(nn.Conv2d(1, 2, 3, padding="same"))
    assert "implementation=reference" in repr(Conv2d(1, 2, 3, implementation="reference"))
    attrs = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
    for attr in attrs:
        assert getattr(own, attr) == getattr(ref, attr), attr


def test_state_dict_round_trip_both_ways():
    torch.manual_seed(0)
    ref_conv, ref_fc = nn.Conv2d(3, 4, 3, groups=1), nn.Linear(6, 2)
    own_conv, own_fc = Conv2d(3, 4, 3), Linear(6, 2)
    own_conv.load_state_dict(ref_conv.state_dict())  # torch -> ours (strict)
    own_fc.load_state_dict(ref_fc.state_dict())
    assert all(torch.equal(own_conv.state_dict()[k], v) for k, v in ref_conv.state_dict().items())
    fresh_conv, fresh_fc = nn.Conv2d(3, 4, 3), nn.Linear(6, 2)
    fresh_conv.load_state_dict(own_conv.state_dict())  # ours -> torch (strict)
    fresh_fc.load_state_dict(own_fc.state_dict())
    x = torch.rand(2, 3, 5, 5)
    torch.testing.assert_close(fresh_conv(x), ref_conv(x))
    assert torch.equal(fresh_fc.weight, ref_fc.weight)
    with pytest.raises(RuntimeError):  # a wrong shape is still refused
        Conv2d(3, 4, 5).load_state_dict(ref_conv.state_dict())


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Conv2d(3, 4, 3, groups=2), "in_channels (3) must be divisible by groups (2)"),
        (lambda: Conv2d(4, 3, 3, groups=2), "out_channels (3) must be divisible by groups (2)"),
        (lambda: Conv2d(4, 4, 0), "kernel_size must be at least 1"),
        (lambda: Conv2d(4, 4, 3, stride=0), "stride must be at least 1"),
        (lambda: Conv2d(4, 4, 3, padding=-1), "padding must be at least 0"),
        (lambda: Conv2d(4, 4, 3, padding="full"), "padding must be 'same', 'valid'"),
        (lambda: Conv2d(4, 4, 3, stride=2, padding="same"), "not supported for strided"),
        (lambda: Conv2d(4, 4, 3, padding_mode="mirror"), "padding_mode must be one of"),
        (lambda: Conv2d(4, 4, 3, implementation="gpu"), "implementation must be 'fast' or 'reference'"),
        (lambda: Conv2d(0, 4, 3), "in_channels must be a positive int"),
        (lambda: Linear(-1, 3), "in_features must be a non-negative int"),
    ],
)
def test_bad_configuration_raises_clear_error(build, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()
    with pytest.raises(ValueError):  # the same exception family torch.nn raises
        build()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bad_input_raises_clear_error(implementation):
    layer = Conv2d(3, 4, 5, padding=1, implementation=implementation)
    with pytest.raises(InputError, match="kernel size 5x5 .* is larger than the padded input 4x6"):
        layer(torch.rand(1, 3, 2, 4))
    with pytest.raises(InputError, match="larger than the padded input"):
        Conv2d(3, 4, 3, dilation=3, implementation=implementation)(torch.rand(1, 3, 6, 6))
    with pytest.raises(InputError, match="expects 3 input channels but the input has 1"):
        layer(torch.rand(2, 1, 8, 8))
    with pytest.raises(InputError, match="shape \\(B,C,H,W\\) or \\(C,H,W\\)"):
        layer(torch.rand(8, 8))
    with pytest.raises(InputError, match="torch.float64 but the layer's weights are torch.float32"):
        layer(torch.rand(1, 3, 8, 8, dtype=torch.float64))
    with pytest.raises(InputError, match="too large for padding_mode='reflect'"):
        Conv2d(3, 4, 3, padding=3, padding_mode="reflect")(torch.rand(1, 3, 3, 3))
    with pytest.raises(InputError, match="expects 4 input features"):
        Linear(4, 2)(torch.rand(3, 5))
    with pytest.raises(ConvlensError):
        conv2d(torch.rand(1, 3, 8, 8), torch.rand(4, 3, 3, 3), torch.rand(5))


def _same_parameters(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_convert_trained_mnist_predicts_the_same_on_real_digits(trained_mnist, mnist_splits, implementation):
    images, labels = mnist_splits.test.batch(torch.arange(0, 1000, 10))  # 100 real digits, every class
    before = copy.deepcopy(trained_mnist.state_dict())
    twin = convert(trained_mnist, implementation=implementation)
    assert [type(m).__name__ for m in twin.modules()] == [type(m).__name__ for m in trained_mnist.modules()]
    assert any(isinstance(m, Conv2d) for m in twin.modules()) and any(isinstance(m, Linear) for m in twin.modules())
    assert not any(type(m) in (nn.Conv2d, nn.Linear) for m in twin.modules())
    assert _same_parameters(twin, trained_mnist)
    with torch.no_grad():
        expected, got = trained_mnist(images), twin(images)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert (expected.argmax(1) == labels).float().mean() > 0.8  # a trained model on real digits
    # the original is untouched (its own layers and weights) and shares no storage with the twin
    assert all(type(m) is not Conv2d for m in trained_mnist.modules())
    assert all(torch.equal(v, before[k]) for k, v in trained_mnist.state_dict().items())
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(1.0)
    assert all(torch.equal(v, before[k]) for k, v in trained_mnist.state_dict().items())


def test_convert_cifar_cnn_predicts_the_same():
    from convlens.models import create_model, get_info

    # There is no real CIFAR sample offline: the net is trained for a few steps on random
    # images with random labels (enough to move it away from its initialisation), then
    # compared on fresh random inputs.
    torch.manual_seed(0)
    model = create_model("cifar-cnn").train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(5):
        x, y = torch.rand(32, 3, 32, 32), torch.randint(0, 10, (32,))
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    twin = convert(model)
    assert get_info(twin) == get_info(model)
    x = torch.rand(40, 3, 32, 32)
    with torch.no_grad():
        expected, got = model(x), twin(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(got.argmax(1), expected.argmax(1))
    back = to_torch(twin)
    assert all(type(m) is not Conv2d for m in back.modules())
    assert _same_parameters(back, model)
    with torch.no_grad():
        torch.testing.assert_close(back(x), expected)


def test_convert_keeps_sharing_flags_and_subclasses():
    class MyConv(nn.Conv2d):  # a subclass may change forward: it is left alone
        pass

    shared = nn.Linear(4, 4)
    hooked = nn.Linear(4, 4)
    hooked.register_forward_hook(lambda *args: None)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), MyConv(2, 2, 1), nn.Flatten(), nn.Linear(2 * 3 * 3, 4), shared, shared,
                          torch.nn.utils.parametrizations.weight_norm(nn.Linear(4, 4)), hooked)  # fmt: skip
    model[3].weight.requires_grad_(False)
    model.train()
    model[0].eval()
    twin = convert(model)
    assert type(twin[0]) is Conv2d and type(twin[1]) is MyConv and type(twin[3]) is Linear
    assert twin[4] is twin[5] and type(twin[4]) is Linear
    assert type(twin[6]) is type(model[6]) and type(twin[7]) is nn.Linear  # computed weight, hooks: left alone
    x = torch.rand(2, 1, 5, 5)
    torch.testing.assert_close(twin(x), model(x))
    assert not twin[3].weight.requires_grad and twin[3].bias.requires_grad
    assert twin.training and not twin[0].training
    assert isinstance(convert(nn.Conv2d(1, 1, 1)), Conv2d)
    with pytest.raises(InputError, match="expected a torch.nn.Module"):
        convert("mnist-cnn")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="implementation"):
        convert(model, implementation="slow")
    with pytest.warns(FutureWarning), pytest.raises(InputError, match="cannot be copied"):
        convert(torch.nn.utils.weight_norm(nn.Linear(2, 2)))  # the deprecated weight norm cannot be deep-copied


def test_summary_counts_the_twin_like_the_original():
    from convlens.models import create_model, summary

    model = create_model("mnist-cnn")
    a, b = summary(model, (1, 28, 28)), summary(convert(model), (1, 28, 28))
    assert a.totals() == b.totals()


def test_compare_layers_and_report_section(trained_mnist, mnist_splits):
    from convlens.layers import compare_layers
    from convlens.report.html import render
    from convlens.report.layers import layers_section

    images, labels = mnist_splits.test.batch(torch.arange(0, 1000, 16))  # 63 real digits, every class
    before = copy.deepcopy(trained_mnist.state_dict())
    result = compare_layers(trained_mnist, images, labels, random_images=8, timing_batch=4, repeats=2)
    assert result.model_name == "mnist-cnn" and len(result.replaced) == 4
    assert result.random.max_abs < 1e-4 and result.real is not None and result.real.max_abs < 1e-4
    assert result.real.same_prediction == 1.0 and result.accuracy_own == result.accuracy_default > 0.8
    assert result.time_default_ms > 0 and result.time_own_ms > 0 and result.time_ratio > 0
    assert all(torch.equal(v, before[k]) for k, v in trained_mnist.state_dict().items())
    assert not trained_mnist.training
    text = "\n".join(result.lines())
    assert "ratio own/default" in text and "accuracy on real test images (63 images)" in text
    section = layers_section(result)
    html = render("t", [section])
    assert "time ratio own/default" in html and "features.0" in html
    with pytest.raises(InputError, match="input_size"):
        compare_layers(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def test_cli_layers_untrained_checkpoint_and_bad_path(tmp_path, trained_mnist, capsys):
    from convlens.cli import main
    from convlens.models import save_model

    assert main(["layers", "mnist-cnn", "--samples", "100", "--repeats", "2", "--batch", "8"]) == 0
    out = capsys.readouterr().out
    assert "untrained" in out and "ratio own/default" in out and "real MNIST test digits (100 images)" in out

    path = save_model(trained_mnist, tmp_path / "mnist.pt")
    code = main(["layers", "mnist-cnn", "--checkpoint", str(path), "--samples", "200", "--repeats", "2",
                 "--batch", "8", "--implementation", "reference", "--out", str(tmp_path / "out")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "weights: untrained" not in out and "same prediction 100.00%" in out
    assert (tmp_path / "out" / "layers.json").is_file()

    assert main(["layers", "mnist-cnn", "--checkpoint", str(tmp_path / "missing.pt")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err

    assert main(["layers", "cifar-cnn", "--checkpoint", str(path), "--repeats", "1"]) != 0
    err = capsys.readouterr().err
    assert "holds a mnist-cnn model, not cifar-cnn" in err and err.count("\n") == 1
