"""The key a per-client limit counts under, from the client's address.

A host on IPv6 is given a whole /64 and may send from any address in it: limits kept per
IPv6 *address* (failed sign-ins on the console, requests and sessions on the patient page)
were never reached by a host taking a new address each time. :func:`client_key` gives an
IPv6 client its /64, an IPv4-mapped IPv6 address its IPv4 address, and an IPv4 client its
address; anything that is no address (a test client's name, ``-``) is its own key.
"""

from __future__ import annotations

import ipaddress

IPV6_PREFIX = 64


def client_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)
