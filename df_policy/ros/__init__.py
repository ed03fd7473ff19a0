"""df_policy.ros."""
