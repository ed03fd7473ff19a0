"""df_policy.sim."""
