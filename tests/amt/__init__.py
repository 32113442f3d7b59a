"""Tests of the AMT client, operations, fleet API and CLI."""
