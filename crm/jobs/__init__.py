"""Long work as background jobs: a row a person can follow, run by a worker from a real queue."""
