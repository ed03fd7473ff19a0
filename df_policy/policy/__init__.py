"""df_policy.policy."""
