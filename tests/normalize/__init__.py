"""Tests of the pure normalizers (etl/normalize): payloads in, Arrow batches out."""
