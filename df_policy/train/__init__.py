"""df_policy.train."""
