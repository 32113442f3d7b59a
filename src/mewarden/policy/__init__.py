"""Pure policy: the remediation ladder and fleet guard rails (no I/O, time injected)."""
