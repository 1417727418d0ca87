# ruff: noqa: E501 - template lines of generated data read better unwrapped
"""Writes labelled.txt: utterances with PHI marked [[LABEL:text]] (run by hand, output kept).

Synthetic people and numbers only (555-01XX phone numbers, invented names and IDs).
Lines without marks are negatives: nothing should be redacted there.
"""

from __future__ import annotations

import random
from pathlib import Path

rng = random.Random(164514)
W = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
OH = ["oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
FIRST = ["Testa", "Fakey", "Nomen", "Exempla", "Sample", "Demo", "Fictia", "Madeup", "Pseudo",
         "Instance"]
LAST = ["Patientson", "McSample", "Placeholder", "Grata", "Person", "Userton", "Fakington",
        "Notreal", "Exampleby", "Mockwell"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
ORD = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
       "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
       "seventeenth", "eighteenth", "nineteenth", "twentieth", "twenty first", "twenty second",
       "twenty third", "twenty fourth", "twenty fifth", "twenty sixth", "twenty seventh",
       "twenty eighth"]
TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy",
        8: "eighty", 9: "ninety"}
STREETS = ["Elm Street", "Oak Avenue", "Maple Road", "Birch Lane", "Cedar Drive", "Pine Court",
           "Willow Way", "Aspen Boulevard"]
CITIES = ["Springfield", "Fairview", "Riverton", "Lakeside", "Greenville"]
LINES: list[str] = []


def m(label: str, text: str) -> str:
    return f"[[{label}:{text}]]"


def spoken_digits(digits: str, *, oh: bool = False) -> str:
    words = OH if oh else W
    return " ".join(words[int(c)] for c in digits)


def spoken_year(year: int) -> str:
    hi, lo = divmod(year, 100)
    if hi == 20:
        return "two thousand" + (f" {W[lo]}" if 0 < lo < 10 else "")
    head = {19: "nineteen", 18: "eighteen"}[hi]
    if lo < 10:
        return f"{head} oh {W[lo]}" if lo else f"{head} hundred"
    if lo < 20:
        return f"{head} {['ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'][lo - 10]}"
    t, u = divmod(lo, 10)
    return f"{head} {TENS[t]}" + (f" {W[u]}" if u else "")


def phone() -> str:
    return "555" + "01" + f"{rng.randrange(100):02d}" + f"{rng.randrange(1000):03d}"


def name() -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def dob() -> tuple[int, int, int]:
    return rng.randrange(1930, 2005), rng.randrange(1, 13), rng.randrange(1, 29)


def member() -> str:
    return "".join(rng.choice("ABCDQWXYZ") for _ in range(3)) + "".join(
        str(rng.randrange(10)) for _ in range(9))


# ---- SSN (30) ----------------------------------------------------------------------------
for i in range(30):
    a, b, c = f"{rng.randrange(100, 899):03d}", f"{rng.randrange(1, 99):02d}", f"{rng.randrange(1, 9999):04d}"
    style = i % 5
    if style == 0:
        LINES.append(f"my social is {m('SSN', f'{a}-{b}-{c}')}")
    elif style == 1:
        LINES.append(f"Social security number {m('SSN', f'{a} {b} {c}')}, please update it.")
    elif style == 2:
        LINES.append(f"it's {m('SSN', spoken_digits(a) + ', ' + spoken_digits(b) + ', ' + spoken_digits(c))} for my social")
    elif style == 3:
        LINES.append(f"SSN {m('SSN', a + b + c)}")
    else:
        LINES.append(f"the last one was my social, {m('SSN', spoken_digits(a + b + c, oh=True))}")

