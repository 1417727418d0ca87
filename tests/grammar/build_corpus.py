"""Writes corpus.tsv: labelled caller utterances for the grammars (run by hand, output kept).

Columns: text, expected intent ("-" for no check, "none" for no intent), slot type ("-"
for none) and the expected slot value in its canonical text form. Relative dates are
resolved against NOW in the tests (Monday 2026-11-23, 10:00 New York).
"""

from __future__ import annotations

import random
from pathlib import Path

ROWS: list[tuple[str, str, str, str]] = []


def add(text: str, intent: str = "-", slot: str = "-", value: str = "-") -> None:
    ROWS.append((text, intent, slot, value))


YES = ["yes", "yeah", "yep", "yup", "sure", "that's right", "correct", "Yes.", "uh huh",
       "Yeah, that's me.", "um, yes", "yes please", "absolutely", "of course", "that is correct",
       "Speaking.", "this is she", "this is he", "that's me", "ok", "okay sure", "Yes, I will.",
       "sounds good", "Yep, I'll be there.", "right", "definitely", "YES", "yes yes",
       "uh, yeah, that works", "mhm", "Sure thing.", "certainly", "exactly", "I can"]
NO = ["no", "nope", "nah", "I don't think so", "not really", "No.", "no thanks", "negative",
      "um, no", "no, that's wrong", "that's not right", "that is not correct", "incorrect",
      "not at all", "No, thank you.", "absolutely not", "I can't", "no no", "Nope, sorry.",
      "definitely not", "I won't", "naw", "Not me."]
OPT = ["stop", "Stop calling me.", "don't call me again", "do not call this number",
       "please take me off your list", "remove me from your list", "unsubscribe", "opt out",
       "I want to opt out", "revoke", "quit", "end", "Stop it.", "no more calls please",
       "stop, I'm not interested", "cancel these calls", "never call me again",
       "put me on your do not call list", "STOP", "leave me alone"]
AGENT = ["talk to a person", "can I speak to someone", "representative", "operator",
         "I want a real person", "let me talk to a human", "transfer me", "agent please",
         "can I speak with a person", "get me the front desk", "customer service"]
REPEAT = ["repeat that", "say that again", "what did you say", "pardon?", "come again?",
          "sorry, what was that?", "I didn't catch that", "one more time please",
          "could you say that again", "I missed that",
          "hello?"]  # said after a question: it was not heard
WRONG = ["wrong number", "you have the wrong number", "there's no one here by that name",
         "she doesn't live here", "I don't know who that is", "you've got the wrong person",
         "never heard of them", "Wrong number, sorry."]
RESCHED = ["I need to reschedule", "can we reschedule", "can I change my appointment",
           "I can't make it", "I won't be able to make it", "is there another time",
           "could we do a different day", "move it to next week", "I'd like a new time",
           "No, I need to move the appointment", "reschedule please", "can we push it back"]
CANCEL = ["cancel my appointment", "I want to cancel the appointment", "please cancel it",
          "cancel that", "I no longer need the appointment", "cancel the appointment please",
          "you can cancel it"]
DONT_KNOW = ["I don't know", "not sure", "no idea", "I'm not sure", "I don't remember"]
LATER = ["call me back later", "this is not a good time", "I'm driving", "I'm busy right now"]
NONE = ["the weather is nice", "purple elephant", "hmm", "I had pancakes",
        "my dog is barking", "", "..."]

for t in YES:
    add(t, "affirm")
for t in NO:
    add(t, "deny")
for t in OPT:
    add(t, "opt_out")
add("cancel", "cancel_ambiguous")
add("Cancel.", "cancel_ambiguous")
add("just cancel", "cancel_ambiguous")
for t in AGENT:
    add(t, "agent")
for t in REPEAT:
    add(t, "repeat")
for t in WRONG:
    add(t, "wrong_number")
for t in RESCHED:
    add(t, "reschedule")
for t in CANCEL:
    add(t, "cancel")
for t in DONT_KNOW:
    add(t, "dont_know")
for t in LATER:
    add(t, "later")
for t in NONE:
    add(t, "none")
add("I'll stop by the office later", "none")
add("the end of the week works", "none")

