"""Org state: nodes, groups, policies, encrypted credentials, documents, events, leases.

The only package that speaks SQL. SQLite (WAL) is the embedded default; PostgreSQL through
psycopg 3 runs the same code when several controllers share the org.
"""
