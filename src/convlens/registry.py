"""One registry of methods that feeds the CLI, the report and (later) the web app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import UnknownNameError


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes:
        name: the public name used by the CLI and the report (``"grad-cam"``).
        func: the function, called as ``func(model, x, target, **options)``.
        kind: the family (``"attribution"``, ``"adversarial"``, ...).
        summary: one line for ``--help`` and report captions.
        reference: the paper the method comes from.
        output: ``"pixel"`` for (B,C,H,W) maps, ``"map"`` for (B,1,H,W), ``"grid"`` for others.
        options: default keyword options the CLI may override.
    """

    name: str
    func: Callable[..., object]
    kind: str
    summary: str = ""
    reference: str = ""
    output: str = "map"
    options: dict[str, object] = field(default_factory=dict)


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add a method to the registry (a name registered twice is replaced)."""
    _REGISTRY[spec.name] = spec
    return spec


def list_methods(kind: str | None = None) -> list[MethodSpec]:
    """All registered methods, optionally of one kind, in registration order."""
    _load_builtin_methods()
    return [s for s in _REGISTRY.values() if kind is None or s.kind == kind]


def get_method(name: str, kind: str | None = None) -> MethodSpec:
    """Look a method up by name; an unknown name lists the valid ones."""
    valid = {s.name: s for s in list_methods(kind)}
    if name not in valid:
        raise UnknownNameError(f"unknown method {name!r}; choose from: {', '.join(valid) or '(none)'}")
    return valid[name]


def _load_builtin_methods() -> None:
    """Import the packages whose modules register methods on import."""
    import importlib

    for package in ("convlens.attribution",):
        try:
            importlib.import_module(package)
        except ImportError as exc:  # a package that is not built yet registers nothing
            if exc.name != package:
                raise
