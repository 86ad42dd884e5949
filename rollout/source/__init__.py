"""Spec sources: where rollout specs come from (a Git repository, or the cluster)."""
