"""Training on a real (tiny) simulated dataset: learning, checkpoints, resume, errors."""

import copy
import csv
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from df_policy.checkpoint import checkpoint_dir, load_checkpoint
from df_policy.errors import CheckpointError, ConfigError, DataError
from df_policy.model.config import ModelConfig
from df_policy.model.df_model import DiffusionForcingModel
from df_policy.policy.export import export_checkpoint
from df_policy.policy.runtime import DFPolicy
from df_policy.train.dataset import EpisodeDataset
from df_policy.train.trainer import lr_factor, place_model, train

from .conftest import TINY_MODEL, tiny_train

ROOT = Path(__file__).resolve().parents[2]


def weights(run):
    return load_file(checkpoint_dir(run) / "model.safetensors")


def test_dataset_tokens_follow_the_chunk_layout(sim_store):
    dataset = EpisodeDataset(sim_store, TINY_MODEL)
    normalizer = dataset.fit_normalizer()
    tokens, mask = dataset.episode_tokens(0, 3, normalizer)
    length = len(dataset.actions[0])
    assert len(mask) == len(range(3, length, 8))
    assert torch.all(tokens["action"][0] == 0), "token 0 has no executed chunk"
    chunk = normalizer.denormalize(tokens["action"][2].view(8, 8))
    assert torch.allclose(chunk, torch.from_numpy(dataset.actions[0][11:19]), atol=1e-5)
    assert tokens["front"].shape == (len(mask), 3, 16, 16)
    assert tokens["front"].min() >= -1 and tokens["front"].max() <= 1


def test_a_gripper_state_run_trains_on_the_measured_opening_and_carries_its_range(
        sim_store, tmp_path):
    """``gripper_state``: tokens hold the store's opening normalised to [-1, 1] (its range
    fitted on the store), the loss trains it as a modality, the exported checkpoint carries
    the range and a calibration replayed with the opening, and the runtime steps with one."""
    config = dataclasses.replace(TINY_MODEL, gripper_state=True)
    dataset = EpisodeDataset(sim_store, config)
    tokens, mask = dataset.episode_tokens(0, 3, dataset.fit_normalizer())
    assert mask.shape[1] == 4 and bool(mask[:, 2].all())
    opening = dataset.gripper_range.denormalize(tokens["gripper"])
    expected = dataset.openings[0][3::8]
    assert torch.allclose(opening, torch.from_numpy(expected), atol=1e-6)
    everything = np.concatenate(dataset.openings)
    assert dataset.gripper_range.low.item() == pytest.approx(everything.min(), abs=1e-6)
    assert everything.max() - everything.min() > 0.02, "the expert grasps and releases"
    run = tmp_path / "run"
    train(sim_store, config, tiny_train(steps=4), run, progress=False)
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert all(float(r["loss/gripper"]) > 0 for r in rows)
    export_checkpoint(run, sim_store, tmp_path / "exported", calibration_episodes=1)
    policy = DFPolicy.from_checkpoint(tmp_path / "exported", device="cpu")
    assert policy.model_config.gripper_state and policy.calibration is not None
    assert torch.equal(policy.model.gripper_range.high, dataset.gripper_range.high)
    frame = np.zeros((16, 16, 3), np.uint8)
    actions = policy.step({"front": frame, "wrist": frame}, gripper=0.04).actions
    assert actions.shape == (8, 8) and np.isfinite(actions).all()


