"""The rival table's rows and the memory check: the world records the move chosen at the
ambiguous scene, the check scores it against chance, the benchmark script runs end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from df_policy.errors import CheckpointError, ConfigError, DataError
from df_policy.eval.rivals import (
    Row,
    memory_check,
    memory_checks,
    memory_table,
    named_rows,
    parse_rows,
    policy_runtime,
)
from df_policy.sim.config import SimConfig
from df_policy.sim.env import AMBIGUOUS_SCENES, FruitSwapEnv, ambiguous_answer
from df_policy.sim.expert import ScriptedExpert
from tests.helpers import tiny_model

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "memory_check.py"


@pytest.fixture(scope="module")
def blind_env():
    env = FruitSwapEnv(SimConfig(render=False))
    yield env
    env.close()


def _hold(env: FruitSwapEnv) -> np.ndarray:
    return np.concatenate([env.tcp_pose()[:3], env.down_quat, [0.0]])


def test_the_expert_reaches_both_ambiguous_scenes_and_takes_the_right_fruit(blind_env):
    # The second scene (B empty) was not recorded: the recipe's clean failures were there.
    layouts = {}
    for seed in range(4):  # seeds 0, 1: orange from B; 2, 3: from A
        obs, info = blind_env.reset(seed=seed)
        assert info["ambiguous_step"] is None and info["ambiguous_move"] is None
        assert info["second_ambiguous_step"] is None and info["second_ambiguous_move"] is None
        expert = ScriptedExpert(blind_env, np.random.default_rng(seed))
        for _ in range(blind_env.config.max_steps):
            obs, _, done, _, info = blind_env.step(expert.executed(expert.act(obs)))
            if done:
                break
        assert info["is_success"]
        assert info["ambiguous_move"] == ambiguous_answer(info["orange_start"])
        assert info["second_ambiguous_move"] == ambiguous_answer(info["orange_start"], "second")
        layouts[info["orange_start"]] = (info["ambiguous_step"], info["second_ambiguous_step"])
    assert set(layouts) == {"A", "B"}
    first, second = layouts["A"]
    assert first < second, "orange from A: the first scene after one move, the second after two"
    first, second = layouts["B"]
    assert second < first, "orange from B: the second scene after one move, the first after two"
    assert (ambiguous_answer("A", "second"), ambiguous_answer("B", "second")) == ("orange", "apple")
    with pytest.raises(ValueError, match="unknown ambiguous scene 'third'"):
        ambiguous_answer("A", "third")


def test_the_first_fruit_to_leave_its_slot_is_the_move_recorded(blind_env):
    _, info = blind_env.reset(seed=2)
    assert info["orange_start"] == "A"
    blind_env._place_fruit("orange", "C", np.random.default_rng(0))  # the first move, done
    for _ in range(5):
        _, _, _, _, info = blind_env.step(_hold(blind_env))
    assert info["ambiguous_step"] is not None and info["ambiguous_move"] is None
    scene = AMBIGUOUS_SCENES["first"]
    assert {fruit: blind_env.slot_of(fruit) for fruit in scene} == scene
    orange = blind_env._fruit_qpos["orange"]
    blind_env.data.qpos[orange + 2] = 0.2  # lifted: the wrong fruit for this layout
    _, _, _, _, info = blind_env.step(_hold(blind_env))
    assert info["ambiguous_move"] == "orange" != ambiguous_answer("A")
    blind_env.data.qpos[blind_env._fruit_qpos["apple"] + 2] = 0.2
    assert blind_env.step(_hold(blind_env))[4]["ambiguous_move"] == "orange", "the first only"


def _outcome(start: str, move: str | None, reached: bool = True) -> dict:
    return {"orange_start": start, "ambiguous_step": 40 if reached else None,
            "ambiguous_move": move}


def test_memory_check_counts_right_moves_among_the_episodes_that_reached_the_scene():
    outcomes = [_outcome("A", "apple"), _outcome("A", "apple"), _outcome("A", "orange"),
                _outcome("B", "apple"), _outcome("B", None), _outcome("B", None, False)]
    check = memory_check(outcomes)
    assert (check["correct"], check["reached"], check["wrong"], check["no_move"]) == (2, 5, 2, 1)
    assert check["share"] == pytest.approx(0.4) and check["chance"] == 0.5
    low, high = check["wilson95"]
    assert low < 0.4 < high
    assert check["by_layout"]["A"]["share"] == pytest.approx(2 / 3)
    assert check["by_layout"]["B"]["share"] == 0.0
    assert check["balanced"] == pytest.approx(1 / 3)
    table = memory_table({"always apple": check})
    assert "chance 50 %" in table and "| always apple | 2/5 = 40 % |" in table


def test_memory_check_scores_each_scene_by_its_own_keys_and_answers():
    outcomes = [{"orange_start": "A", "ambiguous_step": 40, "ambiguous_move": "apple",
                 "second_ambiguous_step": 90, "second_ambiguous_move": "apple"},
                {"orange_start": "B", "ambiguous_step": 90, "ambiguous_move": "orange",
                 "second_ambiguous_step": 40, "second_ambiguous_move": "apple"}]
    checks = memory_checks(outcomes, "df")
    assert list(checks) == ["df, first scene", "df, second scene"]
    assert checks["df, first scene"]["correct"] == 2
    second = checks["df, second scene"]
    assert (second["correct"], second["wrong"]) == (1, 1)
    assert second["by_layout"]["A"]["correct"] == 0 and second["by_layout"]["B"]["correct"] == 1
    with pytest.raises(DataError, match="second ambiguous scene"):
        memory_check([_outcome("A", "apple")], "second")


def test_memory_check_with_no_episode_at_the_scene_and_old_outcomes():
    check = memory_check([_outcome("A", None, reached=False)])
    assert check["reached"] == 0 and check["share"] is None and check["balanced"] is None
    assert "| none | 0/0 = – | – |" in memory_table({"none": check})
    with pytest.raises(DataError, match="run the evaluation again"):
        memory_check([{"orange_start": "A", "success": False}])


def test_rows_name_checkpoints_and_baselines():
    rows = parse_rows("df=ck,memoryless=ck,nu=ck:noise_unaware,dp_long=runs/x")
    assert rows == [Row("df", "ck"), Row("memoryless", "ck", "memoryless"),
                    Row("nu", "ck", "noise_unaware"), Row("dp_long", "runs/x")]
    for bad, message in [("df", "name=CHECKPOINT"), ("a=x:fog", "unknown baseline 'fog'"),
                         ("a=x,a=y", "given twice"), ("", "at least one row")]:
        with pytest.raises(ConfigError, match=message):
            parse_rows(bad)


def test_named_rows_give_each_variant_its_checkpoint_and_refuse_unknown_names():
    rows = named_rows("df,memoryless,dp", ("df", "memoryless", "dp"),
                      lambda name: "dp_ck" if name == "dp" else "ck")
    assert rows == [Row("df", "ck"), Row("memoryless", "ck", "memoryless"), Row("dp", "dp_ck")]
    with pytest.raises(ConfigError, match=r"unknown variant\(s\) \['fog'\] \(valid: df, dp\)"):
        named_rows("df,fog", ("df", "dp"), lambda _: "ck")


def test_policy_runtime_refuses_what_a_rival_would_ignore(tmp_path):
    folder = tmp_path / "rival"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"model": {}, "policy":
                                                        {"kind": "dp_long"}}))
    assert policy_runtime(str(folder)).memory
    with pytest.raises(ConfigError, match="baseline memoryless is a variant of a DF checkpoint; "
                                          ".* holds a 'dp_long' policy"):
        policy_runtime(str(folder), "memoryless")
    with pytest.raises(ConfigError, match=r"runtime keys \['gate'\] apply to DF checkpoints"):
        policy_runtime(str(folder), overrides=["gate=false"])
    with pytest.raises(CheckpointError, match="no checkpoint"):
        policy_runtime(str(tmp_path / "missing"))


def test_memory_check_script_runs_and_rescores_its_results(tmp_path, tiny_checkpoint):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package
    out = tmp_path / "memory"
    run = [sys.executable, str(SCRIPT), "--checkpoint", str(tiny_checkpoint), "--episodes", "2",
           "--workers", "1", "--baseline", "memoryless", "--sim", "max_steps=6",
           "--sim", "image_size=16", "--out", str(out)]
    result = subprocess.run(run, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads(result.stdout.splitlines()[0])
    assert record["runtime"]["memory"] is False
    checks = record["memory_check"]
    assert [name.rsplit(", ", 1)[1] for name in checks] == ["first scene", "second scene"]
    assert all(c["reached"] == 0 and c["chance"] == 0.5 for c in checks.values())  # 6 steps
    outcomes = json.loads((out / "eval" / "results.json").read_text())["cells"][0]["outcomes"]
    assert all(o["ambiguous_step"] is None and o["second_ambiguous_step"] is None
               for o in outcomes)
    again = subprocess.run([sys.executable, str(SCRIPT), "--results",
                            str(out / "eval" / "results.json"), "--out", str(tmp_path / "re")],
                           capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "| eval, second scene | 0/0 = – |" in again.stdout
    bad = subprocess.run(run[:-2] + ["--suite", "fog", "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and "unknown suite" in bad.stderr


def test_robustness_table_runs_rows_of_any_kind(tmp_path, tiny_checkpoint, sim_store):
    from df_policy.model.config import LongContextConfig
    from df_policy.train.config import TrainConfig
    from df_policy.train.trainer import train

    rival = tmp_path / "dp_long"
    tiny = tiny_model(sampling_steps=10)
    train(sim_store, tiny, TrainConfig(steps=1, batch_size=1, warmup_steps=1, device="cpu",
                                       num_threads=1), rival, progress=False, kind="dp_long",
          context_cfg=LongContextConfig(history_tokens=3, width=32, depth=1, heads=2))
    out = tmp_path / "table"
    command = [sys.executable, str(ROOT / "benchmarks" / "robustness_table.py"), "--rows",
               f"memoryless={tiny_checkpoint},dp_long={rival}", "--suites", "clean",
               "--episodes", "1", "--workers", "1", "--sim", "max_steps=4",
               "--sim", "image_size=16", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((out / "table.json").read_text())["rows"]
    assert [(row["variant"], row["baseline"]) for row in rows] == [("memoryless", "memoryless"),
                                                                   ("dp_long", None)]
    assert all(row["episodes"] == 1 and all(c["reached"] == 0 for c in row["memory"].values())
               for row in rows)
    table = (out / "table.md").read_text()
    assert f"dp_long: `{rival}`" in table and "Memory check (clean suite)" in table
    bad = subprocess.run(command[:3] + [f"m={rival}:memoryless", "--out", str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and "holds a 'dp_long' policy" in bad.stderr
    unknown = subprocess.run(command[:-2] + ["--suites", "stall,fog", "--out", str(tmp_path / "u")],
                             capture_output=True, text=True, timeout=300, env=env)
    assert unknown.returncode == 2 and "--suites: fog not in the table" in unknown.stderr
    assert not (tmp_path / "u").exists(), "nothing is run or written"
