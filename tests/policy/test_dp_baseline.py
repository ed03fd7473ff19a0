"""The DP-style baseline: learns, loads as a controller, runs closed loop, exports."""

import numpy as np
import pytest
import torch

from df_policy.errors import CheckpointError
from df_policy.eval.episode import run_episode
from df_policy.model.dp_model import DiffusionPolicyModel
from df_policy.policy.dp_policy import DPPolicy
from df_policy.policy.export import export_checkpoint, recalibrate_checkpoint
from df_policy.policy.runtime import DFPolicy, load_policy
from df_policy.sim.config import SimConfig
from df_policy.train.config import TrainConfig
from df_policy.train.dataset import EpisodeDataset
from df_policy.train.trainer import train
from tests.helpers import tiny_model

TINY = tiny_model()


def test_dp_model_overfits_a_batch(sim_store):
    torch.manual_seed(0)
    dataset = EpisodeDataset(sim_store, TINY)
    normalizer = dataset.fit_normalizer()
    g = torch.Generator().manual_seed(0)
    batch = dataset.sample_batch(2, normalizer, g)
    model = DiffusionPolicyModel(TINY)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(150):
        loss, info = model.loss(*batch, torch.Generator().manual_seed(step % 4))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert set(info) == {"loss/action"}
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


def test_dp_run_is_a_controller_and_exports(tmp_path, sim_store):
    run = tmp_path / "dp"
    train(sim_store, TINY, TrainConfig(steps=3, batch_size=2, warmup_steps=1, device="cpu",
                                       num_threads=1), run, progress=False, kind="dp")
    policy = load_policy(run, device="cpu")
    assert isinstance(policy, DPPolicy)
    with pytest.raises(CheckpointError, match="'dp' policy"):
        DFPolicy.from_checkpoint(run, device="cpu")
    sim = SimConfig(image_size=16, max_steps=12)
    result = run_episode(policy, sim, "wrist_dead", 1.0, seed=5)
    assert result["steps"] == 12 and result["mean_levels"]["wrist"] == 999
    frames = {cam: np.full((16, 16, 3), 90, np.uint8) for cam in policy.cameras}
    runs = []
    for _ in range(2):
        policy.reset()
        runs.append([policy.step(frames).actions for _ in range(2)])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0][0].shape == (4, 8) and np.isfinite(runs[0]).all()
    out = export_checkpoint(run, sim_store, tmp_path / "exported")
    assert out["calibration"] == {}
    assert isinstance(load_policy(tmp_path / "exported", device="cpu"), DPPolicy)
    with pytest.raises(CheckpointError, match="no gating to calibrate"):
        recalibrate_checkpoint(tmp_path / "exported", sim_store)
