"""df_policy.model."""
