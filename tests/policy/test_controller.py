"""The shared control loop: start gate, chunk queue, holds, clamps, executed-action feedback."""

import numpy as np
import pytest

from df_policy.eval.episode import EVAL_SAFETY, run_episode
from df_policy.eval.suites import make_setup
from df_policy.policy.controller import Controller
from df_policy.policy.runtime import PolicyOutput
from df_policy.policy.safety import SafetyConfig
from df_policy.sim.config import SimConfig
from tests.policy.test_runtime import policy as tiny_policy

CAMERAS = ("front", "wrist")
DT = 0.1
HOME = np.array([0.1, 0.0, 0.3, 0.0, 1.0, 0.0, 0.0])
SAFETY = SafetyConfig(max_step_m=0.05, hold_after_s=0.25)


class ScriptedPolicy:
    """Returns the chunks it is given, in turn, and remembers what it was told was executed."""

    chunk = 4

    def __init__(self, chunks):
        self.chunks = [np.asarray(c, dtype=np.float32) for c in chunks]
        self.reset()

    def reset(self):
        self.calls, self.executed, self.openings = 0, [], []

    def step(self, images, health=None, executed=None, gripper=None):
        self.executed.append(None if executed is None else executed.copy())
        self.openings.append(gripper)
        actions = self.chunks[min(self.calls, len(self.chunks) - 1)]
        self.calls += 1
        return PolicyOutput(actions, {c: 0 for c in CAMERAS}, {}, {}, {"total": 1.0})


def chunk_at(position, grip=0.0, n=4):
    return np.tile(np.concatenate([position, HOME[3:], [grip]]), (n, 1))


def feed(controller, now, cams=CAMERAS):
    rng = np.random.default_rng(round(now * 10))
    for cam in cams:
        controller.frame(cam, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), now)


def run(controller, steps, pose=HOME, cams=CAMERAS, start=0):
    ticks = []
    for step in range(start, start + steps):
        feed(controller, step * DT, cams)
        ticks.append(controller.tick(step * DT, pose))
    return ticks


def assert_safe(ticks, safety=SAFETY, start=HOME):
    previous = start[:3]
    for tick in ticks:
        if tick.action is None:
            continue
        position = tick.action[:3]
        assert np.all(np.isfinite(tick.action))
        assert safety.inside(position), position
        assert np.linalg.norm(position - previous) <= safety.max_step_m + 1e-9
        assert np.linalg.norm(tick.action[3:7]) == pytest.approx(1.0)
        previous = position


def test_the_measured_gripper_opening_of_the_stepping_period_reaches_the_policy():
    scripted = ScriptedPolicy([chunk_at(HOME[:3])])
    controller = Controller(scripted, CAMERAS, SAFETY, start_wait_s=0.2)
    for step in range(9):
        feed(controller, step * DT)
        controller.tick(step * DT, HOME, None if step == 4 else 0.01 * step)
    assert scripted.openings == [0.0, None, 0.08], "steps at periods 0, 4 and 8 (chunk 4)"


def test_start_gate_holds_at_the_measured_pose_until_every_camera_delivered():
    scripted = ScriptedPolicy([chunk_at(HOME[:3])])
    controller = Controller(scripted, CAMERAS, SAFETY, start_wait_s=0.2)
    ticks = run(controller, 1, cams=("front",))
    assert ticks[0].starting and ticks[0].hold_reason == "waiting for the first frame of wrist"
    np.testing.assert_allclose(ticks[0].action, [*HOME, 0.0])
    assert scripted.calls == 0
    assert ticks[0].health["wrist"].problem == "no frame yet"
    report = ticks[0].report()
    assert report["wrist/health"] == "no frame yet" and report["front/health"] == "ok"
    assert report["watchdog"] == ticks[0].hold_reason and report["new_chunk"] == "false"
    tick = run(controller, 1, start=1)[0]
    assert not tick.hold and tick.new_chunk and scripted.executed == [None]
    assert tick.report()["front/level"] == "0" and tick.report()["latency_ms/total"] == "1.00"
    assert tick.report()["backend"] == "torch"  # what runs the model, shown in diagnostics


def test_commands_stay_in_the_workspace_and_within_the_step_limit():
    far = chunk_at([2.0, -3.0, -1.0], grip=5.0)
    far[1, 3:7] = [3.0, 0.0, 0.0, 0.0]
    nan = chunk_at(HOME[:3])
    nan[2] = np.nan
    controller = Controller(ScriptedPolicy([far, nan, far]), CAMERAS, SAFETY, 0.0)
    ticks = run(controller, 12)
    assert_safe(ticks)
    assert all(t.action[7] == 1.0 for t in ticks[:4]), "grip clipped to [0, 1]"
    assert ticks[6].hold_reason == "the policy produced a non-finite action"
    for tick in ticks:
        previous = tick.plan[0]
        for point in tick.plan[1:]:
            assert SAFETY.inside(point[:3])
            assert np.linalg.norm(point[:3] - previous[:3]) <= SAFETY.max_step_m + 1e-9
            previous = point


def test_the_policy_absorbs_the_commanded_actions_not_its_prediction():
    scripted = ScriptedPolicy([chunk_at([0.25, 0.0, 0.3], grip=1.0)])
    controller = Controller(scripted, CAMERAS, SAFETY, 0.0)
    ticks = run(controller, 5)
    assert ticks[4].new_chunk and scripted.executed[0] is None
    executed = scripted.executed[1]
    np.testing.assert_allclose(executed, np.stack([t.action for t in ticks[:4]]), atol=1e-6)
    np.testing.assert_allclose(executed[:, 0], [0.15, 0.2, 0.25, 0.25], atol=1e-6), \
        "clamped to 5 cm a step, not the predicted 0.25"


