"""History of a client card: timeline, diff of two versions, restore (pure diff in diff.py)."""
