"""recorder_node: a simulated teleop episode recorded over real DDS, then trained on."""

import math
import os
import signal

import numpy as np
import yaml
from geometry_msgs.msg import PoseStamped
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from df_policy.data.messages import msg_to_pose
from df_policy.data.store import EpisodeStore
from df_policy.ros.graph import node_processes
from df_policy.ros.params import pose_to_msg
from tests.helpers import tiny_model

from .conftest import spin_until
from .test_nodes import call


def recorder_params(tmp_path, store):
    params = yaml.safe_load(open("config/arm.yaml"))
    params["sim_node"]["ros__parameters"]["image_size"] = 24
    params["recorder_node"]["ros__parameters"].update({"store": str(store), "image_size": 24})
    path = tmp_path / "arm.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def teleop(node, pose, seconds, sent):
    """Drive the arm like a teleoperator: move +x 5 mm per 0.1 s, gripper closed."""
    target_pub = node.create_publisher(PoseStamped, "/ee_target", 10)
    grip_pub = node.create_publisher(Float64, "/gripper_command", 10)
    for k in range(int(seconds * 10)):
        target = pose.copy()
        target[0] += 0.005 * (k + 1)
        target_pub.publish(pose_to_msg(target, node.get_clock().now().to_msg()))
        grip_pub.publish(Float64(data=1.0))
        sent.append(target[0])
        spin_until(node, lambda: False, 0.1)


def test_record_teleop_episode_then_train(tmp_path, ros_node):
    store_path = tmp_path / "recorded.zarr"
    params = recorder_params(tmp_path, store_path)
    poses = []
    ros_node.create_subscription(PoseStamped, "/ee_pose", lambda m: poses.append(msg_to_pose(m)),
                                 10)
    start = ros_node.create_client(Trigger, "/recorder_node/start")
    stop = ros_node.create_client(Trigger, "/recorder_node/stop")
    discard = ros_node.create_client(Trigger, "/recorder_node/discard")
    sent = []
    with node_processes(params, {}, tmp_path / "logs",
                        names=("sim_node", "recorder_node")) as processes:
        assert spin_until(ros_node, lambda: poses, 60)
        assert spin_until(ros_node, lambda: call(ros_node, start, Trigger.Request()).success, 30)
        assert not call(ros_node, start, Trigger.Request()).success, "already recording"
        teleop(ros_node, poses[-1], 2.5, sent)
        reply = call(ros_node, stop, Trigger.Request())
        assert reply.success, reply.message

        # A discarded episode and a killed recorder lose nothing that was saved.
        assert call(ros_node, start, Trigger.Request()).success
        assert call(ros_node, discard, Trigger.Request()).success
        assert call(ros_node, start, Trigger.Request()).success
        teleop(ros_node, poses[-1], 1.0, [])
        os.killpg(processes["recorder_node"].pid, signal.SIGKILL)
        processes["recorder_node"].wait()

    store = EpisodeStore.open(store_path)
    assert store.n_episodes == 1 and store.source == "ros"
    data = store.episode(0)
    steps = len(data["action"])
    assert 15 <= steps <= 40, steps
    assert data["front_valid"].mean() > 0.8 and data["wrist_valid"].mean() > 0.8
    assert data["front"][data["front_valid"]].std() > 5, "real rendered frames"
    recorded_x = data["action"][:, 0]
    assert np.all(np.diff(recorded_x) >= -1e-6), "commands recorded in order"
    assert all(any(math.isclose(x, s, abs_tol=1e-6) for s in sent) for x in recorded_x[3:])
    assert data["action"][-1, 7] == 1.0
    assert data["ee_pose"][-1, 0] > data["ee_pose"][0, 0] + 0.02, "the arm followed"

    from df_policy.train.config import TrainConfig
    from df_policy.train.trainer import train

    model = tiny_model()
    result = train(store_path, model, TrainConfig(steps=3, batch_size=1, warmup_steps=1,
                                                  device="cpu", num_threads=1),
                   tmp_path / "run", progress=False)
    assert result["step"] == 3 and math.isfinite(result["final_loss"])
