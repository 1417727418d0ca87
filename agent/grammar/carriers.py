"""Insurance carrier names, from a list in configuration."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from agent.grammar.normalize import clauses, clean

# Shipped inside the package (an installed agent has it); an operator's own list in the
# configuration folder, ``workflows/lexicon/insurance_carriers.yaml``, replaces it.
DEFAULT_LEXICON = Path(__file__).with_name("insurance_carriers.yaml")
OPERATOR_LEXICON = Path("workflows") / "lexicon" / "insurance_carriers.yaml"


@dataclass(frozen=True)
class CarrierLexicon:
    """Canonical name per alias; the longest alias found in the utterance wins."""

    aliases: tuple[tuple[str, str], ...]  # (alias, canonical), longest alias first

    @classmethod
    def build(cls, table: Mapping[str, Iterable[str]], extra: Iterable[str] = ()) -> CarrierLexicon:
        pairs: dict[str, str] = {}
        for canonical, aliases in table.items():
            pairs[clean(canonical)] = canonical
            for alias in aliases:
                pairs[clean(alias)] = canonical
        for canonical in extra:
            pairs.setdefault(clean(canonical), canonical)
        ordered = sorted(pairs.items(), key=lambda kv: (-len(kv[0]), kv[0]))
        return cls(tuple(ordered))

    @classmethod
    def load(cls, path: Path = DEFAULT_LEXICON, extra: Iterable[str] = ()) -> CarrierLexicon:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        return cls.build(data.get("carriers", {}), extra)

    def find(self, text: str) -> str | None:
        """The carrier the caller has: the longest alias said, leaving out carriers said
        not to be theirs ("not Aetna, Cigna", "I used to have Medicare but now ...") and
        everyday words ("my medical insurance is Aetna") when a carrier is named."""
        found: list[tuple[str, str]] = []  # (alias, canonical), in alias order per clause
        for clause in clauses(text):
            found += _said_in(clause, self.aliases)
        named = [f for f in found if f[0] not in _EVERYDAY_WORDS] or found
        return max(named, key=lambda f: len(f[0]))[1] if named else None


# Aliases that are also everyday words: "medical" is Medi-Cal (Medicaid) said alone, but
# "my medical insurance is Aetna" is Aetna. They count only when no carrier is named.
_EVERYDAY_WORDS = frozenset({"medical", "medicate", "united", "independence", "horizon",
                             "summit", "cash", "emblem", "acme"})
# Words saying a carrier is not (or no longer) the caller's: "not Kaiser", "I don't have
# Medicaid anymore", "I used to have Medicare", "I had Cigna before".
_NOT_THEIRS = re.compile(
    r"\b(?:not|never|no longer|anymore|any more|used to|before|previously|formerly|"
    r"switched from|dropped|lost|except|other than|don't|dont|doesn't|doesnt|didn't|didnt|"
    r"isn't|isnt|wasn't|wasnt|aren't|arent|can't|cant)\b")
# A Self-pay alias says "no insurance" itself: "I don't have insurance anymore" is that.
_SAYS_NONE = re.compile(r"\b(?:no|not|don't|dont)\b|uninsured")


def _said_in(clause: str, aliases: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """Aliases said in one clause (longest first, not overlapping), unless the clause
    says the carrier is not the caller's."""
    found: list[tuple[str, str]] = []
    rest = clause
    for alias, canonical in aliases:
        pattern = rf"(?<![\w']){re.escape(alias)}(?![\w'])"
        if re.search(pattern, rest):
            found.append((alias, canonical))
            rest = re.sub(pattern, " | ", rest)
    if _NOT_THEIRS.search(rest):
        return [f for f in found if _SAYS_NONE.search(f[0])]
    return found


_default: CarrierLexicon | None = None


def default_lexicon() -> CarrierLexicon:
    global _default  # noqa: PLW0603 - loaded once, immutable afterwards
    if _default is None:
        _default = CarrierLexicon.load(lexicon_path())
    return _default


def lexicon_path(config_dir: Path | None = None) -> Path:
    """The operator's lexicon when the configuration folder has one, else the shipped one."""
    from carrier.settings import default_config_dir  # noqa: PLC0415 - agent reads carrier's

    own = (config_dir if config_dir is not None else default_config_dir()) / OPERATOR_LEXICON
    return own if own.is_file() else DEFAULT_LEXICON