def test_the_placed_model_computes_the_same_loss_and_gradients(sim_store):
    """Channels-last is a layout for speed, not a change of the maths."""
    dataset = EpisodeDataset(sim_store, TINY_MODEL)
    normalizer = dataset.fit_normalizer()
    tokens, token_mask, modality_mask = dataset.sample_batch(
        2, normalizer, torch.Generator().manual_seed(0))
    plain = DiffusionForcingModel(TINY_MODEL)
    placed = place_model(copy.deepcopy(plain), torch.device("cpu"))
    assert placed.denoiser.stem.weight.is_contiguous(memory_format=torch.channels_last)
    losses = []
    for model in (plain, placed):
        loss, _ = model.loss(tokens, token_mask, modality_mask,
                             torch.Generator().manual_seed(1), query_weight=1.0)
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for (name, a), b in zip(plain.named_parameters(), placed.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name


def test_loss_falls_and_logs_are_written(sim_store, tmp_path):
    run = tmp_path / "run"
    train(sim_store, TINY_MODEL, tiny_train(steps=80, checkpoint_every=40), run, progress=False)
    rows = list(csv.DictReader((run / "log.csv").open()))
    first = sum(float(r["loss"]) for r in rows[:10]) / 10
    last = sum(float(r["loss"]) for r in rows[-10:]) / 10
    assert last < 0.6 * first, (first, last)
    assert (run / "loss.png").stat().st_size > 1000
    loaded = load_checkpoint(run)
    assert loaded.config == TINY_MODEL and loaded.sections["data"]["episodes"] == 3


def test_resume_gives_the_same_weights(sim_store, tmp_path):
    train(sim_store, TINY_MODEL, tiny_train(steps=6), tmp_path / "straight", progress=False)
    train(sim_store, TINY_MODEL, tiny_train(steps=3), tmp_path / "split", progress=False)
    train(sim_store, TINY_MODEL, tiny_train(steps=6), tmp_path / "split", resume=True,
          progress=False)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_follows_the_given_learning_rate(sim_store, tmp_path):
    # The saved optimiser state used to bring back the first run's peak lr on resume.
    run = tmp_path / "run"
    train(sim_store, TINY_MODEL, tiny_train(steps=3, lr=3e-3), run, progress=False)
    slower = tiny_train(steps=6, lr=1e-4)
    train(sim_store, TINY_MODEL, slower, run, resume=True, progress=False)
    rows = {int(r["step"]): float(r["lr"]) for r in csv.DictReader((run / "log.csv").open())}
    assert rows[6] == pytest.approx(1e-4 * lr_factor(6, slower))


def test_a_resumed_run_appends_to_its_log_in_the_log_s_own_columns(sim_store, tmp_path):
    # A run logged before a column was added (loss/query) is resumed with the query on.
    run = tmp_path / "run"
    train(sim_store, TINY_MODEL, tiny_train(steps=3), run, progress=False)
    with (run / "log.csv").open() as handle:
        old = [{k: v for k, v in row.items() if k != "loss/query"}
               for row in csv.DictReader(handle)]
    with (run / "log.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(old[0]))
        writer.writeheader()
        writer.writerows(old)
    train(sim_store, TINY_MODEL, tiny_train(steps=6, query_weight=1.0), run, resume=True,
          progress=False)
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(None not in row for row in rows), "no row has more fields than the header"
    walls = [float(r["wall_s"]) for r in rows]
    assert walls == sorted(walls)


def test_a_resumed_run_logs_the_steps_after_its_checkpoint_once(sim_store, tmp_path):
    # A run killed after logging steps past its last checkpoint logged them twice on resume.
    run = tmp_path / "run"
    train(sim_store, TINY_MODEL, tiny_train(steps=3), run, progress=False)
    with (run / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    with (run / "log.csv").open("a", newline="") as handle:  # logged, then killed
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writerows({**rows[-1], "step": step} for step in (4, 5))
    train(sim_store, TINY_MODEL, tiny_train(steps=6), run, resume=True, progress=False)
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]


def test_the_runtime_s_query_is_logged_when_trained(sim_store, tmp_path):
    run = tmp_path / "run"
    train(sim_store, TINY_MODEL, tiny_train(steps=2, query_weight=1.0), run, progress=False)
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert all(float(r["loss/query"]) > 0 for r in rows)


def test_resuming_a_finished_run_is_a_no_op(sim_store, tmp_path):
    # Used to crash (UnboundLocalError): `make checkpoint` re-runs its finished stages.
    run = tmp_path / "run"
    train(sim_store, TINY_MODEL, tiny_train(steps=3), run, progress=False)
    before = weights(run)
    result = train(sim_store, TINY_MODEL, tiny_train(steps=3), run, resume=True, progress=False)
    assert result["step"] == 3 and result["final_loss"] is None
    assert all(torch.equal(before[key], value) for key, value in weights(run).items())


def test_start_windows_cut_every_episode_to_its_first_tokens(sim_store, tmp_path):
    dataset = EpisodeDataset(sim_store, TINY_MODEL)
    normalizer = dataset.fit_normalizer()
    generator = torch.Generator().manual_seed(0)
    tokens, token_mask, modality_mask = dataset.sample_batch(3, normalizer, generator,
                                                             max_tokens=2)
    assert tokens["front"].shape[:2] == (3, 2) and tokens["action"].shape[:2] == (3, 2)
    assert token_mask.all() and modality_mask.shape[:2] == (3, 2)
    generator = torch.Generator().manual_seed(0)
    whole, _, _ = dataset.sample_batch(3, normalizer, generator)
    assert whole["front"].shape[1] > 2
    assert torch.equal(whole["front"][:, :2], tokens["front"])
    run_cfg = tiny_train(steps=4, start_window_prob=1.0, start_window_tokens=2)
    assert train(sim_store, TINY_MODEL, run_cfg, tmp_path / "windows",
                 progress=False)["step"] == 4


def test_mismatches_fail_at_once_naming_the_problem(sim_store, tmp_path):
    with pytest.raises(DataError, match="missing \\['side'\\]"):
        EpisodeDataset(sim_store, ModelConfig(cameras=("front", "side"), image_size=16,
                                              channels=(16,)))
    with pytest.raises(DataError, match="64 px"):
        EpisodeDataset(sim_store, ModelConfig(image_size=64))
    run = tmp_path / "run"
    train(sim_store, TINY_MODEL, tiny_train(steps=2), run, progress=False)
    bigger = ModelConfig(**{**TINY_MODEL.__dict__, "latent_channels": 12})
    with pytest.raises(CheckpointError, match="latent_channels: 8 != 12"):
        train(sim_store, bigger, tiny_train(steps=4), run, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="--resume"):
        train(sim_store, TINY_MODEL, tiny_train(steps=2), run, progress=False)
    with pytest.raises(ConfigError, match="3 entries for 2 cameras"):
        train(sim_store, TINY_MODEL, tiny_train(camera_dropout_weights=(1, 1, 1)),
              tmp_path / "other", progress=False)
    folder = checkpoint_dir(run)
    (folder / "ema.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(run)


def test_torchrun_two_processes_stay_in_sync(sim_store, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    check = tmp_path / "check.py"
    check.write_text(
        "import os, sys, torch\n"
        "sys.path.insert(0, os.getcwd())\n"
        "import torch.distributed as dist\n"
        "from tests.train.conftest import TINY_MODEL, tiny_train\n"
        "from df_policy.train import trainer\n"
        "models = []\n"
        "original = trainer.update_ema\n"
        "def capture(ema, model, decay):\n"
        "    original(ema, model, decay)\n"
        "    models.append(model)\n"
        "trainer.update_ema = capture\n"
        "trainer.train(sys.argv[1], TINY_MODEL, tiny_train(steps=3), sys.argv[2], "
        "progress=False)\n"
        "flat = torch.cat([p.detach().flatten() for p in models[-1].parameters()])\n"
        "torch.save(flat, sys.argv[2] + f'/weights_rank{os.environ[\"RANK\"]}.pt')\n"
    )
    out = tmp_path / "ddp"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(29500 + os.getpid() % 1000), str(check), str(sim_store), str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(out / "weights_rank0.pt")
    rank1 = torch.load(out / "weights_rank1.pt")
    assert torch.equal(rank0, rank1), "DDP keeps the replicas identical"
    assert checkpoint_dir(out).is_dir()
