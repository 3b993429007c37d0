"""Stage 2: spill -> LeRobot v3.0 dataset, remuxing video segments (never re-encoding)."""