# ---- phones (40) -------------------------------------------------------------------------
for i in range(40):
    p = phone()
    style = i % 8
    if style == 0:
        LINES.append(f"you can call me at {m('PHONE', f'{p[:3]}-{p[3:6]}-{p[6:]}')}")
    elif style == 1:
        LINES.append(f"My cell is {m('PHONE', f'({p[:3]}) {p[3:6]}-{p[6:]}')}.")
    elif style == 2:
        LINES.append(f"call me back at {m('PHONE', spoken_digits(p[:3]) + ', ' + spoken_digits(p[3:6], oh=True) + ', ' + spoken_digits(p[6:], oh=True))}")
    elif style == 3:
        LINES.append(f"the number is {m('PHONE', '+1' + p)}")
    elif style == 4:
        LINES.append(f"{m('PHONE', f'{p[:3]}.{p[3:6]}.{p[6:]}')} is my husband's phone")
    elif style == 5:
        LINES.append(f"fax it to {m('PHONE', f'1-{p[:3]}-{p[3:6]}-{p[6:]}')}")
    elif style == 6:
        LINES.append(f"it's {m('PHONE', spoken_digits(p[3:6], oh=True) + ' ' + spoken_digits(p[6:]))}")
    else:
        LINES.append(f"reach me on {m('PHONE', 'five five five ' + spoken_digits(p[3:], oh=True))} after five")

# ---- dates of birth (45) ---------------------------------------------------------------
for i in range(45):
    y, mo, d = dob()
    style = i % 9
    if style == 0:
        LINES.append(f"my date of birth is {m('DOB', f'{mo}/{d}/{y}')}")
    elif style == 1:
        LINES.append(f"I was born {m('DOB', f'{MONTHS[mo - 1]} {ORD[d - 1]}, {spoken_year(y)}')}")
    elif style == 2:
        LINES.append(f"birthday's {m('DOB', f'{MONTHS[mo - 1]} {d}, {y}')}")
    elif style == 3:
        LINES.append(f"DOB {m('DOB', f'{y}-{mo:02d}-{d:02d}')}")
    elif style == 4:
        LINES.append(f"{m('DOB', f'{mo:02d}/{d:02d}/{y % 100:02d}')} is my birthday")
    elif style == 5:
        LINES.append(f"born on the {m('DOB', f'{ORD[d - 1]} of {MONTHS[mo - 1]} {y}')}")
    elif style == 6:
        LINES.append(f"um my birth date is {m('DOB', spoken_digits(f'{mo:02d}{d:02d}', oh=True) + ' ' + spoken_year(y))}")
    elif style == 7:
        LINES.append(f"date of birth {m('DOB', f'{d} {MONTHS[mo - 1]} {y}')}")
    else:
        LINES.append(f"it's {m('DOB', f'{MONTHS[mo - 1].lower()} {ORD[d - 1]} {spoken_year(y)}')}, that's my birthday")

# ---- other dates (20) -------------------------------------------------------------------
for i in range(20):
    _, mo, d = dob()
    style = i % 4
    if style == 0:
        LINES.append(f"I was admitted on {m('DATE', f'{MONTHS[mo - 1]} {ORD[d - 1]}')}")
    elif style == 1:
        LINES.append(f"my last visit was {m('DATE', f'{mo}/{d}/2025')}")
    elif style == 2:
        LINES.append(f"the surgery is on {m('DATE', f'{MONTHS[mo - 1]} {d}')}")
    else:
        LINES.append(f"discharged the {m('DATE', f'{ORD[d - 1]} of {MONTHS[mo - 1]}')} last year")

# ---- MRN (30) ----------------------------------------------------------------------------
for i in range(30):
    n = f"{rng.randrange(100000, 999999)}"
    style = i % 5
    if style == 0:
        LINES.append(f"my MRN is {m('MRN', 'MRN-' + n)}")
    elif style == 1:
        LINES.append(f"medical record number {m('MRN', n)}")
    elif style == 2:
        LINES.append(f"the chart number is {m('MRN', spoken_digits(n))}")
    elif style == 3:
        LINES.append(f"{m('MRN', 'MRN ' + n)} on the wristband")
    else:
        LINES.append(f"my medical record number is {m('MRN', spoken_digits(n, oh=True))}, I think")

# ---- member IDs (40) ---------------------------------------------------------------------
NATO = {"A": "alpha", "B": "bravo", "C": "charlie", "D": "delta", "Q": "quebec", "W": "whiskey",
        "X": "x-ray", "Y": "yankee", "Z": "zulu"}
