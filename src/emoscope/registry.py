"""Named registries: the extension points of emoscope (detectors, backbones, fusions, ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from emoscope.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> factory table filled by the ``register`` decorator."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            key = (name or factory.__name__).lower()
            if key in self._entries and self._entries[key] is not factory:
                raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[key] = factory
            return factory

        return decorate

    def get(self, name: str) -> Callable[..., T]:
        key = name.lower()
        if key not in self._entries:
            known = ", ".join(self.names()) or "(none)"
            raise UserError(f"unknown {self.kind} '{name}'; known {self.kind}s: {known}")
        return self._entries[key]

    def build(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


DETECTORS: Registry[Any] = Registry("detector")
BACKBONES: Registry[Any] = Registry("backbone")
FUSIONS: Registry[Any] = Registry("fusion")
HEADS: Registry[Any] = Registry("head")
LOSSES: Registry[Any] = Registry("loss")
DATASETS: Registry[Any] = Registry("dataset")
MODELS: Registry[Any] = Registry("model")

ALL_REGISTRIES: dict[str, Registry[Any]] = {
    "detectors": DETECTORS,
    "backbones": BACKBONES,
    "fusions": FUSIONS,
    "heads": HEADS,
    "losses": LOSSES,
    "datasets": DATASETS,
    "models": MODELS,
}
