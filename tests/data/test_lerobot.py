"""LeRobotDataset v3.0 export and import on a real store: the round trip and bad input."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from df_policy.cli import main
from df_policy.data.lerobot import layout
from df_policy.data.lerobot.export import export_lerobot
from df_policy.data.lerobot.load import import_lerobot
from df_policy.data.store import EpisodeStore
from df_policy.errors import DataError
from df_policy.keys import valid_key


@pytest.fixture(scope="module")
def exported(sim_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("lerobot") / "ds"
    assert main(["convert", "zarr2lerobot", str(sim_store), "--out", str(out), "--quiet"]) == 0
    return out


def test_layout_is_lerobot_v3(exported, sim_store):
    store = EpisodeStore.open(sim_store)
    info = json.loads((exported / layout.INFO_PATH).read_text())
    assert info["codebase_version"] == "v3.0"
    assert (info["total_episodes"], info["total_frames"]) == (store.n_episodes, store.n_steps)
    assert info["fps"] == 10 and info["splits"] == {"train": f"0:{store.n_episodes}"}
    for cam in store.cameras:
        key = layout.video_key(cam)
        assert info["features"][key]["dtype"] == "video"
        assert (exported / info["video_path"].format(video_key=key, chunk_index=0,
                                                     file_index=0)).is_file()
    data = pq.read_table(exported / info["data_path"].format(chunk_index=0, file_index=0))
    assert data.num_rows == store.n_steps
    assert set(data.column_names) == {k for k, f in info["features"].items()
                                      if f["dtype"] != "video"}
    episodes = pq.read_table(exported / layout.EPISODES_PATH.format(chunk_index=0, file_index=0))
    rows = episodes.to_pylist()
    assert [r["length"] for r in rows] == [store.episode_meta(i)["length"]
                                           for i in range(store.n_episodes)]
    assert rows[1]["dataset_from_index"] == rows[0]["dataset_to_index"]
    stats = json.loads((exported / layout.STATS_PATH).read_text())
    assert np.shape(stats[layout.video_key("front")]["mean"]) == (3, 1, 1)
    assert stats["action"]["count"] == [store.n_steps]


def test_round_trip_loses_only_video_rounding(exported, sim_store, tmp_path):
    back_path = tmp_path / "back.zarr"
    import_lerobot(exported, back_path, progress=False)
    original, back = EpisodeStore.open(sim_store), EpisodeStore.open(back_path)
    assert (back.cameras, back.image_size, back.control_hz) == (
        original.cameras, original.image_size, original.control_hz)
    assert back.n_episodes == original.n_episodes
    errors = []
    for index in range(original.n_episodes):
        a, b = original.episode(index), back.episode(index)
        assert original.episode_meta(index) == back.episode_meta(index)
        for key in a:
            if key in original.cameras:
                errors.append(np.abs(a[key].astype(int) - b[key].astype(int)))
            else:
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    error = np.concatenate([e.ravel() for e in errors])
    # Lossless H.264 in yuv444p: only the RGB -> YUV rounding remains (about 0.35 / 2 levels).
    assert error.mean() < 0.6 and error.max() <= 3


def test_not_a_lerobot_folder(sim_store, tmp_path):
    with pytest.raises(DataError, match="not a LeRobot dataset"):
        import_lerobot(sim_store, tmp_path / "x.zarr", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_camera_video_writes_nothing(exported, tmp_path):
    broken = tmp_path / "ds"
    shutil.copytree(exported, broken)
    shutil.rmtree(broken / "videos" / layout.video_key("wrist"))
    with pytest.raises(DataError, match="camera 'wrist' has no video"):
        import_lerobot(broken, tmp_path / "x.zarr", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_mismatched_fps_is_one_error(exported, tmp_path, capsys):
    broken = tmp_path / "ds"
    shutil.copytree(exported, broken)
    info = json.loads((broken / layout.INFO_PATH).read_text())
    info["fps"] = 30
    (broken / layout.INFO_PATH).write_text(json.dumps(info))
    code = main(["convert", "lerobot2zarr", str(broken), "--out", str(tmp_path / "x.zarr")])
    assert code == 2
    assert "runs at 10 fps, the dataset at 30" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


def test_export_refuses_existing_out_and_non_integer_fps(sim_store, tmp_path):
    with pytest.raises(DataError, match="already exists"):
        export_lerobot(sim_store, tmp_path, progress=False)
    store = EpisodeStore.create(tmp_path / "odd.zarr", cameras=("front",), image_size=8,
                                control_hz=7.5)
    length = 3
    store.append_episode({
        "front": np.zeros((length, 8, 8, 3), np.uint8), valid_key("front"): np.ones(length, bool),
        "action": np.zeros((length, 8), np.float32), "ee_pose": np.zeros((length, 7), np.float32),
        "gripper": np.zeros((length, 1), np.float32),
        "joint_pos": np.zeros((length, 7), np.float32)}, success=False)
    with pytest.raises(DataError, match="whole fps"):
        export_lerobot(tmp_path / "odd.zarr", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
