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


def test_eval_runs_the_seeds_asked_for(tmp_path, tiny_checkpoint, capsys):
    """Settings are tuned on validation seeds (--first-seed) and scored on the test seeds."""
    import json

    from df_policy.seeds import EVAL_SEED_OFFSET, VALIDATION_SEED_OFFSET

    common = ["eval", "--checkpoint", str(tiny_checkpoint), "--suite", "clean", "--episodes",
              "2", "--workers", "1", "--videos", "0", "--quiet", "--sim", "image_size=16",
              "--sim", "max_steps=4"]
    runs = {"test": [], "validation": ["--first-seed", str(VALIDATION_SEED_OFFSET)]}
    for name, extra in runs.items():
        assert main([*common, *extra, "--out", str(tmp_path / name)]) == 0
    seeds = {name: [o["seed"] for o in json.loads((tmp_path / name / "results.json")
                                                    .read_text())["cells"][0]["outcomes"]]
             for name in runs}
    assert seeds == {"test": [EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + 1],
                     "validation": [VALIDATION_SEED_OFFSET, VALIDATION_SEED_OFFSET + 1]}
    assert "clean severity 0: success" in capsys.readouterr().out
