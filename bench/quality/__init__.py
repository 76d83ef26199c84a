"""Project-side parts of bench/engine_quality.py: cases, rendering, the report."""
