"""Tests of the sans-IO WS-MAN core."""
