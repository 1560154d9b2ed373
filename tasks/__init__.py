"""akhbar."""
