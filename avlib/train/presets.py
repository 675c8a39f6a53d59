"""Scale presets of the experiment families: one lookup and validation for all of them."""

from __future__ import annotations

from ..errors import ParameterError

__all__ = ["pick_preset"]


def pick_preset(presets: dict, scale: str, overrides: dict, *, family: str):
    """The preset of ``scale`` in ``presets`` after checking that ``overrides`` names only its fields.

    Raises :class:`ParameterError` naming the bad scale (with the valid ones) or the unknown fields.
    """
    if scale not in presets:
        raise ParameterError(f"unknown scale {scale!r}; valid: {', '.join(presets)}")
    preset = presets[scale]
    unknown = set(overrides) - set(preset.to_dict())
    if unknown:
        raise ParameterError(f"unknown {family} preset fields: {sorted(unknown)}")
    return preset
