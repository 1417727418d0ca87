"""The SIP Identity header (RFC 8224 section 4, base64url token per errata 6499).

    Identity: <token>;info=<https://cert.example/sp.pem>;alg=ES256;ppt=shaken

Parameters may come in any order; unknown ones are kept. A request may carry
several Identity header fields, and one field may hold several comma-separated
values (the token alphabet and the bracketed ``info`` never contain a comma).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from stir_shaken.errors import InvalidIdentityHeader

# header.claims.signature, each base64url (padding tolerated); the compact form
# leaves the first two empty.
_TOKEN = re.compile(r"[\w-]*+=*\.[\w-]*+=*\.[\w-]++=*", re.ASCII)
# The shape every implementation we know emits (ours, secsipidx): checked in one
# pass so the per-call cost stays small; anything else takes the general parser.
_USUAL = re.compile(
    r"\s*([\w-]++\.[\w-]++\.[\w-]++);info=<([^<>\s;,\"]++)>;alg=(\w++);ppt=(\w++)\s*",
    re.ASCII,
)
_BAD_URI = re.compile(r"[<>\s]")
# One list element: plain characters, a quoted string or a <...> URI.
_PIECE = {sep: re.compile(rf'(?:[^{sep}"<>]+|"[^"]*"|<[^<>]*>)*') for sep in ",;"}


@dataclass(frozen=True)
class Identity:
    token: str
    info: str
    alg: str | None = "ES256"
    ppt: str | None = "shaken"
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if _TOKEN.fullmatch(self.token) is None:
            raise InvalidIdentityHeader("Identity token is not a base64url JWS")
        if not self.info or _BAD_URI.search(self.info):
            raise InvalidIdentityHeader("Identity info is not a URI")

    @classmethod
    def parse(cls, value: str) -> Identity:
        """Parse one Identity header value."""
        usual = _USUAL.fullmatch(value)
        if usual is not None:
            return cls._checked(*usual.groups())
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

    @classmethod
    def _checked(cls, token: str, info: str, alg: str, ppt: str) -> Identity:
        """Build from parts the ``_USUAL`` pattern already validated."""
        self = object.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(self, "token", token)
        setattr_(self, "info", info)
        setattr_(self, "alg", alg)
        setattr_(self, "ppt", ppt)
        setattr_(self, "params", ())
        return self

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
        usual = _USUAL.fullmatch(value)
        if usual is not None:  # one value in the usual shape: no comma list possible
            result.append(Identity._checked(*usual.groups()))
            continue
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
    if '"' not in text and "<" not in text and ">" not in text:
        return text.split(sep)
    piece = _PIECE[sep]
    parts: list[str] = []
    pos = 0
    while True:
        match = piece.match(text, pos)
        assert match is not None  # the pattern also matches the empty string
        parts.append(match.group())
        pos = match.end()
        if pos == len(text):
            return parts
        if text[pos] != sep:
            raise InvalidIdentityHeader("unbalanced quote or bracket in Identity")
        pos += 1
