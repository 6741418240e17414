"""Accountability (Art. 5(2)): who opened whose data, and when."""
