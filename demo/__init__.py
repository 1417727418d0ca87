"""Demo and test helpers: a scripted patient phone and the README's demo call.

Its own room above the runtime (like ``tests`` and ``bench``): none of ``carrier``,
``agent``, ``media``, ``stir_shaken`` imports it (``tests/test_architecture.py``).
``carrier serve --demo-call`` loads ``demo.call:demo_call`` by its setting
(``agent.demo_call``), and tests use ``ScriptedPatient``/``PatientPhone``.
"""

from demo.call import CALL_IN_SCRIPT, DEMO_SCRIPT, demo_call
from demo.phone import PatientLog, PatientPhone, ScriptedPatient

__all__ = ["CALL_IN_SCRIPT", "DEMO_SCRIPT", "PatientLog", "PatientPhone", "ScriptedPatient",
           "demo_call"]
