"""ONNX export and the onnxruntime backend on the shipped checkpoint: parity with torch over a
real closed-loop episode, and graphs that do not belong to a checkpoint are refused."""

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file, save_file

from df_policy.cli import main
from df_policy.errors import CheckpointError, ConfigError
from df_policy.eval.episode import run_episode
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.onnx_export import FORMAT, GRAPH_FILES, export_onnx
from df_policy.policy.runtime import DFPolicy, load_policy
from df_policy.seeds import EVAL_SEED_OFFSET
from df_policy.sim.config import SimConfig
from df_policy.train.config import TrainConfig
from df_policy.train.trainer import train
from tests.helpers import tiny_model

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "df_fruit_swap"
ORT = RuntimeConfig(backend="onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A copy of the shipped checkpoint with its graphs exported for the runtime defaults."""
    folder = tmp_path_factory.mktemp("onnx") / "df_fruit_swap"
    shutil.copytree(SHIPPED, folder)
    result = export_onnx(folder)
    assert sorted(result["graphs"]) == ["absorb", "predict"]
    assert not list(folder.glob(".*.partial")), "no temporary file is left behind"
    return folder


class Lockstep:
    """Steps a torch and an onnxruntime policy on the same inputs (returning torch's output)
    and keeps the largest difference of their actions and forecasts."""

    def __init__(self, reference: DFPolicy, other: DFPolicy) -> None:
        self.reference, self.other = reference, other
        self.cameras, self.chunk = reference.cameras, reference.chunk
        self.image_size = reference.image_size
        self.gap = {"actions": 0.0, "forecast": 0.0}
        self.steps = 0

    def reset(self) -> None:
        self.reference.reset()
        self.other.reset()

    def step(self, images, health=None, executed=None, gripper=None):
        mine = self.reference.step(images, health, executed, gripper)
        theirs = self.other.step(images, health, executed, gripper)
        assert mine.levels == theirs.levels
        self.gap["actions"] = max(self.gap["actions"],
                                  float(np.abs(mine.actions - theirs.actions).max()))
        for cam in self.cameras:
            diff = (self.reference.forecast[cam] - self.other.forecast[cam]).abs().max()
            self.gap["forecast"] = max(self.gap["forecast"], float(diff))
        self.steps += 1
        return mine


def test_onnxruntime_matches_torch_over_a_closed_loop_episode(exported):
    torch_policy = load_policy(exported, "cpu", seed=3)
    ort_policy = load_policy(exported, "cpu", seed=3, config=ORT)
    assert ort_policy.backend.name == "onnxruntime/CPUExecutionProvider"
    both = Lockstep(torch_policy, ort_policy)
    result = run_episode(both, SimConfig(max_steps=8 * both.chunk), "drops", 0.5,
                         seed=EVAL_SEED_OFFSET)
    assert result["steps"] == 8 * both.chunk and both.steps >= 6
    assert both.gap["actions"] < 1e-4 and both.gap["forecast"] < 1e-4, both.gap
    frames = {cam: np.zeros((64, 64, 3), np.uint8) for cam in ort_policy.cameras}
    assert ort_policy.step(frames).backend == "onnxruntime/CPUExecutionProvider"


def test_onnxruntime_takes_torchs_threads_and_leaves_torch_one(exported):
    """The sessions get the process's threads, spinning only within a run; torch keeps one
    thread for the host-side tensors, so no second pool spins beside ONNX Runtime's."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        policy = load_policy(exported, "cpu", config=ORT)
        assert torch.get_num_threads() == 1
        for session in policy.backend.sessions.values():
            options = session.get_session_options()
            assert options.intra_op_num_threads == 2
            assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
            assert options.get_session_config_entry("session.force_spinning_stop") == "1"
        frames = {cam: np.zeros((64, 64, 3), np.uint8) for cam in policy.cameras}
        assert np.isfinite(policy.step(frames).actions).all()
    finally:
        torch.set_num_threads(before)


def copy_with_graphs(exported: Path, to: Path) -> Path:
    shutil.copytree(exported, to)
    return to


def test_graphs_of_another_config_or_other_weights_are_refused(exported, tmp_path):
    other_config = copy_with_graphs(exported, tmp_path / "config")
    config = other_config / "config.yaml"
    config.write_text(config.read_text().replace("sampling_steps: 10", "sampling_steps: 7"))
    with pytest.raises(CheckpointError, match="another config .*sampling_steps: 10 != 7"):
        load_policy(other_config, "cpu", config=ORT)

    retrained = copy_with_graphs(exported, tmp_path / "weights")
    weights = load_file(retrained / "model.safetensors")
    weights["z0"] = weights["z0"] + 0.01
    save_file(weights, retrained / "model.safetensors")
    with pytest.raises(CheckpointError, match="other weights"):
        load_policy(retrained, "cpu", config=ORT)

    with pytest.raises(CheckpointError, match="action_samples 4, the runtime asks for 2"):
        load_policy(exported, "cpu", config=RuntimeConfig(backend="onnxruntime",
                                                          action_samples=2))


def test_an_older_export_or_no_export_is_refused(exported, tmp_path):
    older = copy_with_graphs(exported, tmp_path / "older")
    path = older / GRAPH_FILES["absorb"]
    graph = onnx.load(path)
    for prop in graph.metadata_props:
        if prop.key == FORMAT:
            prop.value = "0"
    onnx.save(graph, path)
    with pytest.raises(CheckpointError, match="older export \\(format 0"):
        load_policy(older, "cpu", config=ORT)

    (older / GRAPH_FILES["predict"]).write_bytes(b"not a graph")
    (older / GRAPH_FILES["absorb"]).unlink()
    with pytest.raises(CheckpointError, match="no ONNX graph .*absorb.onnx: run df-policy "
                                              "export --onnx"):
        load_policy(older, "cpu", config=ORT)
    shutil.copy2(exported / GRAPH_FILES["absorb"], older / GRAPH_FILES["absorb"])
    with pytest.raises(CheckpointError, match="cannot read .*predict.onnx"):
        load_policy(older, "cpu", config=ORT)


def test_export_asks_for_a_run_or_a_checkpoint(capsys):
    assert main(["export", "--onnx"]) == 2
    assert "--checkpoint FOLDER with --data STORE" in capsys.readouterr().err


def test_a_model_that_absorbs_the_gripper_opening_exports_with_it(sim_store, tmp_path):
    """``gripper_state``: the graphs take the opening and its noise as inputs, and match
    torch over a closed-loop episode in which the opening changes."""
    run = tmp_path / "gripper"
    model = tiny_model(gripper_state=True)
    train(sim_store, model, TrainConfig(steps=2, batch_size=1, warmup_steps=1, device="cpu",
                                        num_threads=1), run, progress=False)
    folder = export_onnx(run)["checkpoint"]
    absorb = onnx.load(str(Path(folder) / GRAPH_FILES["absorb"]))
    assert {"gripper", "noise_gripper"} <= {i.name for i in absorb.graph.input}
    both = Lockstep(load_policy(folder, "cpu", seed=3),
                    load_policy(folder, "cpu", seed=3, config=ORT))
    run_episode(both, SimConfig(max_steps=6 * both.chunk), "clean", 0.0, seed=EVAL_SEED_OFFSET)
    assert both.steps >= 5
    assert both.gap["actions"] < 1e-4 and both.gap["forecast"] < 1e-4, both.gap


def test_the_dp_baseline_runs_on_torch_only(sim_store, tmp_path):
    run = tmp_path / "dp"
    model = tiny_model()
    train(sim_store, model, TrainConfig(steps=1, batch_size=1, warmup_steps=1, device="cpu",
                                        num_threads=1), run, progress=False, kind="dp")
    with pytest.raises(ConfigError, match="'dp' policy, which runs on the torch backend"):
        load_policy(run, "cpu", config=ORT)
    with pytest.raises(CheckpointError, match="only the DF policy exports to ONNX"):
        export_onnx(run)


def test_backend_choice_is_checked():
    with pytest.raises(ConfigError, match="backend"):
        RuntimeConfig(backend="tensorrt")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            load_policy(SHIPPED, "cuda", config=ORT)
