"""Demo and test helpers: a scripted patient phone and the README's demo call.

Not part of the agent's runtime (``agent.runtime`` never imports this package):
``carrier serve --demo-call`` loads ``agent.demo:demo_call`` by its setting, and tests
use ``ScriptedPatient``/``PatientPhone``.
"""

from agent.demo.call import CALL_IN_SCRIPT, DEMO_SCRIPT, demo_call
from agent.demo.phone import PatientLog, PatientPhone, ScriptedPatient

__all__ = ["CALL_IN_SCRIPT", "DEMO_SCRIPT", "PatientLog", "PatientPhone", "ScriptedPatient",
           "demo_call"]
