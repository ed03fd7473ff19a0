"""Live views of episodes (rerun)."""
