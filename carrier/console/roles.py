"""Console roles and the operator a session belongs to (least privilege, issue 15).

* ``admin``: operator accounts, trunks, settings, health. Sees no PHI.
* ``compliance``: consent, DNC, audit export and verification, retention.
* ``scheduler``: patients, appointments, campaigns.
* ``supervisor``: live calls (hang up, transfer), call records, redacted transcripts.
* ``auditor``: read-only audit log and exports.

Every role that can see PHI must sign in with a TOTP code as well as the password.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.Enum):
    ADMIN = "admin"
    COMPLIANCE = "compliance"
    SCHEDULER = "scheduler"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"

    @property
    def sees_phi(self) -> bool:
        return self is not Role.ADMIN


ALL_ROLES = tuple(Role)


@dataclass(frozen=True)
class Operator:
    id: str
    name: str
    role: Role

    @property
    def actor(self) -> str:
        """How the audit log names this operator."""
        return f"console:{self.name}"
