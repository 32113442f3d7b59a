"""``mewarden serve``: the web console and REST API on org state (see docs/serve.md).

TLS by default, from ``--tls-cert``/``--tls-key`` or a self-signed certificate whose SHA-256
fingerprint is printed; ``--plain-http`` only on a loopback address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import click

from mewarden.cli.cmd_org import OrgAccess, org_options


def parse_listen(text: str) -> tuple[str, int]:
    from mewarden.errors import BadInputError

    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInputError(f"--listen {text!r} is not HOST:PORT")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _credentials(org: OrgAccess, store: Any, with_key: bool) -> Any:
    if not with_key:
        return None
    from mewarden.cli.cmd_heal import _vault_credentials

    return _vault_credentials(org, store)


@click.command(name="serve")
@click.option("--listen", default="127.0.0.1:8443", show_default=True, help="HOST:PORT.")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="PEM certificate (chain).")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="PEM private key.")
@click.option("--plain-http", is_flag=True, help="No TLS (refused unless HOST is loopback).")
@click.option(
    "--no-vault", is_flag=True, help="Do not load the org key (AMT actions are then refused)."
)
@org_options
def command(
    org: OrgAccess,
    *,
    listen: str,
    tls_cert: str | None,
    tls_key: str | None,
    plain_http: bool,
    no_vault: bool,
) -> None:
    """Serve the fleet over HTTPS: web pages, REST API (/api/v1), /metrics, /healthz."""
    from pathlib import Path

    import uvicorn

    from mewarden.errors import BadInputError
    from mewarden.serve.app import create_app
    from mewarden.serve.context import ServeContext, ServeSettings
    from mewarden.serve.tls import ensure_self_signed, given_files
    from mewarden.state.db import default_state_dir

    host, port = parse_listen(listen)
    if plain_http and not is_loopback(host):
        raise BadInputError("--plain-http is only allowed on a loopback address")
    if bool(tls_cert) != bool(tls_key):
        raise BadInputError("give both --tls-cert and --tls-key, or neither")
    store = org.store()
    ctx = ServeContext(
        engine=store.engine,
        settings=ServeSettings(tls=not plain_http),
        credentials=_credentials(org, store, not no_vault),
    )
    tls_options: dict[str, Any] = {}
    if not plain_http:
        files = (
            given_files(Path(tls_cert), Path(tls_key))
            if tls_cert and tls_key
            else ensure_self_signed(default_state_dir(), host, store.clock())
        )
        tls_options = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
        click.echo(f"mewarden: TLS certificate SHA-256 {files.fingerprint}", err=True)
    scheme = "http" if plain_http else "https"
    click.echo(f"mewarden: serving on {scheme}://{listen}/", err=True)
    uvicorn.run(
        create_app(ctx),
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        **tls_options,
    )
