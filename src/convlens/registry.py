"""One generic registry, and the registry of methods that feeds the CLI, the report and the web app.

A method is registered where it is defined, with :func:`register_method` as a decorator (as
timm registers its models). The registry records what the rest of convlens needs to present
it: its kind (``"attribution"``, ``"attack"`` ...), a one-line summary, the paper, the kind of
output, whether the output is signed and whether it takes a layer. Default options are read from
the function's signature, never repeated.

Every kind has one package whose modules register its methods on import
(:data:`KIND_PACKAGES`); looking up a kind imports that package, and a package that fails to
import raises (it is never silently skipped).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# The package that registers each kind of method on import.
KIND_PACKAGES: dict[str, str] = {
    "attribution": "convlens.attribution",
    "synthesis": "convlens.synthesis",
    "attack": "convlens.adversarial",
    "style": "convlens.style",
}

# What a method returns, for figures and reports:
#   "pixel": (B,C,H,W) per-pixel and per-channel map; "map": (B,1,H,W) per-pixel map;
#   "grid": (B,rows,cols) one value per patch position; "image": (B,C,H,W) images in [0,1].
OUTPUTS = ("pixel", "map", "grid", "image")

# Arguments every method takes that are not options: the model, the images, what to explain.
FIXED_ARGUMENTS = ("model", "x", "target", "label")


def suggest(name: str, valid: list[str], limit: int = 30) -> str:
    """ "did you mean X? choose from: ..." for an unknown name (only the closest of a long list)."""
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
    hint = f"did you mean {' or '.join(close[:2])}? " if close else ""
    if len(valid) > limit:
        nearest = close or difflib.get_close_matches(name, valid, n=8, cutoff=0.0)
        return f"{hint}closest of {len(valid)}: {', '.join(nearest)}"
    return f"{hint}choose from: {', '.join(valid) or '(none)'}"


class Registry(Generic[T]):
    """Names mapped to items, in registration order.

    Registering a name twice is a programming error (``ValueError``); looking up an unknown name
    raises :class:`convlens.errors.UnknownNameError` listing the closest names.

    Args:
        what: what the items are, for messages (``"method"``, ``"model"``).
        load: called before every lookup; imports the modules that register items.
    """

    def __init__(self, what: str, load: Callable[[], None] | None = None) -> None:
        self.what = what
        self._items: dict[str, T] = {}
        self._load = load

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; a name registered twice raises ``ValueError``."""
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.what} needs a non-empty string name, got {name!r}")
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._items[name] = item
        return item

    def remove(self, name: str) -> T:
        """Unregister ``name`` and return its item (for tests and plug-ins)."""
        return self._items.pop(name)

    def _loaded(self) -> dict[str, T]:
        if self._load is not None:
            self._load()
        return self._items

    def get(self, name: str) -> T:
        """The item registered as ``name``; an unknown name lists the closest valid ones."""
        items = self._loaded()
        if name in items:
            return items[name]
        raise UnknownNameError(f"unknown {self.what} {name!r}; {suggest(str(name), list(items))}")

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._loaded())

    def values(self) -> list[T]:
        """Registered items, in registration order."""
        return list(self._loaded().values())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._loaded())


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes:
        name: the public name used by the CLI and the report (``"grad-cam"``).
        func: the function, called as ``func(model, x, target, **options)``.
        kind: the family (``"attribution"``, ``"attack"``, ...).
        summary: one line for ``--help``, tables and captions.
        paper: the paper the method comes from.
        output: one of :data:`OUTPUTS`.
        signed: whether the output holds evidence for (positive) and against (negative).
    """

    name: str
    func: Callable[..., Any]
    kind: str
    summary: str
    paper: str
    output: str = "map"
    signed: bool = False

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The function's options: every parameter but the fixed model, images and target."""
        signature = inspect.signature(self.func)
        return {n: p for n, p in signature.parameters.items() if n not in FIXED_ARGUMENTS}

    @property
    def defaults(self) -> dict[str, Any]:
        """Default value of every option that has one, read from the signature."""
        return {n: p.default for n, p in self.parameters.items() if p.default is not inspect.Parameter.empty}

    @property
    def takes_layer(self) -> bool:
        """Whether the method looks at an inner layer (it has a ``layer`` option)."""
        return "layer" in self.parameters

    @property
    def reference(self) -> str:
        """The paper (older name of :attr:`paper`)."""
        return self.paper


def _load_kinds() -> None:
    """Import the package of every kind; their modules register methods on import."""
    for package in KIND_PACKAGES.values():
        importlib.import_module(package)


METHODS: Registry[MethodSpec] = Registry("method", _load_kinds)


def register_method(
    name: str, *, kind: str, summary: str, paper: str, output: str = "map", signed: bool = False
) -> Callable[[F], F]:
    """Decorator that registers a method where it is defined and returns it unchanged.

    Args:
        name: the public name (lower case, words joined by ``-``).
        kind: the family; its package must be listed in :data:`KIND_PACKAGES`.
        summary: one line saying what the output shows.
        paper: authors, year and title of the paper the method comes from.
        output: one of :data:`OUTPUTS`.
        signed: whether the output is signed (evidence for and against) or a magnitude.

    Example:
        >>> @register_method("my-map", kind="attribution", summary="...", paper="...")  # doctest: +SKIP
        ... def my_map(model, x, target=None, *, output=None): ...
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")

    def decorate(func: F) -> F:
        METHODS.add(name, MethodSpec(name, func, kind, summary, paper, output, signed))
        return func

    return decorate


def list_methods(kind: str | None = None) -> list[MethodSpec]:
    """All registered methods, optionally of one kind, in registration order."""
    return [s for s in METHODS.values() if kind is None or s.kind == kind]


def get_method(name: str, kind: str | None = None) -> MethodSpec:
    """Look a method up by name (of one kind); an unknown name lists the valid ones."""
    spec = METHODS.get(name)
    if kind is not None and spec.kind != kind:
        valid = ", ".join(s.name for s in list_methods(kind))
        raise UnknownNameError(f"{name!r} is not an {kind} method; choose from: {valid}")
    return spec


__all__ = [
    "FIXED_ARGUMENTS", "KIND_PACKAGES", "METHODS", "MethodSpec", "OUTPUTS", "Registry", "get_method",
    "list_methods", "register_method", "suggest",
]  # fmt: skip
