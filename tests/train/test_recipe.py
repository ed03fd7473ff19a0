"""The recipe as data: stages over steps, exact resume across stages, the loss's burn-in,
augmentation by category, sensor faults and the executed chunks' tracking drift."""

import csv

import pytest
import torch
import yaml

from df_policy.checkpoint import checkpoint_dir
from df_policy.errors import ConfigError
from df_policy.model.df_model import DiffusionForcingModel
from df_policy.train.augment import augment_images
from df_policy.train.config import Stage
from df_policy.train.dataset import EpisodeDataset
from df_policy.train.drift import history_drift
from df_policy.train.faults import sensor_faults
from df_policy.train.trainer import build_batch, train

from .conftest import TINY_MODEL, tiny_train
from .test_train import weights

RECIPE = dict(steps=6, checkpoint_every=3, augment_prob=0.5, fault_prob=0.5,
              stages=(Stage(0.5, {"start_window_prob": 1.0, "start_window_tokens": 2,
                                  "window_batch_size": 3, "augment_prob": 0.0}),
                      Stage(0.8, {"window_tokens": 3, "image_loss_share": 0.5})))


class Interrupted(Exception):
    """Raised by a checkpoint hook to stop a run as a crash would."""


def stop_at(stop: int):
    def hook(folder, step):
        if step == stop:
            raise Interrupted
        return {}
    return hook


def test_stages_resolve_by_step_and_bad_stages_fail_naming_the_key():
    cfg = tiny_train(**RECIPE)
    assert [cfg.stage_index(s) for s in range(6)] == [0, 0, 0, 1, 1, 2]
    assert cfg.at(1).start_window_prob == 1.0 and cfg.at(4).window_tokens == 3
    assert cfg.at(5).augment_prob == 0.5 and cfg.at(5).window_tokens == 0
    assert [row["steps"] for row in cfg.schedule()] == [[0, 3], [3, 5], [5, 6]]
    with pytest.raises(ConfigError, match="cannot set \\['lr'\\]"):
        tiny_train(stages=(Stage(0.5, {"lr": 1.0}),))
    with pytest.raises(ConfigError, match="increasing fractions"):
        tiny_train(stages=(Stage(0.6, {}), Stage(0.5, {})))
    with pytest.raises(ConfigError, match="stages\\[0\\].*fault_prob"):
        tiny_train(stages=(Stage(0.5, {"fault_prob": 2.0}),))


def test_an_interrupted_recipe_resumes_to_the_same_weights(sim_store, tmp_path):
    cfg = tiny_train(**RECIPE)
    train(sim_store, TINY_MODEL, cfg, tmp_path / "straight", progress=False)
    with pytest.raises(Interrupted):
        train(sim_store, TINY_MODEL, cfg, tmp_path / "split", progress=False,
              on_checkpoint=stop_at(3))
    train(sim_store, TINY_MODEL, cfg, tmp_path / "split", resume=True, progress=False)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows = list(csv.DictReader((tmp_path / "split" / "log.csv").open()))
    assert [int(r["stage"]) for r in rows] == [0, 0, 0, 1, 1, 2]
    assert float(rows[-1]["wall_s"]) >= float(rows[2]["wall_s"]) > 0
    saved = yaml.safe_load((checkpoint_dir(tmp_path / "split") / "config.yaml").read_text())
    assert saved["schedule"][0] == {"steps": [0, 3], "start_window_prob": 1.0,
                                    "start_window_tokens": 2, "window_batch_size": 3,
                                    "augment_prob": 0.0}
    assert saved["train"]["stages"][1]["until"] == 0.8


def test_windows_keep_the_context_of_the_burn_in_without_its_gradient(sim_store):
    dataset = EpisodeDataset(sim_store, TINY_MODEL)
    normalizer = dataset.fit_normalizer()
    generator = torch.Generator().manual_seed(0)
    tokens, token_mask, modality_mask, burn_in = dataset.sample_window(3, normalizer,
                                                                       generator, 3)
    assert token_mask.shape[1] == burn_in + 3 and token_mask.all()
    model = DiffusionForcingModel(TINY_MODEL)
    tokens = {k: v.clone().requires_grad_(True) for k, v in tokens.items()}
    loss, _ = model.loss(tokens, token_mask, modality_mask, torch.Generator().manual_seed(1),
                         burn_in=2)
    loss.backward()
    grad = tokens["front"].grad
    assert torch.all(grad[:, :2] == 0) and grad[:, 2:].abs().sum() > 0
    assert model.z0.grad is None or torch.all(model.z0.grad == 0), "no gradient into the burn-in"
    changed = {k: v.detach().clone() for k, v in tokens.items()}
    changed["front"][:, 0] = -1.0
    other, _ = model.loss(changed, token_mask, modality_mask, torch.Generator().manual_seed(1),
                          burn_in=2)
    assert other.item() != loss.item(), "the burn-in's frames reach the trained tokens"


def test_augmentation_is_per_episode_in_range_and_off_without_draws():
    images = torch.rand(6, 4, 3, 16, 16) * 2 - 1
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert augment_images(images, 0.0, 1.0, generator) is images
    assert torch.equal(generator.get_state(), state)
    out = augment_images(images, 1.0, 1.0, generator)
    assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1
    assert (out - images).abs().mean(dim=(1, 2, 3, 4)).min() > 0.02, "every episode changed"
    still = images[:, :1].expand(-1, 4, -1, -1, -1)  # a still scene
    gentle = augment_images(still, 1.0, 0.05, torch.Generator().manual_seed(0))
    assert (gentle - still).abs().mean() < (out - images).abs().mean(), "strength scales"


