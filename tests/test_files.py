"""Writing a file whole or not at all."""

from __future__ import annotations

import pytest

from df_policy.files import write_atomically


def test_text_and_bytes_replace_the_file_and_leave_nothing_beside_it(tmp_path):
    target = tmp_path / "LATEST"
    write_atomically(target, "step_00000500\n")
    assert target.read_text() == "step_00000500\n"
    write_atomically(target, b"\x00\x01graph")
    assert target.read_bytes() == b"\x00\x01graph"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LATEST"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_partial_one(tmp_path):
    target = tmp_path / "calibration.json"
    target.write_text('{"old": true}')
    with pytest.raises(UnicodeEncodeError):
        write_atomically(target, '{"new": "\ud800"}')  # a lone surrogate cannot be encoded
    assert target.read_text() == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration.json"]


def test_a_missing_folder_is_an_error_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "absent" / "LATEST", "step_00000500\n")
    assert not (tmp_path / "absent").exists()
