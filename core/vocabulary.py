"""Vocabularies shared across apps, each defined once and imported by the engines and the models alike.

A vocabulary is a ``str`` enum whose members carry a human label; the class offers ``choices``, ``values`` and
``labels`` as Django's ``TextChoices`` does, so models use it directly (``choices=LineKind.choices``) while the pure
engines, which may not import Django, use the same members. App-specific vocabularies (a commission line's reasons,
rule types, tier modes) live in their app's ``vocabulary`` module on the same base.

Pure: standard library only.
"""

from __future__ import annotations

from enum import EnumType, StrEnum


class _VocabularyType(EnumType):
    @property
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.label) for member in cls]

    @property
    def values(cls) -> list[str]:
        return [member.value for member in cls]

    @property
    def labels(cls) -> list[str]:
        return [member.label for member in cls]


class Vocabulary(StrEnum, metaclass=_VocabularyType):
    """``NAME = "value", "Label"``; the label defaults to the value with spaces for underscores."""

    def __new__(cls, value: str, label: str | None = None):
        member = str.__new__(cls, value)
        member._value_ = value
        member._label = label or value.replace("_", " ").capitalize()
        return member

    @property
    def label(self) -> str:
        return self._label

    def __str__(self) -> str:
        return self.value


class LineKind(Vocabulary):
    """What an attribution line pays (DOMAIN.md 6). Commission runs write the first seven, fee runs the next three;
    ``adjustment`` and ``reversal`` name the posting of late and corrected data (issue-era lines keep their own kind
    and name the locked period in ``adjusts_period``)."""

    VOLUME = "volume", "Volume"
    SPREAD = "spread", "Spread"
    OVERRIDE = "override", "Override"
    REBATE = "rebate", "Client rebate"
    REBATE_FUNDING = "rebate_funding", "Rebate funding"
    ADJUSTMENT = "adjustment", "Adjustment"
    REVERSAL = "reversal", "Reversal"
    MANAGEMENT_FEE = "management_fee", "Management fee"
    PERFORMANCE_FEE = "performance_fee", "Performance fee"
    FEE_SHARE = "fee_share", "Fee share"


class HierarchyModel(Vocabulary):
    """How a program pays a chain of IBs (DOMAIN.md 4.4)."""

    DIFFERENTIAL = "differential", "Differential"
    CASCADE = "cascade", "Cascade"
    OVERRIDE = "override", "Override"
