"""Insurance carrier names, from a list in configuration."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from agent.grammar.normalize import clean

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
        cleaned = clean(text)
        for alias, canonical in self.aliases:
            if re.search(rf"(?<![\w']){re.escape(alias)}(?![\w'])", cleaned):
                return canonical
        return None


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
