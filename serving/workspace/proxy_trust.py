"""The checks on single sign-on's two settings, the header's name and the trusted proxies' addresses.

Standard library only, like `serving.api_defaults`: `claimsight.settings.Settings` runs them when any command
starts, without pulling in the web stack, and `serving.workspace.web.sso.HeaderSso` runs the same ones, so a
workspace built directly is held to the same rules as one started from the command line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP field name (RFC 9110 token)


def parse_trusted_proxies(entries: Iterable[str]) -> tuple[Network, ...]:
    """IP addresses and CIDR networks (`10.0.0.5`, `10.0.0.0/24`, `::1`). A network with host bits set
    (`10.0.0.5/8`) is refused rather than widened, and so is one that covers every address (`0.0.0.0/0`): both
    would trust far more peers than the operator meant."""
    networks = []
    for i, entry in enumerate(entries):
        try:
            network = ipaddress.ip_network(entry.strip(), strict=True)
        except ValueError as exc:
            raise ValueError(f"trusted proxy {i + 1} is not an IP address or CIDR network ({exc})") from None
        if network.prefixlen == 0:
            raise ValueError(f"trusted proxy {i + 1} ({network}) covers every address: list the proxy's own")
        networks.append(network)
    return tuple(networks)


def check_header_name(name: str) -> str:
    if not HEADER_NAME.fullmatch(name):
        raise ValueError("the single sign-on header must be an HTTP header name, e.g. X-Forwarded-User")
    return name


def trusted(host: str | None, networks: Iterable[Network]) -> bool:
    """Whether the peer `host` is in one of `networks`; a name or no address (a test client, a Unix socket) is
    not."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return any(address in network for network in networks)


__all__ = ["HEADER_NAME", "Network", "check_header_name", "parse_trusted_proxies", "trusted"]
