"""How many single-letter edits apart two strings are (one function for the codebase).

Optimal string alignment distance: insert, delete, substitute, or swap two neighbouring
letters, each one edit ("us-esat" is one edit from "us-east"). Used by ``carrier config
check`` (a region tag that looks like a typo) and the agent's name matching
(``agent.grammar.phonetic``). Pure.
"""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``; a swap of neighbours counts one."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]
