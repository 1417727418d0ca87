"""The SIP Identity header (RFC 8224 section 4, base64url token per errata 6499).

    Identity: <token>;info=<https://cert.example/sp.pem>;alg=ES256;ppt=shaken

Parameters may come in any order; unknown ones are kept. A request may carry
several Identity header fields, and one field may hold several comma-separated
values (the token alphabet and the bracketed ``info`` never contain a comma).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stir_shaken.errors import InvalidIdentityHeader

_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=")


@dataclass(frozen=True)
class Identity:
    token: str
    info: str
    alg: str | None = "ES256"
    ppt: str | None = "shaken"
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.token or not set(self.token) <= _TOKEN_CHARS or self.token.count(".") != 2:
            raise InvalidIdentityHeader("Identity token is not a base64url JWS")
        if not self.info or any(c in self.info for c in "<> \t\r\n"):
            raise InvalidIdentityHeader("Identity info is not a URI")

    @classmethod
    def parse(cls, value: str) -> Identity:
        """Parse one Identity header value."""
        token, _, rest = value.strip().partition(";")
        info: str | None = None
        alg: str | None = None
        ppt: str | None = None
        extra: list[tuple[str, str]] = []
        for name, param in _params(rest):
            lname = name.lower()
            if lname == "info":
                if not (param.startswith("<") and param.endswith(">")):
                    raise InvalidIdentityHeader("info is not in angle brackets")
                info = param[1:-1]
            elif lname == "alg":
                alg = param
            elif lname == "ppt":
                ppt = param.strip('"')
            else:
                extra.append((name, param))
        if info is None:
            raise InvalidIdentityHeader("Identity has no info parameter")
        return cls(token.strip(), info, alg, ppt, tuple(extra))

    def format(self) -> str:
        out = [self.token, f"info=<{self.info}>"]
        if self.alg is not None:
            out.append(f"alg={self.alg}")
        if self.ppt is not None:
            out.append(f"ppt={self.ppt}")
        out.extend(f"{n}={v}" if v else n for n, v in self.params)
        return ";".join(out)


def parse_headers(values: Iterable[str]) -> list[Identity]:
    """Parse every Identity header field value of a request, in order."""
    result: list[Identity] = []
    for value in values:
        result.extend(Identity.parse(part) for part in _split_commas(value) if part.strip())
    return result


def _params(text: str) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for raw in _split(text, ";"):
        if not raw.strip():
            continue
        name, eq, value = raw.partition("=")
        name = name.strip()
        if not name or not name.replace("-", "").isalnum():
            raise InvalidIdentityHeader("bad Identity parameter")
        params.append((name, value.strip() if eq else ""))
    return params


def _split_commas(value: str) -> list[str]:
    return _split(value, ",")


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside ``<...>`` and double quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif not quoted and c == "<":
            depth += 1
        elif not quoted and c == ">":
            depth = max(0, depth - 1)
        elif c == sep and not quoted and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quoted or depth:
        raise InvalidIdentityHeader("unbalanced quote or bracket in Identity")
    parts.append(text[start:])
    return parts
