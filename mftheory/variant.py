"""A model variant (activation, loss, data law) travelling together with the kernels generated from its derivation.

Every prediction (:func:`mftheory.meanfield`, the label-noise and finite-size corrections) runs on a
:class:`Variant`, so the numbers always come from the derivation of the model they claim to describe:

* ``variant_of(setup)`` gives the variant a :class:`~mftheory.model.Setup` names: the committed kernels of a
  built-in (activation, loss, data), or, for a user's own ``Activation`` / ``Loss`` object in the setup, its
  derivation compiled once into the user cache (keyed by content);
* ``compile_derivation(D)`` turns a derivation the user ran (``mftheory.derivations.meanfield.derive``) into a variant;
  passing it to a prediction together with a setup that names another model is an error, never a silent
  mix of the two.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import pathlib
from types import ModuleType

from mftheory import kernels
from mftheory.model import Setup

__all__ = ["Variant", "variant_of", "compile_derivation"]


@dataclasses.dataclass(frozen=True, eq=False)
class Variant:
    """One model (activation, loss, data law) with its generated kernels.

    Attributes
    ----------
    activation, loss, data : mftheory.derivations.catalog.Activation, Loss, DataLaw
        What the kernels were derived from.
    kernels : module
        The mean-field kernels (drift, discrete map, flow, moments, ...) of (data law, loss).
    builtin : bool
        True for a variant whose kernels are committed with the package.
    """

    activation: object
    loss: object
    data: object
    kernels: ModuleType = dataclasses.field(repr=False)
    builtin: bool
    _odd_slope: object = dataclasses.field(repr=False)
    _cache_dir: pathlib.Path | None = dataclasses.field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"activation={self.activation.name} loss={self.loss.name} data={self.data.name}"

    def odd_slope(self, leak: float) -> float:
        """(sigma'(z) + sigma'(-z)) / 2 of this variant's activation at leak ``s = leak``."""
        return float(self._odd_slope(float(leak)))

    def finite_width_kernels(self) -> ModuleType:
        """The finite-width kernels of this variant's activation (Gaussian data)."""
        return self._activation_family("finite_width")

    def finite_sample_kernels(self) -> ModuleType:
        """The finite-sample kernels of this variant's activation (Gaussian data)."""
        return self._activation_family("finite_sample")

    def _activation_family(self, family: str) -> ModuleType:
        if self.builtin:
            return importlib.import_module(f"mftheory.kernels.generated.{family}_{self.activation.name}")
        return _compile_activation_family(family, self.activation, self._cache_dir)

    def check_setup(self, setup: Setup) -> None:
        """Raise ValueError unless ``setup`` names this variant's activation, loss and data law."""
        from mftheory.derivations.catalog import resolve

        for field, mine in (("activation", self.activation), ("loss", self.loss), ("data", self.data)):
            theirs = resolve(field, getattr(setup, field))
            if theirs != mine:
                raise ValueError(
                    f"the variant was derived for {field} {mine.name!r} but setup.{field} is {theirs.name!r}: "
                    f"the predictions would mix two models; use setup.replace({field}=variant.{field})")


@functools.lru_cache(maxsize=None)
def _builtin_variant(activation: str, loss: str, data: str) -> Variant:
    from mftheory.derivations.catalog import ACTIVATIONS, DATA_LAWS, LOSSES

    return Variant(activation=ACTIVATIONS[activation], loss=LOSSES[loss], data=DATA_LAWS[data],
                   kernels=kernels.load(data, loss), builtin=True,
                   _odd_slope=kernels.builtin_odd_slope_kernel(activation))


@functools.lru_cache(maxsize=None)
def _user_variant(activation, loss, data) -> Variant:
    from mftheory.derivations.meanfield import derive

    return compile_derivation(derive(activation, loss, data))


def variant_of(setup: Setup) -> Variant:
    """The variant that ``setup`` names (derived and compiled on first use for a user's own activation or loss)."""
    if not isinstance(setup, Setup):
        raise ValueError(f"setup must be a mftheory.Setup, got {type(setup).__name__}")
    if setup.data == "features":
        raise ValueError("data='features' has no variant and no label-noise theory (its mean field is derived in "
                         "derivations/features.py): use mftheory.meanfield(setup, steps) for it")
    if setup.is_builtin:
        return _builtin_variant(setup.activation, setup.loss, setup.data)
    return _user_variant(setup.activation, setup.loss, setup.data)


def compile_derivation(derivation, cache_dir: pathlib.Path | str | None = None) -> Variant:
    """Generate (once, keyed by content) and import the kernels of a user's derivation; return its variant.

    The mean-field kernels and the activation's odd slope are generated now; the finite-size kernels of the
    activation the first time a finite-size prediction asks for them. Files go to ``cache_dir`` (default
    ``$MFTHEORY_CACHE`` or ``~/.cache/mftheory``), never into the installed package.
    """
    from mftheory.derivations.codegen import (activation_module_source, kernel_module_key, kernel_module_source,
                                     odd_slope_kernel_name)
    from mftheory.derivations.meanfield import MeanFieldDerivation

    if not isinstance(derivation, MeanFieldDerivation):
        raise ValueError(f"derivation must be the result of mftheory.derivations.meanfield.derive, got "
                         f"{type(derivation).__name__}")
    D = derivation
    key = kernel_module_key(D.activation, D.loss, D.data)
    module = kernels.import_generated(f"mftheory_variant_{key[:24]}", lambda: kernel_module_source(D), cache_dir)
    activation_module = kernels.import_generated(
        f"mftheory_activation_{key[:24]}", lambda: activation_module_source([D]), cache_dir)
    odd_slope = getattr(activation_module, odd_slope_kernel_name(D.activation))
    return Variant(activation=D.activation, loss=D.loss, data=D.data, kernels=module, builtin=False,
                   _odd_slope=odd_slope, _cache_dir=pathlib.Path(cache_dir) if cache_dir else None)


def _compile_activation_family(family: str, activation, cache_dir) -> ModuleType:
    from mftheory.derivations.codegen import activation_module_key, finite_sample_module_source, finite_width_module_source
    from mftheory.derivations.finite_sample import derive_finite_sample
    from mftheory.derivations.finite_width import derive_finite_width

    derive_family, source = {"finite_width": (derive_finite_width, finite_width_module_source),
                             "finite_sample": (derive_finite_sample, finite_sample_module_source)}[family]
    key = activation_module_key(family, activation)
    return kernels.import_generated(f"mftheory_{family}_{key[:24]}", lambda: source(derive_family(activation)),
                                    cache_dir)
