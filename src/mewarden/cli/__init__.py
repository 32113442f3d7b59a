"""The mewarden command line: the only package that prints."""
