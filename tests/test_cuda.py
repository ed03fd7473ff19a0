"""Training and the policy runtime on a CUDA GPU give what they give on the CPU.

Skipped where torch sees no GPU (CI has none). Run on a GPU machine with
``python -m pytest -q tests/test_cuda.py``; docs/results.md has the last run.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from df_policy.checkpoint import load_checkpoint
from df_policy.data.store import EpisodeStore
from df_policy.model.df_model import DiffusionForcingModel
from df_policy.policy.runtime import DFPolicy
from df_policy.train.trainer import train
from tests.data.helpers import make_episode
from tests.model.test_df_model import TINY, make_batch
from tests.train.conftest import TINY_MODEL, tiny_train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "df_fruit_swap"


@pytest.fixture(autouse=True)
def exact_float32():
    """Full float32 matrix products on the GPU, so CPU and GPU figures can be compared."""
    previous = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous


def test_training_loss_and_gradients_on_cuda_match_cpu():
    tokens, token_mask, modality_mask = make_batch(batch=2, horizon=4)
    losses, grads = [], []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = DiffusionForcingModel(TINY).to(device)
        generator = torch.Generator().manual_seed(1)  # CPU generator, as the trainer keeps
        loss, _ = model.loss({k: v.to(device) for k, v in tokens.items()},
                             token_mask.to(device), modality_mask.to(device), generator)
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten().cpu() for p in model.parameters()]))
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    assert torch.allclose(grads[1], grads[0], rtol=1e-3, atol=1e-5)


def test_shipped_policy_on_cuda_matches_cpu():
    rng = np.random.default_rng(0)
    frames = [{cam: rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for cam in ("front", "wrist")}
              for _ in range(3)]
    actions = {}
    for device in ("cpu", "cuda"):
        policy = DFPolicy.from_checkpoint(SHIPPED, device=device)
        assert policy.device.type == device
        actions[device] = np.stack([policy.step(f).actions for f in frames])
    np.testing.assert_allclose(actions["cuda"], actions["cpu"], atol=1e-3)


def test_train_on_cuda_with_mixed_precision_checkpoints_and_resumes(tmp_path):
    store = EpisodeStore.create(tmp_path / "demos.zarr", cameras=("front", "wrist"),
                                image_size=16, control_hz=10)
    for marker in range(3):
        store.append_episode(make_episode(40, size=16, marker=marker), success=True, seed=marker)
    run = tmp_path / "run"
    cfg = tiny_train(steps=4, device="cuda", mixed_precision=True)
    first = train(tmp_path / "demos.zarr", TINY_MODEL, cfg, run, progress=False)
    assert np.isfinite(first["final_loss"])
    resumed = train(tmp_path / "demos.zarr", TINY_MODEL, tiny_train(steps=6, device="cuda"),
                    run, resume=True, progress=False)
    assert resumed["step"] == 6
    loaded = load_checkpoint(run, "cpu")
    assert all(torch.isfinite(p).all() for p in loaded.model.parameters())
