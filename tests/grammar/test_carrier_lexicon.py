"""The insurance lexicon: shipped with the agent, replaced by the operator's own file."""

from pathlib import Path

from agent.grammar.carriers import DEFAULT_LEXICON, CarrierLexicon, lexicon_path


def test_the_shipped_lexicon_is_inside_the_package_and_used_without_an_operator_file(
        tmp_path: Path) -> None:
    assert DEFAULT_LEXICON.is_file()
    assert DEFAULT_LEXICON.parent.name == "grammar"
    assert lexicon_path(tmp_path) == DEFAULT_LEXICON
    assert CarrierLexicon.load(DEFAULT_LEXICON).find("I have blue cross") is not None


def test_an_operator_lexicon_in_the_config_folder_replaces_the_shipped_one(
        tmp_path: Path) -> None:
    own = tmp_path / "workflows" / "lexicon" / "insurance_carriers.yaml"
    own.parent.mkdir(parents=True)
    own.write_text("carriers:\n  Zephyr Mutual: [zephyr]\n", encoding="utf-8")
    assert lexicon_path(tmp_path) == own
    lexicon = CarrierLexicon.load(lexicon_path(tmp_path))
    assert lexicon.find("it's zephyr") == "Zephyr Mutual"
    assert lexicon.find("I have blue cross") is None
