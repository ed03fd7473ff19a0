"""The zarr episode store: round trip, schema checks, clear errors, crash safety."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from df_policy.data.store import EpisodeStore, describe
from df_policy.errors import DataError
from df_policy.keys import ACTION, EPISODE_ENDS, valid_key

from .helpers import CAMERAS, make_episode


def new_store(tmp_path, name="s.zarr"):
    return EpisodeStore.create(tmp_path / name, cameras=CAMERAS, image_size=8, control_hz=10)


def test_round_trip(tmp_path):
    store = new_store(tmp_path)
    episodes = [make_episode(5, marker=1), make_episode(7, marker=2)]
    episodes[1][valid_key("wrist")] = np.arange(7) % 3 != 0
    for i, episode in enumerate(episodes):
        assert store.append_episode(episode, success=i == 0, seed=10 + i) == i
    reopened = EpisodeStore.open(tmp_path / "s.zarr")
    assert reopened.n_episodes == 2 and reopened.n_steps == 12
    assert list(reopened.episode_ends) == [5, 12]
    for i, episode in enumerate(episodes):
        got = reopened.episode(i)
        for key, value in episode.items():
            np.testing.assert_array_equal(got[key], value)
    assert got[valid_key("front")].all()
    assert reopened.episode_meta(1) == {"length": 7, "success": False, "seed": 11}
    # Diffusion Policy's layout: data/<key> concatenated, meta/episode_ends
    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    assert root["data"][ACTION].shape == (12, 8)
    assert list(root["meta"][EPISODE_ENDS][:]) == [5, 12]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e.pop("wrist"), "missing 'wrist'"),
        (lambda e: e.__setitem__("front", e["front"][:, :4]), "'front' has shape"),
        (lambda e: e.__setitem__("front", e["front"].astype(np.float32)), "must be uint8"),
        (lambda e: e[ACTION].__setitem__((2, 3), np.nan), "'action' contains NaN"),
        (lambda e: e.__setitem__("extra", np.zeros(5)), "unknown arrays"),
        (lambda e: e.__setitem__(valid_key("front"), np.ones(5, int)), "bool mask"),
    ],
)
def test_bad_episode_is_refused_and_writes_nothing(tmp_path, change, message):
    store = new_store(tmp_path)
    store.append_episode(make_episode(4), success=True)
    episode = make_episode(5)
    change(episode)
    with pytest.raises(DataError, match=message):
        store.append_episode(episode, success=True)
    reopened = EpisodeStore.open(tmp_path / "s.zarr", mode="a")
    assert reopened.n_episodes == 1 and reopened.n_steps == 4
    assert zarr.open_group(str(tmp_path / "s.zarr"))["data"][ACTION].shape == (4, 8)


def test_not_a_store_and_wrong_schema(tmp_path):
    with pytest.raises(DataError, match="not found"):
        EpisodeStore.open(tmp_path / "missing.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="not a zarr episode store|not a df_policy"):
        EpisodeStore.open(tmp_path / "plain")
    other = zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    other.attrs["schema"] = "something-else"
    with pytest.raises(DataError, match="not a df_policy episode store"):
        EpisodeStore.open(tmp_path / "other.zarr")


def test_truncated_array_gives_clear_error(tmp_path):
    store = new_store(tmp_path)
    store.append_episode(make_episode(6), success=True)
    frames = sorted((tmp_path / "s.zarr" / "data" / "front").glob("c.*"))
    assert len(frames) == 6  # one flat chunk file per frame
    frames[3].unlink()  # lose one frame's chunk file
    with pytest.raises(DataError, match="data/front is missing 1 of its chunk files"):
        EpisodeStore.open(tmp_path / "s.zarr")
    meta = json.loads((tmp_path / "s.zarr" / "data" / "wrist" / "zarr.json").read_text())
    meta["shape"][0] = 3
    (tmp_path / "s.zarr" / "data" / "wrist" / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="truncated"):
        EpisodeStore.open(tmp_path / "s.zarr")


def test_create_refuses_existing_and_open_or_create_checks_match(tmp_path):
    new_store(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]  # built aside, renamed in
    with pytest.raises(DataError, match="already exists"):
        new_store(tmp_path)
    with pytest.raises(DataError, match="image_size"):
        EpisodeStore.open_or_create(tmp_path / "s.zarr", cameras=CAMERAS, image_size=16,
                                    control_hz=10)


def test_create_checks_its_arguments(tmp_path):
    with pytest.raises(DataError, match="source must be one of"):
        EpisodeStore.create(tmp_path / "a.zarr", cameras=CAMERAS, image_size=8, control_hz=10,
                            source="camera")
    with pytest.raises(DataError, match="positive image_size"):
        EpisodeStore.create(tmp_path / "a.zarr", cameras=CAMERAS, image_size=0, control_hz=10)
    assert not list(tmp_path.iterdir())


def test_read_only_store_refuses_appends(tmp_path):
    new_store(tmp_path).append_episode(make_episode(3), success=True)
    with pytest.raises(DataError, match="read-only"):
        EpisodeStore.open(tmp_path / "s.zarr").append_episode(make_episode(3), success=True)


def test_uncommitted_tail_is_ignored_and_trimmed(tmp_path):
    store = new_store(tmp_path)
    store.append_episode(make_episode(3, marker=1), success=True)
    # An append that wrote its data but died before the commit point:
    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")
    for key in root["data"].array_keys():
        array = root["data"][key]
        array.resize((8, *array.shape[1:]))
    assert EpisodeStore.open(tmp_path / "s.zarr").n_steps == 3
    store = EpisodeStore.open(tmp_path / "s.zarr", mode="a")
    assert root["data"][ACTION].shape[0] == 3
    store.append_episode(make_episode(4, marker=2), success=True)
    np.testing.assert_array_equal(store.episode(1)[ACTION], make_episode(4, marker=2)[ACTION])


WRITER = """
import sys
from df_policy.data.store import EpisodeStore
from tests.data.helpers import CAMERAS, make_episode
store = EpisodeStore.open_or_create(sys.argv[1], cameras=CAMERAS, image_size=32, control_hz=10)
i = store.n_episodes
while True:
    store.append_episode(make_episode(40, size=32, marker=i % 256), success=True, seed=i)
    print(i, flush=True)
    i += 1
"""


def test_sigkill_mid_append_loses_nothing_committed(tmp_path):
    path = tmp_path / "killed.zarr"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for kill_after in (0.7, 1.3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=root,
                                stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not path.exists():
            time.sleep(0.05)
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = EpisodeStore.open(path, mode="a")  # valid, uncommitted tail dropped
        assert store.n_episodes >= 1
        for i in range(store.n_episodes):
            np.testing.assert_array_equal(
                store.episode(i)[ACTION], make_episode(40, marker=i % 256)[ACTION]
            )
            assert store.episode_meta(i)["seed"] == i
    assert not list(path.rglob("*.partial"))


def test_describe_counts_missing_frames(tmp_path):
    store = new_store(tmp_path)
    episode = make_episode(10)
    episode[valid_key("wrist")] = np.arange(10) >= 3
    store.append_episode(episode, success=True)
    store.append_episode(make_episode(6), success=False)
    info = describe(tmp_path / "s.zarr")
    assert info["episodes"] == 2 and info["steps"] == 16
    assert info["success_rate"] == 0.5
    assert info["missing_frames"] == {"front": 0, "wrist": 3}
    assert info["size_bytes"] > 0
