"""Camera publish -> action received through policy_node over real DDS, split into parts.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST python benchmarks/ros_latency_bench.py \
        [--checkpoint data/checkpoints/df_fruit_swap] [--seconds 40] [--image-size 64]

This process plays the robot: it publishes both cameras (rgb8, stamped at publish time) and
``/ee_pose`` at 10 Hz, drives policy_node (a separate process, CPU) to active, and listens to
``/ee_target`` and ``/diagnostics``. Per control tick that computed a new chunk:

    transport_in   image header stamp -> policy_node callback      (node, per camera)
    model          DFPolicy.step: absorb + DDIM                     (node, runtime timings)
    node           rest of the control tick: health, clamp, messages (tick time - model)
    transport_out  /ee_target header stamp -> received here        (this process)

ROS overhead = transport_in + node + transport_out; bar (issue 6): <= 3 ms median at the
default image size. Ticks without inference (the rest of each chunk) are reported as well.
Prints one JSON object with medians and the command line.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from df_policy.ros.graph import ros_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="data/checkpoints/df_fruit_swap")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()

    import os

    os.environ.update(ros_environment())
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from df_policy.ros.graph import node_processes
    from df_policy.ros.image_conversion import rgb_to_image
    from df_policy.ros.params import pose_to_msg

    params = yaml.safe_load(Path("config/arm.yaml").read_text())
    params["policy_node"]["ros__parameters"].update(
        {"checkpoint": args.checkpoint, "device": "cpu"})
    work = Path(tempfile.mkdtemp(prefix="ros_latency_"))
    params_file = work / "arm.yaml"
    params_file.write_text(yaml.safe_dump(params))

    rclpy.init()
    node = rclpy.create_node("latency_bench")
    cameras = params["policy_node"]["ros__parameters"]["cameras"]
    image_pubs = {cam: node.create_publisher(Image, f"/{cam}/image_raw", qos_profile_sensor_data)
                  for cam in cameras}
    pose_pub = node.create_publisher(PoseStamped, "/ee_pose", 10)
    transport_out: list[float] = []
    diagnostics: list[dict[str, str]] = []

    def now_s() -> float:
        return node.get_clock().now().nanoseconds * 1e-9

    def on_target(msg: PoseStamped) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        transport_out.append(1000 * (now_s() - stamp))

    def on_diag(msg: DiagnosticArray) -> None:
        diagnostics.append({v.key: v.value for v in msg.status[0].values})

    node.create_subscription(PoseStamped, "/ee_target", on_target, 10)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (args.image_size, args.image_size, 3), dtype=np.uint8)
              for _ in range(8)]
    pose = np.array([0.0, 0.0, 0.3, 0.0, 1.0, 0.0, 0.0])

    def publish(k: int) -> None:
        stamp = node.get_clock().now().to_msg()
        for pub in image_pubs.values():
            msg = rgb_to_image(frames[k % len(frames)])
            msg.header.stamp = stamp
            pub.publish(msg)
        pose_pub.publish(pose_to_msg(pose, stamp))

    def run_for(seconds: float, k0: int = 0) -> int:
        k, deadline = k0, time.monotonic() + seconds
        next_pub = time.monotonic()
        while time.monotonic() < deadline:
            if time.monotonic() >= next_pub:
                publish(k)
                k += 1
                next_pub += 0.1
            rclpy.spin_once(node, timeout_sec=0.005)
        return k

    with node_processes(params_file, {}, work / "logs", names=("policy_node",)):
        client = node.create_client(ChangeState, "/policy_node/change_state")
        if not client.wait_for_service(timeout_sec=60):
            sys.exit("policy_node did not start; see " + str(work / "logs"))
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            request = ChangeState.Request()
            request.transition.id = transition
            future = client.call_async(request)
            rclpy.spin_until_future_complete(node, future, timeout_sec=120)
            if not future.result() or not future.result().success:
                sys.exit(f"lifecycle transition {transition} failed; see {work / 'logs'}")
        k = run_for(5.0)  # warm-up
        transport_out.clear()
        diagnostics.clear()
        run_for(args.seconds, k)
    node.destroy_node()
    rclpy.shutdown()

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3) if values else float("nan")

    chunk = [d for d in diagnostics if d.get("new_chunk") == "true"]
    held = [d for d in diagnostics if d.get("new_chunk") == "false"]
    transport_in = [float(d[f"{cam}/transport_ms"]) for d in diagnostics for cam in cameras
                    if f"{cam}/transport_ms" in d]
    model = [float(d["latency_ms/total"]) for d in chunk]
    node_ms = [float(d["latency_ms/tick"]) - float(d["latency_ms/total"]) for d in chunk]
    figures = {
        "command": " ".join(["python", *sys.argv]),
        "image_size": args.image_size,
        "inference_ticks": len(chunk),
        "median_ms": {
            "transport_in": median(transport_in),
            "model": median(model),
            "node_overhead": median(node_ms),
            "transport_out": median(transport_out),
            "tick_without_inference": median([float(d["latency_ms/tick"]) for d in held]),
        },
    }
    m = figures["median_ms"]
    figures["median_ms"]["ros_overhead"] = round(
        m["transport_in"] + m["node_overhead"] + m["transport_out"], 3)
    figures["bar_ros_overhead_ms"] = 3.0
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
