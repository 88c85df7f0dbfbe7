"""Reading, writing and checking datasets: one canonical record per volume, one clinical schema."""
