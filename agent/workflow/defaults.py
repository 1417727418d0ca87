"""The engine's built-in prompts and the placeholders that stand for slot values in audits.

A workflow may override any built-in prompt by defining one with the same id.
"""

from __future__ import annotations

DEFAULT_PROMPTS: dict[str, str] = {
    "optout_goodbye": "Thank you. You will not receive any more calls from {org_name}. Goodbye.",
    "transfer_notice": "One moment please, I am connecting you with someone from {org_name}.",
    "wrong_number_goodbye": "I am sorry for the trouble. We will update our records. Goodbye.",
    "escalation_notice": "I am having trouble understanding. Let me connect you with a member "
                         "of our staff.",
    "cancel_disambiguation": "Just to be sure: do you want to cancel your appointment, or stop "
                             "receiving calls from us? Say appointment, or say stop calls.",
    "no_match_default": "Sorry, I did not understand that.",
    "no_input_default": "Sorry, I did not hear anything.",
    "hold_ok": "Of course, take your time.",
    # Said first, whatever was being asked, then the caller is connected with staff.
    "emergency_notice": "If this is a medical emergency, please hang up and call nine one "
                        "one now. I am connecting you with our staff.",
    "crisis_notice": "If you are thinking about hurting yourself, please call or text nine "
                     "eight eight, the Suicide and Crisis Lifeline, or call nine one one now. "
                     "You are not alone. I am connecting you with our staff.",
    "deceased_goodbye": "I am very sorry for your loss, and sorry to have troubled you. We "
                        "will let {org_name} know, and we will not call about this again. "
                        "Goodbye.",
    "step_up_ask": "Thank you. For your security, please also tell me your first and last "
                   "name.",
}
# Audit rows name the slot a caller filled, never its value.
SLOT_PLACEHOLDERS = {"dob": "[DOB]", "date": "[DATE]", "name": "[NAME]", "phone": "[PHONE]",
                     "member_id": "[MEMBER_ID]", "digits": "[DIGITS]", "zip": "[ZIP]",
                     "text": "[TEXT]", "carrier": "[CARRIER]", "time": "[TIME]",
                     "date_pref": "[DATE]", "number": "[NUMBER]", "yes_no": "[ANSWER]",
                     "choice": "[CHOICE]", "yes_no_often": "[ANSWER]",
                     "frequency": "[ANSWER]", "cancel_or_stop": "[ANSWER]"}