APPLE = {"A": "A as in apple", "B": "B as in boy", "C": "C as in cat", "D": "D as in dog",
         "Q": "Q as in queen", "W": "W as in water", "X": "X as in x-ray", "Y": "Y as in yellow",
         "Z": "Z as in zebra"}
for i in range(40):
    mid = member()
    style = i % 8
    letters, digits = mid[:3], mid[3:]
    if style == 0:
        LINES.append(f"my member ID is {m('MEMBER_ID', mid)}")
    elif style == 1:
        LINES.append(f"member number {m('MEMBER_ID', ' '.join(letters) + ' ' + spoken_digits(digits))}")
    elif style == 2:
        LINES.append(f"policy number is {m('MEMBER_ID', ', '.join(APPLE[c] for c in letters) + ', ' + spoken_digits(digits))}")
    elif style == 3:
        LINES.append(f"the insurance ID on the card says {m('MEMBER_ID', ' '.join(NATO[c] for c in letters) + ' ' + ' '.join(digits))}")
    elif style == 4:
        LINES.append(f"{m('MEMBER_ID', mid.lower())} is my member ID")
    elif style == 5:
        LINES.append(f"subscriber ID {m('MEMBER_ID', letters + '-' + digits[:4] + '-' + digits[4:])}")
    elif style == 6:
        LINES.append(f"it's {m('MEMBER_ID', ' '.join(letters) + ' ' + spoken_digits(digits, oh=True))}, that's my member id")
    else:
        LINES.append(f"Medicaid number {m('MEMBER_ID', spoken_digits(digits) + ' ' + ' '.join(letters))}")

# ---- names (30) --------------------------------------------------------------------------
for i in range(30):
    n = name()
    style = i % 6
    if style == 0:
        LINES.append(f"my name is {m('NAME', n)}")
    elif style == 1:
        LINES.append(f"Hi, this is {m('NAME', n)} calling about my appointment")
    elif style == 2:
        LINES.append(f"I'm calling for my mother, {m('NAME', n)}.")
    elif style == 3:
        LINES.append(f"can I speak with Dr. {m('NAME', n.split()[1])}")
    elif style == 4:
        LINES.append(f"my name's {m('NAME', n.lower())}")
    else:
        LINES.append(f"Mrs. {m('NAME', n.split()[1])} told me to call")

# ---- addresses, ZIP, geography (25) ------------------------------------------------------
for i in range(25):
    style = i % 5
    num = rng.randrange(2, 9999)
    street = rng.choice(STREETS)
    z = f"{rng.randrange(10000, 99999)}"
    if style == 0:
        LINES.append(f"I live at {m('ADDRESS', f'{num} {street}')}")
    elif style == 1:
        LINES.append(f"send it to {m('ADDRESS', f'{num} {street}, Apt 4')}")
    elif style == 2:
        LINES.append(f"my zip code is {m('ZIP', z)}")
    elif style == 3:
        LINES.append(f"zip {m('ZIP', spoken_digits(z))}")
    else:
        LINES.append(f"I moved to {m('ADDRESS', rng.choice(CITIES))} last year")

# ---- email, url, ip, account, licence, vehicle, device, age (40) -------------------------
for i in range(40):
    style = i % 10
    first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower()
    if style == 0:
        LINES.append(f"email me at {m('EMAIL', f'{first}.{last}@example.com')}")
    elif style == 1:
        LINES.append(f"it's {m('EMAIL', f'{first} dot {last} at example dot com')}")
    elif style == 2:
        LINES.append(f"my blog is {m('URL', f'www.{first}{last}.example.org')}")
    elif style == 3:
        LINES.append(f"the portal showed {m('IP', f'10.{rng.randrange(255)}.{rng.randrange(255)}.{rng.randrange(255)}')} as my address")
    elif style == 4:
        LINES.append(f"account number {m('ACCOUNT', str(rng.randrange(10**9, 10**10)))}")
    elif style == 5:
        LINES.append(f"my driver's license number is {m('LICENSE', 'D' + str(rng.randrange(10**6, 10**7)))}")
    elif style == 6:
        LINES.append(f"the license plate is {m('VEHICLE', '7ABC' + str(rng.randrange(100, 999)))}")
    elif style == 7:
        LINES.append(f"pacemaker serial number {m('DEVICE', 'PM' + str(rng.randrange(10**7, 10**8)))}")
    elif style == 8:
        LINES.append(f"my father is {m('AGE', f'{rng.randrange(90, 104)} years old')}")
    else:
        LINES.append(f"my billing account is {m('ACCOUNT', spoken_digits(str(rng.randrange(10**7, 10**8))))}")

