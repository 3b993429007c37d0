"""Stage 1: bags -> spill (Parquet shards, video segments, statistics, journal)."""