# ---- dates of birth -------------------------------------------------------------------
DOBS = [
    ("March fifth nineteen eighty", "1980-03-05"), ("3/5/1980", "1980-03-05"),
    ("the fifth of March 1980", "1980-03-05"), ("oh three oh five eighty", "1980-03-05"),
    ("1980-03-05", "1980-03-05"), ("March 5th, 1980", "1980-03-05"),
    ("um it's march the fifth, nineteen eighty", "1980-03-05"),
    ("zero three zero five one nine eight zero", "1980-03-05"),
    ("oh three oh five nineteen eighty", "1980-03-05"), ("03-05-1980", "1980-03-05"),
    ("5 March 1980", "1980-03-05"), ("3/5/80", "1980-03-05"),
    ("November twentieth nineteen fifty five", "1955-11-20"), ("11/20/1955", "1955-11-20"),
    ("the twentieth of November fifty five", "1955-11-20"),
    ("July fourteenth ninety two", "1992-07-14"), ("7/14/92", "1992-07-14"),
    ("july 14 1992", "1992-07-14"), ("January thirtieth, nineteen forty-eight", "1948-01-30"),
    ("jan 30th 1948", "1948-01-30"), ("December first two thousand", "2000-12-01"),
    ("December 1st, 2000", "2000-12-01"), ("February twenty ninth two thousand four", "2004-02-29"),
    ("my birthday is April 2nd 1975", "1975-04-02"), ("I was born on June 30 1961", "1961-06-30"),
    ("it's August the eighth, nineteen eighty eight", "1988-08-08"),
    ("October 10th 2010", "2010-10-10"), ("Sept 9 1999", "1999-09-09"),
    ("twelve oh one nineteen seventy", "1970-12-01"), ("May 17 1966", "1966-05-17"),
    ("the third of may nineteen sixty six", "1966-05-03"),
    ("one two three one nineteen ninety", "1990-12-31"),
    ("Born 2/28/1949", "1949-02-28"), ("april twenty second nineteen oh nine", "1909-04-22"),
    ("two thousand and five, march first", "2005-03-01"),
]
for text, value in DOBS:
    add(text, "-", "dob", value)

# ---- times ------------------------------------------------------------------------------
TIMES = [("three thirty p m", "15:30"), ("3:30pm", "15:30"), ("half past two", "14:30"),
         ("noon", "12:00"), ("quarter to four", "15:45"), ("ten o'clock", "10:00"),
         ("at 9", "09:00"), ("two in the afternoon", "14:00"), ("ten past nine", "09:10"),
         ("nine fifteen a.m.", "09:15"), ("eleven oh five", "11:05"), ("midnight", "00:00"),
         ("4 PM", "16:00"), ("around 11 am", "11:00"), ("quarter past three", "15:15"),
         ("eight in the morning", "08:00"), ("1:45", "13:45"), ("twelve thirty", "12:30"),
         ("seven forty five am", "07:45"), ("at two", "14:00"), ("five pm", "17:00"),
         ("midday", "12:00")]
for text, value in TIMES:
    add(text, "-", "time", value)

# ---- relative dates -----------------------------------------------------------------------
RELATIVE = [("next Tuesday afternoon", "2026-12-01 afternoon"),
            ("tomorrow morning", "2026-11-24 morning"), ("Tuesday", "2026-11-24 -"),
            ("this Friday", "2026-11-27 -"), ("next Friday", "2026-12-04 -"),
            ("in three days", "2026-11-26 -"), ("the day after tomorrow", "2026-11-25 -"),
            ("next week", "2026-11-30 - +7d"), ("Wednesday evening", "2026-11-25 evening"),
            ("December 3rd", "2026-12-03 -"), ("any afternoon", "- afternoon"),
            ("today in the afternoon", "2026-11-23 afternoon"),
            ("um, thursday morning if possible", "2026-11-26 morning"),
            ("next Monday", "2026-11-30 -"), ("in a week", "2026-11-30 -"),
            ("sometime tomorrow", "2026-11-24 -")]
for text, value in RELATIVE:
    add(text, "-", "date_pref", value)

