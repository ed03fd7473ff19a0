"""df_policy.data."""
