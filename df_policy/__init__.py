"""df_policy: Diffusion Forcing visuomotor policies with a recurrent latent memory, for ROS 2."""

__version__ = "0.1.0"
