"""``cli_context.run``: what an operator reads when a command fails with a ValueError.

Before, every ValueError leaving a command was reported as "database.url: not a
PostgreSQL URL (<the exception's text>)": the wrong setting named, and the text echoed,
which may quote a record (a value that did not parse). Now only a URL the database driver
could not split names ``database.url``; any other is named by its class alone."""

from __future__ import annotations

import pytest

from carrier.errors import OperatorError
from carrier.records.cli_context import _connect, run


async def _fails_on_a_value() -> None:
    raise ValueError("invalid date of birth '1980-13-45' for Testa Patientson")


def test_a_value_error_inside_a_command_names_no_setting_and_echoes_nothing() -> None:
    with pytest.raises(OperatorError) as err:
        run(_fails_on_a_value())
    text = str(err.value)
    assert "database.url" not in text
    assert "Testa" not in text
    assert "1980" not in text
    assert "ValueError" in text


def test_a_url_the_driver_cannot_split_still_names_database_url() -> None:
    with pytest.raises(OperatorError) as err:
        run(_connect("postgresql://carrier:s3cret@db.internal:notaport/records"))
    text = str(err.value)
    assert text.startswith("database.url")
    assert "s3cret" not in text
