"""evals-etl: export Roboflow model evaluations into typed Parquet tables and DuckDB views."""

__version__ = "0.1.0"
