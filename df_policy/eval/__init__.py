"""df_policy.eval."""