def test_each_kind_of_augmentation_is_applied_with_probability_prob():
    """A kind with several parameters (a bump: rotation, shift, zoom; white balance: red and
    blue gains) is one draw, so an episode is untouched with probability (1 - prob) ** 8 for
    the eight kinds (0.43 at 0.1; drawing every parameter on its own left 0.28 untouched)."""
    images = torch.rand(4000, 1, 3, 16, 16) * 2 - 1
    out = augment_images(images, 0.1, 1.0, torch.Generator().manual_seed(0))
    untouched = ((out - images).abs().flatten(1).amax(dim=1) < 1e-5).float().mean().item()
    assert 0.39 < untouched < 0.47, untouched


def test_faults_are_blank_or_frozen_frames_with_their_level_floor():
    images = {"front": torch.rand(200, 8, 3, 4, 4) * 2 - 1}
    faulty, floor = sensor_faults(images, 1.0, 999, torch.Generator().manual_seed(0))
    front, level = faulty["front"], floor[..., 0]
    assert floor.shape == (200, 8, 1) and torch.all(level[:, 0] == 0)
    blank = (front == -1).flatten(2).all(dim=2)
    assert torch.all(level[blank] == 999)
    changed = (front != images["front"]).flatten(2).any(dim=2)
    frozen = changed & ~blank
    assert frozen.any() and blank.any()
    assert torch.all(level[frozen] >= 499) and torch.all(level[~changed & (level == 0)] == 0)
    for b, t in frozen.nonzero()[:20].tolist():
        assert any(torch.equal(front[b, t], images["front"][b, s]) for s in range(t))
    assert sensor_faults(images, 0.0, 999, None) == (images, None)


def test_the_drift_moves_only_the_executed_positions_smoothly_by_episode():
    """Token 0 (nothing executed) and every step's orientation and gripper command stay
    exact; the position drifts by millimetres to centimetres, smoothly over the steps (one
    chunk's correlation time), with a standard deviation per episode drawn in [0, scale]."""
    action = torch.rand(300, 50, 4 * 8) * 2 - 1
    half_range = torch.tensor([0.05, 0.2, 0.2])
    drifted = history_drift(action, 0.02, half_range, 4, torch.Generator().manual_seed(0))
    assert drifted.shape == action.shape
    change = (drifted - action).view(300, 50, 4, 8)
    assert torch.all(change[:, 0] == 0) and torch.all(change[..., 3:] == 0)
    metres = (change[:, 1:, :, :3] * half_range).flatten(1, 2)  # (episodes, steps, axes)
    spread = metres.std(dim=1)
    assert spread.max() < 0.02 * 1.4 and spread.min() < 0.001
    assert 0.008 < spread.median() < 0.012, "uniform in [0, 0.02]: 0.01 at the median"
    step_to_step = (metres[:, 1:] - metres[:, :-1]).std() / metres.std()
    assert step_to_step < 1.0, "a drift, not independent noise per step (that gives 1.41)"


def _batch(dataset, normalizer, **train):
    return build_batch(dataset, tiny_train(**train), normalizer,
                       torch.Generator().manual_seed(0), torch.device("cpu"), TINY_MODEL)


def _loss(model, batch, tokens, inputs=None):
    value, _ = model.loss(tokens, batch.token_mask, batch.modality_mask,
                          torch.Generator().manual_seed(1), query_weight=1.0,
                          level_floor=batch.level_floor, inputs=inputs)
    return value.item()


def test_a_drifted_record_is_an_input_and_never_a_target(sim_store):
    """The batch carries the drifted chunks beside the recorded ones; the loss absorbs the
    drifted record but scores against the recorded chunks (a model handed the drifted
    chunks as its data would also be scored against them: a different loss)."""
    dataset = EpisodeDataset(sim_store, TINY_MODEL)
    normalizer = dataset.fit_normalizer()
    batch = _batch(dataset, normalizer, history_drift=0.02)
    recorded, drifted = batch.tokens["action"], batch.inputs["action"]
    assert not torch.equal(drifted, recorded)
    plain = _batch(dataset, normalizer)
    assert plain.inputs == {} and torch.equal(plain.tokens["action"], recorded)
    model = DiffusionForcingModel(TINY_MODEL)
    assert _loss(model, batch, batch.tokens, {"action": recorded}) == _loss(model, batch,
                                                                           batch.tokens)
    as_input = _loss(model, batch, batch.tokens, {"action": drifted})
    assert as_input != _loss(model, batch, batch.tokens)
    assert as_input != _loss(model, batch, {**batch.tokens, "action": drifted})


def test_a_faulty_frame_is_an_input_and_the_true_frame_its_target(sim_store):
    """A blank or frozen frame is what the model is given, at its level floor; the loss
    asks for the frame the camera should have sent, as for a dead camera (before, the
    faulty frame replaced the true one as the target too)."""
    dataset = EpisodeDataset(sim_store, TINY_MODEL)
    normalizer = dataset.fit_normalizer()
    faulty = _batch(dataset, normalizer, fault_prob=1.0)
    plain = _batch(dataset, normalizer)
    for cam in TINY_MODEL.cameras:
        assert torch.equal(faulty.tokens[cam], plain.tokens[cam])
        assert not torch.equal(faulty.inputs[cam], plain.tokens[cam])
    assert faulty.level_floor is not None and faulty.level_floor.any()
    model = DiffusionForcingModel(TINY_MODEL)
    as_input = _loss(model, faulty, faulty.tokens, faulty.inputs)
    assert as_input != _loss(model, faulty, {**faulty.tokens, **faulty.inputs})