# ---- digits and phone numbers -------------------------------------------------------------
rng = random.Random(6)
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
for _ in range(24):
    tail = f"{rng.randrange(100):02d}"
    number = f"555010{rng.randrange(10)}{tail}"[:10]
    number = "555" + "01" + f"{rng.randrange(100):02d}" + f"{rng.randrange(1000):03d}"
    style = rng.randrange(4)
    if style == 0:
        text = ", ".join([" ".join(WORDS[int(c)] for c in number[:3]),
                          " ".join(WORDS[int(c)] for c in number[3:6]),
                          " ".join(WORDS[int(c)] for c in number[6:])])
    elif style == 1:
        text = f"{number[:3]}-{number[3:6]}-{number[6:]}"
    elif style == 2:
        text = "my number is " + " ".join("oh" if c == "0" else WORDS[int(c)] for c in number)
    else:
        text = f"({number[:3]}) {number[3:6]} {number[6:]}"
    add(text, "-", "phone", number)
add("five five five, oh one two three", "-", "digits", "5550123")
add("double five five oh one two three", "-", "digits", "5550123")
add("one oh oh oh one", "-", "zip", "10001")
add("my zip is 33101", "-", "zip", "33101")
add("seven three three oh one", "-", "zip", "73301")
add("forty two", "-", "number", "42")
add("about six", "-", "number", "6")
add("7", "-", "number", "7")

# ---- member IDs -------------------------------------------------------------------------
LETTER = {"A": "A as in apple", "B": "B as in boy", "Z": "Z", "X": "x-ray", "Q": "Q",
          "W": "W", "Y": "Y", "C": "C as in cat", "D": "delta"}
for _ in range(26):
    letters = "".join(rng.choice("ABCDQWXYZ") for _ in range(3))
    digits = "".join(str(rng.randrange(10)) for _ in range(rng.choice([6, 9])))
    style = rng.randrange(3)
    if style == 0:
        text = " ".join(LETTER.get(c, c) for c in letters) + " " + " ".join(
            WORDS[int(c)] for c in digits)
    elif style == 1:
        text = "my member ID is " + letters.lower() + digits
    else:
        text = ", ".join(letters) + ", " + " ".join(digits)
    value = letters + digits
    if style == 0:
        value = "".join("X" if LETTER.get(c) == "x-ray" else c for c in letters) + digits
    add(text, "-", "member_id", value)

# ---- carriers and names ----------------------------------------------------------------
for text, value in [("I have blue cross", "Blue Cross Blue Shield"), ("Aetna", "Aetna"),
                    ("um, it's united healthcare", "UnitedHealthcare"), ("Cigna.", "Cigna"),
                    ("medicare", "Medicare"), ("I'm on Medicaid", "Medicaid"),
                    ("Kaiser", "Kaiser Permanente"), ("acme", "Acme Health"),
                    ("Bluebird Mutual", "Bluebird Mutual"), ("northwind", "Northwind Care"),
                    ("summit health plan", "Summit Health Plan"), ("Humana", "Humana"),
                    ("I don't have insurance", "Self-pay"), ("self pay", "Self-pay"),
                    ("Tricare", "Tricare"), ("it's BCBS", "Blue Cross Blue Shield"),
                    ("anthem blue cross", "Anthem")]:
    add(text, "-", "carrier", value)
for text, value in [("my name is Testa Patientson", "Testa Patientson"),
                    ("this is Fakey McSample", "Fakey McSample"),
                    ("it's Nomen Placeholder", "Nomen Placeholder"),
                    ("Exempla Grata", "Exempla Grata"), ("I'm Testa", "Testa"),
                    ("Patientson, Testa", "Testa Patientson"),
                    ("um my name's Sample Person", "Sample Person"),
                    ("T E S T A", "Testa")]:
    add(text, "-", "name", value)
for text, value in [("the first one", "1"), ("second", "2"), ("the third option", "3"),
                    ("option two", "2"), ("the last one", "3"), ("number one please", "1")]:
    add(text, "-", "choice", value)
for text, value in [("yes", "true"), ("nope", "false"), ("I do", "true"),
                    ("no I don't", "false")]:
    add(text, "-", "yes_no", value)

if __name__ == "__main__":
    out = Path(__file__).with_name("corpus.tsv")
    with out.open("w", encoding="utf-8") as fh:
        fh.write("# text\tintent\tslot_type\tslot_value  (built by build_corpus.py)\n")
        for row in ROWS:
            fh.write("\t".join(row) + "\n")
    print(f"{len(ROWS)} utterances -> {out}")