def test_the_real_policy_gets_the_executed_chunk():
    controller = Controller(tiny_policy(), CAMERAS, SAFETY, 0.0)
    ticks = []
    for step in range(5):
        feed(controller, step * DT)
        ticks.append(controller.tick(step * DT, HOME))
    executed = controller.policy.executed  # the policy's own record is its last prediction
    assert ticks[4].new_chunk and executed.shape == (4, 8)
    assert_safe(ticks)


@pytest.mark.parametrize("bad, problem", [
    (np.array([np.nan, 0, 0.3, 0, 1, 0, 0]), "not finite"),
    (np.array([5.0, 0, 0.3, 0, 1, 0, 0]), "outside the workspace"),
    (np.array([0.1, 0, 0.3, 0, 2, 0, 0]), "not a unit quaternion"),
])
def test_a_rejected_measured_pose_never_becomes_a_hold_target(bad, problem):
    controller = Controller(ScriptedPolicy([chunk_at([0.2, 0.0, 0.3])]), CAMERAS, SAFETY, 0.0)
    good = run(controller, 2)
    feed(controller, 0.2)
    tick = controller.tick(0.2, bad)
    assert problem in tick.pose_problem and not tick.hold, "the policy reads only cameras"
    held = controller.tick(0.6, bad)  # no frame for 0.4 s: the watchdog holds
    assert held.hold_reason == "all cameras stale" and problem in held.pose_problem
    np.testing.assert_allclose(held.action, tick.action), "the last command, not the pose"
    again = controller.hold(0.7, bad, "deactivated")
    np.testing.assert_allclose(again.action, tick.action)
    assert_safe(good + [tick, held, again])


def test_a_hold_before_any_good_pose_or_command_sends_nothing():
    controller = Controller(ScriptedPolicy([chunk_at(HOME[:3])]), CAMERAS, SAFETY, 1.0)
    feed(controller, 0.0, cams=("front",))
    tick = controller.tick(0.0, np.array([9.0, 0, 0, 1, 0, 0, 0]))
    assert tick.starting and tick.action is None and len(tick.plan) == 0


def test_watchdog_holds_when_cameras_stop_and_the_chunk_resumes():
    chunk = chunk_at([0.2, 0.0, 0.3], grip=1.0)
    chunk[:, 0] = [0.12, 0.14, 0.16, 0.18]
    controller = Controller(ScriptedPolicy([chunk]), CAMERAS, SAFETY, 0.0)
    moving = run(controller, 1)
    silent = []
    for step in range(1, 5):  # no frames after the first
        silent.append(controller.tick(step * DT, HOME + [0.001, 0, 0, 0, 0, 0, 0]))
    assert [t.hold_reason for t in silent] == ["", "", "all cameras stale", "all cameras stale"]
    held = silent[2].action
    assert held[0] == pytest.approx(0.16 - 0.05), "toward the measured pose, step-limited"
    np.testing.assert_allclose(silent[3].action[:3], HOME[:3] + [0.001, 0, 0], atol=1e-9)
    assert held[7] == 1.0, "a hold keeps the grip"
    assert silent[2].replanned and len(silent[2].plan) == 1
    resumed = run(controller, 1, start=5)[0]
    assert not resumed.hold and not resumed.new_chunk and resumed.replanned
    assert resumed.action[0] == pytest.approx(0.101 + 0.05), "the chunk's last action, clamped"
    assert_safe(moving + silent + [resumed])


def test_an_inference_overrun_holds_one_period():
    class Slow(ScriptedPolicy):
        def step(self, images, health=None, executed=None, gripper=None):
            output = super().step(images, health, executed, gripper)
            output.timings_ms["total"] = 900.0
            return output

    controller = Controller(Slow([chunk_at(HOME[:3])]), CAMERAS, SAFETY, 0.0)
    ticks = run(controller, 3)
    assert [t.hold_reason[:17] for t in ticks] == ["", "inference overrun", ""]


def test_unknown_camera_and_bad_frames_are_errors_and_count_as_failed():
    controller = Controller(ScriptedPolicy([chunk_at(HOME[:3])]), CAMERAS, SAFETY, 0.0)
    with pytest.raises(ValueError, match="unknown camera 'side'"):
        controller.frame("side", np.zeros((4, 4, 3), np.uint8), 0.0)
    with pytest.raises(ValueError, match="uint8"):
        controller.frame("front", np.zeros((4, 4, 3), np.float32), 0.0)
    assert controller.tick(0.0, HOME).health["front"].problem == "decode failed"


def test_the_evaluation_holds_through_a_stall_of_every_camera_and_resumes():
    """The stall suite silences every camera for 1 s at once; the evaluation's controller
    holds once no frame is younger than hold_after_s (0.25 s) and moves again when they
    return."""
    setup = make_setup("stall", 1.0, CAMERAS, 10.0, np.random.default_rng(7))
    frame = np.zeros((2, 2, 3), np.uint8)
    silent = [[setup.faults[cam](frame) is None for cam in CAMERAS] for _ in range(120)]
    assert sum(s[0] for s in silent) == 10 and all(s[0] == s[1] for s in silent)
    start = next(i for i, s in enumerate(silent) if s[0])
    ticks = []
    result = run_episode(tiny_policy(), SimConfig(image_size=16, max_steps=start + 14), "stall",
                         1.0, seed=7, observer=lambda env, action, tick: ticks.append(tick))
    held = [i for i, t in enumerate(ticks) if t.hold_reason == "all cameras stale"]
    assert held == list(range(start + 2, start + 10)), (start, held)
    assert result["hold_steps"] == len(held) and not ticks[-1].hold
    assert_safe(ticks, EVAL_SAFETY, ticks[0].action)
