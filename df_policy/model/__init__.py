"""The Diffusion Forcing model: schedule, sampler, networks, tokens (no rclpy, no mujoco)."""
