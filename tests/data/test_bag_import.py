"""Bag import: real rosbag2 files (MCAP and sqlite3) converted into the episode store."""

import numpy as np
import pytest

from df_policy.config import from_dict
from df_policy.data.bag_import import convert_bags
from df_policy.data.config import BagImportConfig
from df_policy.data.store import EpisodeStore, describe
from df_policy.errors import DataError
from tests.data.bags import FRONT_DROPPED, TICKS, WRIST_LATE, write_teleop_bag

CONFIG = BagImportConfig(image_size=16, split="topic")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_converts_episodes_with_exact_alignment_and_masks(tmp_path, storage):
    bag = write_teleop_bag(tmp_path / "teleop", storage)
    summary = convert_bags([bag], CONFIG, tmp_path / "store.zarr")
    assert summary["episodes"] == 2
    store = EpisodeStore.open(tmp_path / "store.zarr")
    assert store.source == "bag" and store.control_hz == 10.0
    assert store.successes().tolist() == [True, False], "success read from the status topic"
    local = np.arange(TICKS)
    for episode in range(2):
        k = episode * (TICKS + 20) + local  # tick numbers written into the frames
        data = store.episode(episode)
        assert len(data["action"]) == TICKS
        front_ok = ~np.isin(local, FRONT_DROPPED)
        assert data["front_valid"].tolist() == front_ok.tolist()
        assert data["front"][front_ok, 3, 4, 0].tolist() == (k[front_ok] % 256).tolist()
        assert (data["front"][~front_ok] == 0).all(), "a missing frame is not filled"
        wrist_ok = local != WRIST_LATE
        assert data["wrist_valid"].tolist() == wrist_ok.tolist()
        assert data["wrist"][wrist_ok, 0, 0].tolist() == [[v % 256, 100, 200]
                                                          for v in k[wrist_ok]]
        np.testing.assert_allclose(data["joint_pos"], np.repeat(k[:, None] * 0.1, 7, 1),
                                   atol=1e-4)
        np.testing.assert_allclose(data["gripper"][:, 0], 0.04)
        np.testing.assert_allclose(data["ee_pose"][:, 0], k * 0.1, atol=1e-4)
        assert data["action"][:, 0].tolist() == k.tolist(), "command issued after tick i"
        assert data["action"][:, 7].tolist() == (k % 2).tolist()
    info = describe(tmp_path / "store.zarr")
    assert info["missing_frames"] == {"front": 2 * len(FRONT_DROPPED), "wrist": 2}
    assert summary["missing_frames"] == info["missing_frames"]


def test_split_by_gaps_and_by_ranges_and_appending(tmp_path):
    bag = write_teleop_bag(tmp_path / "teleop", wrist="bgr8")
    out = tmp_path / "store.zarr"
    convert_bags([bag], BagImportConfig(image_size=16, split="gap"), out)
    ranges = from_dict(BagImportConfig, {"image_size": 16, "split": "ranges",
                                         "ranges": [[0.0, 0.95], [5.0, 5.75]]})
    summary = convert_bags([bag], ranges, out)
    store = EpisodeStore.open(out)
    lengths = np.diff(np.concatenate([[0], store.episode_ends])).tolist()
    assert lengths == [TICKS, TICKS, 10, 8]
    assert store.successes().all()
    gap_first = store.episode(0)
    assert gap_first["wrist"][0, 0, 0].tolist() == [0, 100, 200], "bgr8 decoded to RGB"
    assert summary["episodes"] == 2


def test_short_episodes_are_skipped_and_reported(tmp_path):
    bag = write_teleop_bag(tmp_path / "teleop", episodes=1)
    config = BagImportConfig(image_size=16, split="gap", min_steps=TICKS + 1)
    summary = convert_bags([bag], config, tmp_path / "store.zarr")
    assert summary["episodes"] == 0 and summary["bags"][0]["skipped_short"] == 1


def test_bad_bags_fail_clearly_and_keep_the_store(tmp_path):
    out = tmp_path / "store.zarr"
    convert_bags([write_teleop_bag(tmp_path / "good")], CONFIG, out)
    missing = write_teleop_bag(tmp_path / "no_front", omit_topic="/front/image_raw")
    with pytest.raises(DataError, match="/front/image_raw is not in the bag"):
        convert_bags([missing], CONFIG, out)
    wrong_type = from_dict(BagImportConfig, {"image_size": 16, "cameras": {
        "front": {"topic": "/episode_status"}, "wrist": {"topic": "/wrist/image_raw"}}})
    with pytest.raises(DataError, match="carries std_msgs/msg/String"):
        convert_bags([tmp_path / "good"], wrong_type, tmp_path / "other.zarr")
    truncated = write_teleop_bag(tmp_path / "truncated")
    mcap = next(truncated.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    with pytest.raises(DataError, match="cannot read bag"):
        convert_bags([truncated], CONFIG, out)
    with pytest.raises(DataError, match="bag not found"):
        convert_bags([tmp_path / "nowhere"], CONFIG, out)
    assert EpisodeStore.open(out).n_episodes == 2, "earlier episodes stay committed"


def test_cli_converts_with_the_shipped_topics_file(tmp_path, capsys):
    from df_policy.cli import main

    bag = write_teleop_bag(tmp_path / "teleop", storage="sqlite3")
    out = tmp_path / "store.zarr"
    assert main(["convert", "bag2zarr", str(bag), "--out", str(out),
                 "--set", "image_size=16"]) == 0
    assert '"episodes": 2' in capsys.readouterr().out
    assert main(["dataset", "info", str(out)]) == 0
    assert "{'front': 6, 'wrist': 2}" in capsys.readouterr().out
    assert main(["convert", "bag2zarr", str(bag), "--out", str(out)]) == 2
    assert "was made with image_size=16, but 64 was asked for" in capsys.readouterr().err
    assert main(["convert", "bag2zarr", str(tmp_path / "missing"), "--out", str(out),
                 "--set", "image_size=16"]) == 2
    assert "bag not found" in capsys.readouterr().err
