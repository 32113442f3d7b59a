"""``mewarden heal reprovision``: how the re-provision rung boots a group's or node's nodes.

``pxe`` (the default) forces a one-shot network boot; ``ider`` serves an installer ISO from the
controller over IDE redirection, for sites without a PXE server. The image is checked as a BIOS
would read it (ISO 9660, El Torito boot record and catalog, boot image) before it is recorded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option


def _image_digest(path: str) -> tuple[str, str, dict[str, Any]]:
    """(absolute path, SHA-256 of the file, what the BIOS check found); one-line errors."""
    from mewarden.ider.medium import check_cd, open_medium

    with open_medium(path) as medium:
        found = check_cd(medium)
        digest = hashlib.sha256()
        for lba in range(0, medium.sectors, 512):
            digest.update(medium.read(lba, min(512, medium.sectors - lba)))
    checked = {
        "volume_id": found.volume.volume_id,
        "boot_image_sha256": found.boot_image_sha256,
        "sectors": found.volume.sectors,
    }
    return str(Path(path).resolve()), digest.hexdigest(), checked


@click.command("reprovision")
@click.option("--group", help="Set the method of this group's nodes.")
@click.option("--node", help="Set the method of this node (wins over its group's).")
@click.option("--method", type=click.Choice(["pxe", "ider"]), help="Re-provision method.")
@click.option("--image", type=click.Path(dir_okay=False), help="Installer ISO (IDER only).")
@click.option("--clear", is_flag=True, help="Drop the setting: inherit again (group, then PXE).")
@org_options
@json_option
def command(
    *,
    org: OrgAccess,
    group: str | None,
    node: str | None,
    method: str | None,
    image: str | None,
    clear: bool,
    as_json: bool,
) -> None:
    """Show, set or clear how heal re-provisions nodes: PXE (default) or IDER with an image."""
    from mewarden.errors import BadInputError
    from mewarden.policy.reprovision import Reprovision, Scope, parse_method
    from mewarden.state import reprovision

    store = org.store()
    if group is None and node is None:
        if method or image or clear:
            raise BadInputError("say which nodes: --group NAME or --node NAME")
        _show(reprovision.load_methods(store), as_json=as_json)
        return
    if group is not None and node is not None:
        raise BadInputError("give --group or --node, not both")
    scope, name = (Scope.GROUP, group) if group is not None else (Scope.NODE, node)
    assert name is not None
    if clear:
        changed = reprovision.clear_method(store, scope, name)
        result: dict[str, Any] = {"scope": scope.value, "name": name, "cleared": changed}
        emit(result, as_json=as_json, render=lambda out: out.print(f"{name}: inherits again"))
        return
    if method is None:
        raise BadInputError("give --method pxe|ider (or --clear)")
    chosen = parse_method(method)
    path = digest = None
    checked: dict[str, Any] = {}
    if image is not None and chosen.value == "ider":
        path, digest, checked = _image_digest(image)
    setting = Reprovision(method=chosen, image=path or image, image_sha256=digest)
    reprovision.set_method(store, scope, name, setting)
    result = {"scope": scope.value, "name": name, "method": chosen.value, "image": path}
    result |= {"image_sha256": digest, "checked": checked or None}
    line = f"{scope.value} {name}: re-provision by {chosen.value}"
    if path:
        line += f" from {path} (volume {checked['volume_id']!r})"
    emit(result, as_json=as_json, render=lambda out: out.print(line, markup=False))


def _show(methods: dict[Any, Any], *, as_json: bool) -> None:
    rows = [
        {
            "scope": scope.value,
            "name": name,
            "method": setting.method.value,
            "image": setting.image,
            "image_sha256": setting.image_sha256,
        }
        for (scope, name), setting in sorted(methods.items())
    ]

    def render(out: Any) -> None:
        if not rows:
            out.print("every node re-provisions by PXE (no setting)")
        for row in rows:
            image = f" {row['image']}" if row["image"] else ""
            out.print(f"{row['scope']} {row['name']}: {row['method']}{image}", markup=False)

    emit({"settings": rows, "default": "pxe"}, as_json=as_json, render=render)
