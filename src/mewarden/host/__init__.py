"""Live ME state of a node, read from the node itself.

Pure parts: :mod:`~mewarden.host.hfsts` (HFSTS register decoding per ME family),
:mod:`~mewarden.host.verdict` (the decision table with evidence), :mod:`~mewarden.host.mkhi` and
:mod:`~mewarden.host.amthi` (MEI message builders and parsers), :mod:`~mewarden.host.pci`
(device table), :mod:`~mewarden.host.health` (the host agent's wire rules). Shells:
:mod:`~mewarden.host.sysfs` (a root-dir reader for ``/sys``, ``/dev`` and ``/proc`` or a
recorded tree), :mod:`~mewarden.host.mei` (the ``/dev/mei0`` transport),
:mod:`~mewarden.host.probe` (composition), :mod:`~mewarden.host.record` (capturing a tree) and
:mod:`~mewarden.host.agent` (the ``host agent`` daemon: ``/healthz`` and heartbeats for heal).
"""

from __future__ import annotations
