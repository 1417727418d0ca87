"""A medical emergency or a crisis in what the caller says (``urgent``).

The engine answers either first of all, whatever it was asking: call 911 (988 for a
crisis), then staff.
"""

from __future__ import annotations

import re

# A medical emergency, or a crisis, said at any point (the standard warning signs: chest
# pain, breathing, collapse, stroke, bleeding, a closing throat, an overdose, a seizure; and
# thoughts of suicide or self-harm). The engine says to call 911 (988 for a crisis) and
# connects the caller with staff, whatever it was asking.
_EMERGENCY = re.compile(
    r"\b(?:chest (?:pains?|hurts?|is hurting|is tight|tightness)|heart attack|a stroke(?! of)|"
    r"(?:can't|cant|cannot|can not) breathe|(?:trouble|difficulty|hard time|problems?) "
    r"breathing|not breathing|stopped breathing|short of breath|unconscious|unresponsive|"
    r"passed out|collapsed|(?:won't|wont) wake up|overdos\w*|took too many pills|seizures?|"
    r"bleeding (?:a lot|badly|heavily|everywhere)|(?:a lot of|heavy|severe) bleeding|"
    r"throat (?:is )?(?:closing|swelling)|choking|medical emergency|(?:this is|it's|its|it "
    r"is|we have|i have|there's|there is) an? (?:medical )?emergency|"
    # fainting, a stroke's signs, anaphylaxis, a fall, bleeding that goes on, a whole bottle
    r"faint(?:ed|ing)|(?:going to|gonna|about to|might) pass out|(?:face|mouth|smile) "
    r"(?:is )?droop\w*|slurr\w*|(?:can't|cant|cannot) feel my (?:arm|leg|face|side)|"
    r"allergic reaction|anaphyla\w*|fell (?:down )?and (?:i )?(?:can't|cant|cannot) get up|"
    r"bleeding (?:and )?(?:it )?(?:won't|wont|will not|doesn't|doesnt) stop|"
    r"(?:took|swallowed|drank) (?:a|the) whole bottle)\b")
_CRISIS = re.compile(
    r"\b(?:kill (?:myself|me)|suicid\w*|end (?:my life|it all|my own life)|ending my life|"
    r"(?:don't|dont|do not) want to (?:live|be alive|be here)|want to die|hurt(?:ing)? myself|"
    r"harm(?:ing)? myself|self harm|self-harm)\b")


def urgent(cleaned: str) -> set[str]:
    """{"crisis"}, {"emergency"} or nothing (a crisis is said as such, first)."""
    if _CRISIS.search(cleaned):
        return {"crisis"}
    return {"emergency"} if _EMERGENCY.search(cleaned) else set()
