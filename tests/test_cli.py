"""The df-policy command line: help everywhere, one-line errors with exit code 2."""

import subprocess
from pathlib import Path

import pytest

from df_policy.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "df-policy"


def _subcommand_paths(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _subcommand_paths(sub, (*prefix, name))


@pytest.mark.parametrize("path", [(), *_subcommand_paths(build_parser())])
def test_help_everywhere(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    assert "usage: df-policy" in capsys.readouterr().out


def test_bad_arguments_give_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["collect", "--episodes", "many", "--out", "x.zarr"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid int value" in err


def test_unknown_subcommand_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_config_error_is_one_line_exit_2(tmp_path, capsys):
    code = main(["collect", "--out", str(tmp_path / "s.zarr"), "--sim", "image_sise=32"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "image_sise" in err


def test_installed_console_script_runs():
    result = subprocess.run([str(EXE), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "collect" in result.stdout
