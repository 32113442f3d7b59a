"""Network-level blocking of ME/AMT traffic: pure ruleset renderers, apply/diff, and a scanner.

A host firewall cannot see wired AMT traffic (the NIC hands it to the ME first), so the rules
rendered here are meant for the org's routers and bridges. See ``docs/netblock.md``.
"""
