"""Training in several CPU processes that share each step (``train.processes``): each
process's random stream survives an interruption, and batches that do not split fail."""

import csv
import shutil

import pytest
import torch

from df_policy.checkpoint import LATEST, checkpoint_dir
from df_policy.errors import CheckpointError, ConfigError
from df_policy.train.config import Stage
from df_policy.train.trainer import train

from .conftest import TINY_MODEL, tiny_train
from .test_recipe import RECIPE
from .test_train import weights

SPLIT_RECIPE = {**RECIPE, "batch_size": 4, "processes": 2, "stages": (
    Stage(0.5, {**RECIPE["stages"][0].overrides, "window_batch_size": 4}), RECIPE["stages"][1])}
"""The recipe of the resume test, its batches of 4 sequences split over 2 processes."""


def crash_after_first_checkpoint(run):
    """Leave ``run`` as a crash after its step-3 checkpoint would: the later checkpoint
    gone, the log holding the steps after it."""
    shutil.rmtree(checkpoint_dir(run))
    (run / LATEST).write_text("step_00000003\n")


def test_two_processes_resume_each_its_own_random_stream(sim_store, tmp_path):
    cfg = tiny_train(**SPLIT_RECIPE)
    straight = train(sim_store, TINY_MODEL, cfg, tmp_path / "straight", progress=False)
    assert straight["step"] == 6
    split = tmp_path / "split"
    train(sim_store, TINY_MODEL, cfg, split, progress=False)
    crash_after_first_checkpoint(split)
    train(sim_store, TINY_MODEL, cfg, split, resume=True, progress=False)
    a, b = weights(tmp_path / "straight"), weights(split)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows = list(csv.DictReader((split / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(float(r["tokens_per_s"]) > 0 for r in rows)


def test_two_processes_train_otherwise_than_one_and_resume_only_as_two(sim_store, tmp_path):
    two = tiny_train(steps=3, checkpoint_every=3, processes=2, batch_size=4)
    train(sim_store, TINY_MODEL, two, tmp_path / "two", progress=False)
    one = tiny_train(steps=3, checkpoint_every=3, batch_size=4)
    train(sim_store, TINY_MODEL, one, tmp_path / "one", progress=False)
    a, b = weights(tmp_path / "two"), weights(tmp_path / "one")
    assert any(not torch.equal(a[key], b[key]) for key in a), "each process draws its share"
    longer = tiny_train(steps=6, checkpoint_every=3, batch_size=4)
    with pytest.raises(CheckpointError, match="2 process\\(es\\), not 1.*processes=2"):
        train(sim_store, TINY_MODEL, longer, tmp_path / "two", resume=True, progress=False)


def test_a_batch_that_does_not_split_over_the_processes_fails_before_training(sim_store,
                                                                              tmp_path):
    cfg = tiny_train(processes=2, batch_size=3)
    with pytest.raises(ConfigError, match="'batch_size' must split evenly over 2 processes"):
        train(sim_store, TINY_MODEL, cfg, tmp_path / "odd", progress=False)
    assert not (tmp_path / "odd").exists()