# ---- mixed lines (15) --------------------------------------------------------------------
for _ in range(15):
    n = name()
    y, mo, d = dob()
    p = phone()
    LINES.append(f"this is {m('NAME', n)}, born {m('DOB', f'{mo}/{d}/{y}')}, call me at "
                 f"{m('PHONE', f'{p[:3]}-{p[3:6]}-{p[6:]}')}")

# ---- hand-written, less regular lines (25) ----------------------------------------------
LINES += [
    "yeah so it's [[PHONE:five five five]], uh, [[PHONE:oh one four four]]... no wait",
    "the card says [[MEMBER_ID:ZZX-1234-5678]] under the name [[NAME:Testa Patientson]]",
    "I'm [[NAME:Fakey]], [[NAME:Fakey McSample]], born [[DOB:eleven twenty fifty five]]",
    "date of birth, [[DOB:November twentieth]], [[DOB:nineteen fifty five]]",
    "my grandmother is [[AGE:ninety three years old]] and lives with me",
    "we're at [[ADDRESS:1200 Birch Lane]], [[ADDRESS:Springfield]], [[ZIP:62704]]",
    "please write to [[ADDRESS:PO Box 442]]",
    "it's [[EMAIL:testa_p@example.net]]",
    "My SSN ends in... actually the whole thing is [[SSN:123 45 6789]]",
    "number is [[PHONE:555 0100]], extension 4",
    "and my social's [[SSN:one two three, four five, six seven eight nine]]",
    "the MRN on the letter was [[MRN:MRN900001]]",
    "he's my son [[NAME:Demo Userton]] and he's on my plan, ID [[MEMBER_ID:QQB987654321]]",
    "Policy: [[MEMBER_ID:W D 2 2 2 3 3 3 4 4 4]]",
    "went to [[URL:https://portal.example.org/login]] but it failed",
    "my phone died, use my wife's, [[PHONE:(555) 010-0126]]",
    "born in [[DOB:March of 1980]]",
    "I'm at [[ADDRESS:77 Cedar Drive]] apartment 2",
    "it was on [[DATE:12/24]] I think",
    "the VIN is [[VEHICLE:1HGBH41JXMN109186]]",
    "check the device, serial [[DEVICE:SN-88-1234-77]]",
    "[[NAME:Testa]] here, returning your call",
    "fax number is [[PHONE:555-010-0199]]",
    "account ending [[ACCOUNT:4 4 1 2]]",
    "my medicare number is [[MEMBER_ID:1EG4-TE5-MK72]]",
]

# ---- negatives (30) ----------------------------------------------------------------------
NEG = ["yes I'll be there", "can we do three thirty", "next Tuesday afternoon works",
       "I need to reschedule", "no thanks", "stop calling", "what time is my appointment",
       "I have a sore throat", "my knee hurts when I walk", "I take two pills a day",
       "about six hours a night", "I had the flu in 2019", "is there parking",
       "the first one please", "I'll be ten minutes late", "twenty twenty five was rough",
       "do you take Acme Health", "how much is a visit", "I'm feeling better",
       "the pharmacy closes at nine", "can I bring my son", "I drink about two glasses",
       "is the clinic open on Saturday", "quarter to four is fine", "I'd like the morning",
       "sure that works", "I forgot my card", "it was a long day", "okay thank you goodbye",
       "I'm driving right now"]
LINES += NEG

if __name__ == "__main__":
    out = Path(__file__).with_name("labelled.txt")
    out.write_text("# PHI marked [[LABEL:text]]; built by build_labelled.py\n"
                   + "\n".join(LINES) + "\n", encoding="utf-8")
    print(f"{len(LINES)} utterances -> {out}")
