"""Architectures, the model registry, checkpoints and the layer-by-layer summary."""

from .checkpoint import load_model, read_checkpoint, save_model
from .info import ModelInfo, get_info, last_conv_name
from .registry import (
    CIFAR10_CLASSES,
    MNIST_CLASSES,
    create_model,
    imagenet_classes,
    list_models,
    model_description,
)
from .simple import CifarCNN, MnistCNN
from .squeezenet import SqueezeNet
from .summary import LayerRow, ModelSummary, summary

__all__ = [
    "CIFAR10_CLASSES", "MNIST_CLASSES", "CifarCNN", "LayerRow", "MnistCNN", "ModelInfo",
    "ModelSummary", "SqueezeNet", "create_model", "get_info", "imagenet_classes",
    "last_conv_name", "list_models", "load_model", "model_description", "read_checkpoint",
    "save_model", "summary",
]  # fmt: skip
