"""``mewarden node attach NAME KIND FILE``: record a piece of evidence taken elsewhere.

For what a node produces itself: the ``host probe --json`` taken after the reboot, a later
``host neutralize`` report, an AMT settings read-back. (``scan --record`` and ``netblock
apply``/``diff`` record their own evidence.) The document is validated like enrollment's reports
and appended; its time is the ``observed_at`` it carries, else now.
"""

from __future__ import annotations

from pathlib import Path

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option

ATTACHABLE = ("firmware-neutralize", "host-probe", "firmware-inspect", "amt-state")


@click.command("attach")
@click.argument("name")
@click.argument("kind", type=click.Choice(ATTACHABLE))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@org_options
@json_option
def attach_command(org: OrgAccess, name: str, kind: str, file: Path, as_json: bool) -> None:
    """Attach FILE (a JSON report) to node NAME as evidence of KIND."""
    from mewarden.fsutil import read_input_file
    from mewarden.state.enroll import parse_report
    from mewarden.state.models import DocumentKind

    chosen = DocumentKind(kind)
    body = parse_report(chosen, read_input_file(file, what=f"{kind} report"), source=str(file))
    doc = org.store().attach_document(name, chosen, str(file), body)
    result = {"node": name, "kind": kind, "sha256": doc.sha256, "at": doc.created_at.isoformat()}
    emit(
        result,
        as_json=as_json,
        render=lambda c: c.print(f"node {name}: {kind} attached (sha256 {doc.sha256[:16]})"),
    )
