"""The README's code cannot rot: every `glyphgen` command it shows exists and takes the options it is shown with,
every shipped model it names is shipped, every config file it names exists, and its Python blocks that need no
server run as written."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glyphgen import zoo
from glyphgen.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
TAKES_A_MODEL = {"sample", "write", "font", "export", "eval", "compare"}  # commands whose first argument is a model


def _commands() -> list[list[str]]:
    """Each `glyphgen ...` line of the shell blocks, as arguments (comments dropped, continued lines joined)."""
    found = []
    for lang, body in BLOCKS:
        if lang != "bash":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].split("  #")[0]
            m = re.search(r"(?:\.venv/bin/)?glyphgen\s+(.*)", line)
            if m and "&&" not in m.group(1):
                try:
                    found.append(shlex.split(m.group(1)))
                except ValueError:  # a quoted argument that spans lines (text in lines): the command alone
                    found.append(m.group(1).split()[:1])
    return found


COMMANDS = _commands()


def test_the_readme_shows_commands():
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a)[:60] for a in COMMANDS])
def test_each_command_exists_and_knows_its_options(args):
    words = [a for a in args if not a.startswith("-")]
    command = (
        words[:2]
        if words[:1] in (["data"], ["eval"])
        and words[1:2] in (["charsets"], ["fonts"], ["preview"], ["build"], ["train-recognizer"])
        else words[:1]
    )
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for option in (a.split("=")[0] for a in args if a.startswith("--")):
        if command == ["train"]:  # model options go to the family (checked by --dry-run below)
            continue
        assert option in result.output, f"{' '.join(command)} has no {option}"
    if command == ["train"] and "--resume" not in args:
        dry = CliRunner().invoke(app, [*args, "--dry-run"], env={"COLUMNS": "300"})
        assert dry.exit_code == 0, dry.output


def test_every_model_and_config_the_readme_names_is_there():
    shipped = {m.name for m in zoo.shipped()}
    for args in COMMANDS:
        words = [a for a in args if not a.startswith("-")]
        if words[:1] and words[0] in TAKES_A_MODEL and len(words) > 1:
            model = words[1]
            if "/" not in model and model.isascii() and model != "NAME" and not model.startswith("train"):
                assert model in shipped, f"README uses {model}, which is not shipped"
        for k, a in enumerate(args):
            if a == "--config":
                assert (ROOT / args[k + 1]).is_file(), args[k + 1]


def test_the_python_blocks_that_need_no_server_run_as_written():
    ran = 0
    for lang, body in BLOCKS:
        if lang == "python" and "Client(" not in body:
            exec(compile(body, "README.md", "exec"), {})  # noqa: S102 - the README's own code
            ran += 1
    assert ran >= 1
