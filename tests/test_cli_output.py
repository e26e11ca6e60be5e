"""What the CLI prints, as a user reads it: install hints, output formats, honest defaults."""

from rich.console import Console

from cliffwatch import cli
from cliffwatch.core.errors import RegistryError


def test_list_keeps_the_extra_in_an_install_hint():
    console = Console(record=True, width=200)
    console.print(cli._unavailable(RegistryError("family 'gpt' needs the `neural` extra: pip install 'cliffwatch[neural]'")))
    assert "pip install 'cliffwatch[neural]'" in console.export_text()
