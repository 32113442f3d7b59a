"""The AMT redirection protocol: SOL, KVM and IDE-R sessions on 16994/16995.

A sans-IO core (wire, protocol) and thin asyncio shells (session, channels, the KVM bridge).
"""
