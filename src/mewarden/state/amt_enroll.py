"""The real :class:`~mewarden.state.enroll.EnrollClient`, over :mod:`mewarden.amt`."""

from __future__ import annotations

import re

from mewarden.amt.accounts import set_admin_password
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.amt.consent import read_consent, set_consent_policy
from mewarden.amt.inventory import identify, read_platform_uuid
from mewarden.amt.network import EthernetChange, read_ethernet, set_ethernet
from mewarden.amt.provisioning import read_provisioning
from mewarden.amt.redirection import (
    RedirectionChange,
    change_redirection,
    requested_state,
    service_props,
)
from mewarden.amt.session import get, invoke, put
from mewarden.crypto.vault import OrgKey
from mewarden.errors import AmtError, BadInputError, RefusedError
from mewarden.secret import Secret
from mewarden.state.enroll import AmtObservation, AmtProfile, EnrollResult, enroll_use
from mewarden.state.store import Store
from mewarden.wsman.resources import OptInRequired, ProvisioningState

_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$", re.IGNORECASE)


class AmtEnrollClient:
    """Adapts an open :class:`AmtClient` to the enrollment protocol."""

    def __init__(self, client: AmtClient) -> None:
        self.client = client

    async def read_identity(self) -> AmtObservation:
        """Identity, wired MAC and consent policy (the first call authenticates)."""
        identity = await identify(self.client)
        await self._refuse_unactivated()
        macs: tuple[str, ...] = ()
        try:
            mac = (await read_ethernet(self.client)).mac_address.lower()
            macs = (mac,) if _MAC.match(mac) else ()
        except AmtError:
            macs = ()
        consent = await read_consent(self.client)
        try:
            system_uuid = await read_platform_uuid(self.client)
        except AmtError:  # older firmware without the association: identity without UUID
            system_uuid = None
        return AmtObservation(
            uuid=system_uuid,
            amt_version=identity.amt_version,
            build_number=identity.build_number,
            sku=identity.sku,
            digest_realm=identity.digest_realm,
            realm_valid=identity.realm_valid,
            macs=macs,
            consent_required=consent.required != OptInRequired.NONE,
            versions=dict(identity.versions),
        )

    async def _refuse_unactivated(self) -> None:
        """A device still in pre-provisioning is activated on the node first (its factory
        state is no org policy: no admin password of ours, no control mode)."""
        status = await read_provisioning(self.client)
        if status.state == ProvisioningState.PRE:
            raise RefusedError(
                f"AMT at {self.client.endpoint.label} is not activated (pre-provisioning): run "
                "'mewarden host activate --mode ccm' (or --mode acm) on the node first"
            )

    async def tls_fingerprint(self) -> str | None:
        """The certificate seen on the (already used) TLS connection, trust-on-first-use."""
        return self.client.observed_pin

    async def apply_profile(self, profile: AmtProfile) -> None:
        """Redirection features, then user consent when the profile names it."""
        await self._apply_redirection(profile)
        if profile.user_consent is not None:
            await set_consent_policy(self.client, profile.user_consent)

    async def apply_network(self, change: EthernetChange) -> None:
        """Put ``AMT_EthernetPortSettings`` for the wired port."""
        await set_ethernet(self.client, change)

    async def _apply_redirection(self, profile: AmtProfile) -> None:
        """Switch SOL and IDE-R to the profile's values (KVM too when the profile wants it).

        Only ``AMT_RedirectionService`` is touched unless KVM is wanted: :func:`change_redirection`
        also reads the KVM setting data, which firmware without KVM (non-Pro SKUs) may not have.
        """
        if profile.kvm:
            change = RedirectionChange(sol=profile.sol, ider=profile.ider, kvm=True)
            await change_redirection(self.client, change)
            return
        state = requested_state(sol=profile.sol, ider=profile.ider)
        await invoke(
            self.client,
            "AMT_RedirectionService",
            "RequestStateChange",
            (("RequestedState", int(state)),),
        )
        service = await get(self.client, "AMT_RedirectionService")
        listener = profile.sol or profile.ider
        await put(
            self.client,
            "AMT_RedirectionService",
            service_props(service, state, listener=listener),
        )

    async def set_admin_password(self, password: Secret) -> None:
        """SetAdminAclEntryEx with the digest of the new password."""
        await set_admin_password(self.client, password, username=self.client.endpoint.username)


async def enroll_over_amt(
    store: Store,
    org_key: OrgKey,
    name: str,
    password: Secret,
    profile: AmtProfile,
    *,
    timeout_s: float = 10.0,
) -> EnrollResult:
    """Open an AMT session to node ``name`` (address from org state) and enroll it for use."""
    node = store.node(name)
    if not node.amt_host:
        raise BadInputError(f"node {name!r} has no AMT address; give --amt-host")
    endpoint = Endpoint(
        host=node.amt_host,
        port=node.amt_port,
        tls=node.amt_tls,
        username=node.amt_username or "admin",
        password=password,
        pin_sha256=node.tls_pin,
        timeout_s=timeout_s,
    )
    async with AmtClient(endpoint) as client:
        return await enroll_use(store, org_key, name, AmtEnrollClient(client), profile)
