"""A person's name as callers say it on the phone, or None. A wrong name is worse than
none (none asks again), so every reading that is not clear gives None.

The reply is read in four steps:

1. Words and pauses (:func:`_items`): a hyphenated surname stays one word
   ("Smith-Jones"), a name spelled out letter by letter ("T-E-S-T-A", "tee ee ess tee
   ay", "tango echo ...") becomes one spelled word.
2. Spellings (:func:`_spelled`): a spelled word confirms or corrects the spoken word it
   is close to ("Tessa Patientson, that's T E S T A" is Testa); a spelling that matches
   no spoken word leaves the reply unclear.
3. Whose name (:func:`_patient_part`): a caller calling for someone else ("this is Dale
   calling for my son Robin Sampleton", "her name is ...") gives the patient's name, the
   one after the relation; when that one is not said, no name.
4. Which part (:func:`_labelled`): "my last name is X, first name Y" is Y X; "my name is
   Y and my last name is X" is Y X; a last name alone is no name.
"""

from __future__ import annotations

import re
import unicodedata

from agent.grammar.normalize import FILLERS
from agent.grammar.phonetic import sounds_like
from carrier.edits import edit_distance

LETTER_WORDS: dict[str, str] = {
    "ay": "A", "bee": "B", "be": "B", "see": "C", "sea": "C", "cee": "C", "dee": "D", "ee": "E",
    "ef": "F", "eff": "F", "gee": "G", "aitch": "H", "eye": "I", "jay": "J", "kay": "K",
    "el": "L", "ell": "L", "em": "M", "en": "N", "pee": "P", "cue": "Q", "queue": "Q", "ar": "R",
    "are": "R", "ess": "S", "tee": "T", "tea": "T", "you": "U", "vee": "V", "ex": "X",
    "why": "Y", "zee": "Z", "zed": "Z",
}
NATO: dict[str, str] = {
    "alpha": "A", "alfa": "A", "bravo": "B", "charlie": "C", "delta": "D", "echo": "E",
    "foxtrot": "F", "golf": "G", "hotel": "H", "india": "I", "juliet": "J", "juliett": "J",
    "kilo": "K", "lima": "L", "mike": "M", "november": "N", "oscar": "O", "papa": "P",
    "quebec": "Q", "romeo": "R", "sierra": "S", "tango": "T", "uniform": "U", "victor": "V",
    "whiskey": "W", "xray": "X", "x-ray": "X", "yankee": "Y", "zulu": "Z",
}
# Letter words that are also everyday words ("thank you", "are you there") spell nothing.
_PLAIN_WORDS = frozenset({"you", "are", "be", "see", "why", "eye", "tea", "sea"})
NAME_PREFIXES = (
    "my name is", "my name's", "the name is", "name is", "this is", "it's", "its", "i'm", "im",
    "i am", "you're speaking with", "you are speaking with", "speaking with", "it is", "yes",
    "yeah", "sure", "hi", "hello", "hey", "hiya", "good morning", "good afternoon",
    "good evening", "yes hi", "yeah hi", "that's", "this",
)
# A title before a name: "Mrs. Patientson" alone is a last name, no full name.
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "doctor"})
_ABBREVIATIONS = _TITLES | {"jr", "sr", "st"}
_NOT_NAME = frozenset({"and", "birthday", "born", "date", "of", "birth", "is", "on",
                       "was", "speaking", "calling", "here", "yes", "please",
                       "thanks", "thank", "you", "hi", "hello", "hey", "name"})
# Left over once the greeting, "my name is" and what follows the name are taken off, these
# say the reply is about something else ("I see", "no idea", "my mother made the
# appointment"): no name, rather than the words around them read as one.
_LEFT_OVER = frozenset({"i", "no", "the", "my"})
# Words no name is made of: a reply that has one is about the question, not an answer
# to it ("I don't know", "why do you need that", "hold on", "never mind"). Closed classes
# (pronouns, question words, negation, articles, prepositions, auxiliaries, number words)
# and the verbs and nouns of not answering. Words that are also given names ("Will",
# "May", "Can", "Don", "Dot", "Hope") are not here.
_NEVER_IN_NAME = frozenset({
    "me", "myself", "you", "your", "yours", "we", "us", "our", "they", "them", "their",
    "he", "him", "his", "she", "her", "it", "its", "that", "this", "these", "those",
    "what", "why", "who", "whom", "whose", "how", "where", "when", "which",
    "not", "never", "nothing", "nobody", "a", "an", "to", "for", "with", "at", "in",
    "from", "by", "about", "into", "does", "did", "am", "are", "were", "be", "been",
    "have", "has", "had", "could", "would", "should", "shall", "might", "must",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "know", "need", "want", "think", "mean", "say", "tell", "hear", "catch", "understand",
    "repeat", "wait", "hold", "moment", "minute", "second", "sorry", "mind",
    # a part named without "name" ("last Patientson first Testa"), a pause said aloud
    "first", "last", "middle", "comma",
    # A Spanish reply reaches this parser as said when ``agent.grammar.es`` finds nothing
    # in it ("¿por qué?", "un momento", "espere").
    "que", "qué", "por", "porque", "un", "momento", "espere", "espera", "sé", "eso",
    "usted", "yo", "quien", "quién",
})
# "don't", "I'd", "you're", "we'll", "I've", "what's": a verb, not a name ("O'Brien" is).
_CONTRACTION = re.compile(r"(?:n't|'d|'ll|'re|'ve|'m|'s)$")
# Surname particles, kept in lower case inside a name when said so ("Testa de la Cruz").
_PARTICLES = frozenset({"de", "la", "del", "della", "di", "da", "du", "dos", "das", "van",
                        "von", "der", "den", "le", "ten", "ter", "bin", "ibn"})
_SUFFIXES = {"jr": "Jr.", "junior": "Jr.", "sr": "Sr.", "senior": "Sr.", "ii": "II",
             "iii": "III", "iv": "IV", "the second": "II", "the third": "III",
             "the fourth": "IV", "the 2nd": "II", "the 3rd": "III", "the 4th": "IV"}

_GREETING = re.compile(r"^\s*(?:(?:hi|hello|hey|hiya|yes|yeah|ok|okay|good (?:morning|afternoon|"
                       r"evening))\b[\s,.!]*)+", re.IGNORECASE)
_NAME_TAIL = re.compile(r"\s+(?:and|i'm|im|i am|i|i'd|id|calling|who|from|here|speaking|"
                        r"with|about|looking|need|needing|wanting|regarding|a new|new)\b.*$")
_INTRO = re.compile(r"\b(?:name|this is|it's|i'm|im|i am)\b")
_DOB = re.compile(r"\b(?:and )?(?:my )?(?:date of birth|birthday|dob|born)\b.*$")
# A nickname after the name: "Testa, but everyone calls me Tess", "you can call me Tess".
_NICKNAME = re.compile(r"(?:\bbut\b[ ,]*)?\b(?:(?:every(?:one|body)|people|friends|they|"
                       r"most people|you can|just|i|i just|we) )?"
                       r"(?:calls? me|go(?:es)? by|aka|a k a|also known as)\b.*$")
_MULTI_FILLERS = re.compile(r"\b(?:you know|let's see|lets see|let me see|let me think|"
                            r"i mean)\b", re.IGNORECASE)
_APOSTROPHES = str.maketrans("\u2019\u2018`", "'''")
_TOKEN = re.compile(r"[^\W\d_]+(?:['\-.][^\W\d_]+)*\.?|[,;:!?]|\.|\d+")


def name(text: str) -> str | None:
    """A person's name, title-cased ("my name is testa patientson" -> "Testa Patientson");
    for a caller calling for someone else, the patient's; None when not clear."""
    items, raw = _items(_GREETING.sub("", text))
    spelled = _spelled(items)
    if spelled is None:
        return None
    said = _patient_part(" ".join(spelled))
    words = None if said is None else _labelled(said)
    return " ".join(_cased(w, raw, i) for i, w in enumerate(words)) if words else None


# --- 1. words and pauses -------------------------------------------------------------

def _items(text: str) -> tuple[list[str], dict[str, str]]:
    """Lower-case words and "," pauses; a spelled run as "#letters"; the caller's own
    writing of each word (for capitals)."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    text = _MULTI_FILLERS.sub(" ", text)
    text = re.sub(r"\b([a-z])\s+(?:as|like)\s+in\s+[a-z]+\b", r"\1", text, flags=re.I)
    text = re.sub(r"\bx-ray\b", "xray", text, flags=re.I)
    out: list[str] = []
    raw: dict[str, str] = {}
    for tok in _TOKEN.findall(text):
        if tok[0].isdigit():
            continue
        if not tok[0].isalpha():
            out.append(",")
            continue
        base = tok.rstrip(".")
        low = base.lower()
        if "-" in base and all(len(p) == 1 for p in base.split("-")):
            out.extend(low.split("-"))  # "T-E-S-T-A": letters
        elif low not in FILLERS:
            out.append(low)
            raw.setdefault(low, base)
        if tok.endswith(".") and len(base) > 1 and low not in _ABBREVIATIONS:
            out.append(",")  # a full stop, not an abbreviation or an initial
    return _letter_runs(out), raw


def _letter(tok: str) -> str | None:
    if len(tok) == 1 and tok.isalpha():
        return tok
    if tok in NATO:
        return NATO[tok].lower()
    if tok in LETTER_WORDS and tok not in _PLAIN_WORDS:
        return LETTER_WORDS[tok].lower()
    return None


def _letter_runs(items: list[str]) -> list[str]:
    """Runs of letters said one by one become one "#word": two or more single letters
    ("J O"), or three or more letter words ("tee ee ess", "tango echo sierra"). Letters
    each said after a pause ("T, E, S, T, A") are one run too."""
    items = _unpaused(items)
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j < len(items) and _letter(items[j]) is not None:
            j += 1
        single = all(len(x) == 1 for x in items[i:j])
        if j - i >= 3 or (single and j - i >= 2):
            out.append("#" + "".join(_letter(x) or "" for x in items[i:j]))
            i = j
        else:
            out.append(items[i])
            i += 1
    return out


def _unpaused(items: list[str]) -> list[str]:
    """ "t , e , s , t , a" -> "t e s t a": three or more single letters between pauses."""
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while (j + 2 < len(items) and len(items[j]) == 1 and items[j + 1] == ","
               and len(items[j + 2]) == 1):
            j += 2
        if j - i >= 4:
            out.extend(items[i:j + 1:2])
            i = j + 1
        else:
            out.append(items[i])
            i += 1
    return out


# --- 2. spellings ----------------------------------------------------------------------

_SPELL_CUES = frozenset({"that's", "thats", "that", "is", "spelled", "spelt", "spelling",
                         "it's", "its", "it"})
_STANDS_AFTER = frozenset({"name", "is", "name's", "it's", "its", "i'm", "im", "am"})


def _close(spelled: str, said: str) -> bool:
    """A spelling of the spoken word, or a correction of how it was heard."""
    if not said or said.startswith("#") or said == "," or spelled[0] != said[0]:
        return False
    return sounds_like(spelled, said) or edit_distance(spelled, said) <= max(1, len(spelled) // 4)


def _spelled(items: list[str]) -> list[str] | None:
    """Each spelled word confirms or corrects the spoken word it is close to (the nearest
    before it first), or stands as the word where a name is due ("T E S T A" alone, "my
    first name is T E S T A"); a spelling of no word said leaves the reply unclear."""
    out = list(items)
    for k in [k for k, w in enumerate(items) if w.startswith("#")]:
        spelled = out[k][1:]
        before = [i for i in range(k - 1, -1, -1) if _close(spelled, out[i])]
        after = [i for i in range(k + 1, len(out)) if _close(spelled, out[i])]
        if before or after:
            target = (before or after)[0]
            out[target] = spelled if out[target] != spelled else out[target]
            out[k] = ""
            continue
        prev = [w for w in out[:k] if w not in ("", ",") and w not in _SPELL_CUES]
        if prev and prev[-1] not in _STANDS_AFTER and not prev[-1].startswith("#"):
            return None
        out[k] = "#" + spelled
    return _tidy(out)


def _tidy(out: list[str]) -> list[str]:
    """Drop the spellings used up, the cue before each ("that's") and the pauses around
    it; keep a spelled word that stands as a word."""
    kept: list[str] = []
    for i, w in enumerate(out):
        if w == "":
            while kept and (kept[-1] == "," or kept[-1] in _SPELL_CUES):
                kept.pop()
            continue
        if w == "," and (not kept or kept[-1] == "," or (i and out[i - 1] == "")):
            continue
        if w.startswith("#") and len(kept) > 1 and kept[-1] == "," and (
                kept[-2].startswith("#")):
            kept.pop()  # "J O, D E M O": one name, not "Demo, Jo"
        kept.append(w)
    while kept and kept[-1] == ",":
        kept.pop()
    return [w.lstrip("#") for w in kept]


# --- 3. whose name ---------------------------------------------------------------------

_RELATIONS = ("son|daughter|mother|mom|mum|mommy|father|dad|daddy|wife|husband|child|kid|"
              "baby|boy|girl|grandson|granddaughter|grandmother|grandma|grandfather|grandpa|"
              "brother|sister|aunt|uncle|nephew|niece|partner|spouse|fiance|fiancee|"
              "boyfriend|girlfriend|friend|neighbor|neighbour|client|stepson|stepdaughter|"
              "stepmother|stepfather|parent|grandchild|ward")
# Who the name after it belongs to is the patient: "for my son", "my mom's name is", "her
# name is", "the patient is", "on behalf of".
_FOR_PATIENT = re.compile(
    rf"\bmy (?:\w+ )?(?:{_RELATIONS})s?(?:'s)?\b|\bon behalf of\b|"
    r"\b(?:his|her|their) name(?:'s| is)?\b|\bthe patient(?:'s name)?(?:'s| is)\b|"
    r"\bpatient(?:'s)? name(?:'s| is)?\b|\bcalling (?:for|about)\b(?! (?:a|an|the|my|our|"
    r"some|help|info|information|appointments?|refills?|prescriptions?|results?|billing|"
    r"insurance|scheduling|questions?|registration|records|to|myself|me)\b)")
_INTRODUCER = re.compile(r"^(?:(?:'s )?name(?:'s| is)?|is named|is called|named|called|is)\b")
# The caller naming themself after the relation: "calling for my son, I'm Dale".
_SELF = re.compile(r"\b(?:i'm|im|i am|i|me|my name|this is)\b")


def _patient_part(said: str) -> str | None:
    """The part of the reply that names the patient: all of it, or for a caller calling
    for someone else what follows the last mention of that someone. None when the
    patient is named by no one but the caller ("Dale Testwood calling for my husband")."""
    found = list(_FOR_PATIENT.finditer(said))
    if not found:
        return said
    after = _INTRODUCER.sub("", said[found[-1].end():].strip(" ,")).strip(" ,")
    if not after or _SELF.search(after) or any(w in _NOT_NAME for w in after.split()):
        return None  # "my son is also here", "my son Robin is sick": no name said for them
    return after


# --- 4. which part ---------------------------------------------------------------------

_LABEL = re.compile(r"(?:\b(?:my|the|his|her|their|and) )?\b(first|given|christian|middle|last|"
                    r"family|sur) ?names?(?:'s| is| was)?\b")
_LABEL_AFTER = re.compile(r"\b([a-z'\-]+) is (?:my |the )?(first|given|middle|last|family|sur)"
                          r" ?name\b")
_PART = {"first": "first", "given": "first", "christian": "first", "middle": "middle",
         "last": "last", "family": "last", "sur": "last"}


def _labelled(said: str) -> list[str] | None:
    """The words of the name; each part read from after its label when the caller names
    the parts ("last name Patientson, first name Testa"). A last name with no first name
    is no name; two different first names are none either."""
    flipped = _SAID_LAST_FIRST.fullmatch(said.strip(" ,"))
    if flipped:
        return _plain(f"{flipped.group(2)} {flipped.group(1)}")
    said = _LABEL_AFTER.sub(r"\2 name \1 ,", said)
    labels = list(_LABEL.finditer(said))
    if not labels:
        return _plain(said)
    parts: dict[str, list[str]] = {}
    for k, m in enumerate(labels):
        end = labels[k + 1].start() if k + 1 < len(labels) else len(said)
        segment = re.split(r",| and\b", said[m.end():end])[0]
        words = _plain(segment)
        if words is None or _PART[m.group(1)] in parts:
            return None
        parts[_PART[m.group(1)]] = words
    lead = said[:labels[0].start()].strip(" ,")
    if lead and re.sub(r"\b(?:and|so|okay|ok|well)\b|,", "", lead).strip():
        full = _plain(lead)
        if full is None:
            return None
        return _joined(full, parts)
    return _joined([], parts)


def _joined(full: list[str], parts: dict[str, list[str]]) -> list[str] | None:
    first, last = parts.get("first", []), parts.get("last", [])
    if full and last and full[-len(last):] == last and len(full) > len(last):
        return full if not first or full[:len(first)] == first else None
    if full and first and full != first:
        return None
    first = first or full
    if not first:
        return None
    return first + parts.get("middle", []) + last


# Said after a name and a pause, these are no second name ("it's Testa, okay").
_ACKS = frozenset({"okay", "ok", "right", "thanks", "bye", "sir", "maam", "ma'am", "dear",
                   "honey", "yep", "yeah", "yes", "please", "hi", "hello"})


def _last_first(clause: list[str]) -> bool:
    """ "my name is Patientson , Testa": one word after the introduction, then after the
    pause one more (maybe with an initial): the last name said first (it was cut to
    "Patientson" alone and stored as the whole name)."""
    if len(clause) != 2 or not re.fullmatch(r"[a-z'\-]+(?: [a-z])?", clause[1]):
        return False
    word = clause[1].split()[0]
    if word in _ACKS or word in _NOT_NAME or word in _NEVER_IN_NAME or word in _LEFT_OVER:
        return False
    rest = clause[0][list(_INTRO.finditer(clause[0]))[-1].end():]
    return len(re.sub(r"^\s*(?:'s|is)\b", "", rest).split()) == 1


# "Patientson Testa, last name first": the two words the other way round.
_SAID_LAST_FIRST = re.compile(r"([a-z'\-]+) ([a-z'\-]+) ,? ?(?:that's |thats |it's |its )?"
                              r"(?:the )?(?:last|family|sur) ?name first")


def _after_intro(clause: str) -> str:
    """ "my name is testa" -> "testa": the words after the last introduction, so that "my
    name is Testa, Testa Patientson" is the full name said again (it was cut to "Testa")."""
    found = list(_INTRO.finditer(clause))
    rest = clause[found[-1].end():] if found else clause
    return re.sub(r"^\s*(?:'s|is)\b", "", rest).strip() or clause


def _plain(said: str) -> list[str] | None:
    """The name in a reply that does not label its parts: greetings, "my name is", a
    title, what follows the name ("..., I'm a new patient", "but everyone calls me
    Tess") and a repeat left out; None for a reply with a word no name has."""
    said = _DOB.sub("", _NICKNAME.sub("", said)).strip(" ,")
    clause = [c.strip() for c in said.split(",")]
    while len(clause) > 1 and all(w in _ACKS for w in clause[-1].split()):
        clause.pop()  # "Testa Patientson, okay"
    clause = [c for k, c in enumerate(clause)  # "Robin, Robin Sampleton": said again in full
              if not (k + 1 < len(clause) and clause[k + 1].startswith(_after_intro(c) + " "))]
    if len(clause) > 1 and _INTRO.search(clause[0]) and not _last_first(clause):
        clause = clause[:1]
    said = " , ".join(clause)
    said = _NAME_TAIL.sub("", said).strip(" ,")
    said = re.sub(r"(\S) (?:hyphen|dash) (\S)", r"\1-\2", said)
    changed = True
    while changed:
        changed = False
        for prefix in NAME_PREFIXES:
            if said.startswith(prefix + " ") or said.startswith(prefix + " , "):
                said = said[len(prefix) + 1:].strip(" ,")
                changed = True
    m = re.fullmatch(r"([a-z'\-]+) , ([a-z'\-]+(?: [a-z])?)", said)
    if m and m.group(2).split()[0] not in _ACKS:
        said = f"{m.group(2)} {m.group(1)}"  # "Patientson, Testa", "Patientson, Testa M."
    words = _with_suffix([w for w in said.split() if w != ","])
    if any(w in _NEVER_IN_NAME or w in _LEFT_OVER or _CONTRACTION.search(w) for w in words):
        return None
    while words and words[0] in _NOT_NAME:
        words = words[1:]
    while words and words[-1] in _NOT_NAME:
        words = words[:-1]
    if any(w in _NOT_NAME for w in words):
        return None  # "my son Robin is sick": a sentence, not a name
    words = _without_title(words)
    if not words:
        return None
    half = len(words) // 2
    if len(words) % 2 == 0 and words[:half] == words[half:]:
        words = words[:half]  # "Testa Patientson. Testa Patientson."
    named = [w for w in words if w not in _PARTICLES and w not in _SUFFIX_VALUES]
    return words if 1 <= len(named) <= 4 else None


_SUFFIX_VALUES = frozenset(_SUFFIXES.values())


def _with_suffix(words: list[str]) -> list[str]:
    """ "Testa Patientson the third" -> [testa, patientson, III]."""
    for said, suffix in _SUFFIXES.items():
        n = len(said.split())
        if len(words) >= n + 2 and words[-n:] == said.split():
            return [*words[:-n], suffix]
    return words


def _without_title(words: list[str]) -> list[str]:
    """A title is left out; a title and one word is a last name only, so no name."""
    if words and words[0] in _TITLES:
        return words[1:] if len(words) > 2 else []
    return words


def _cased(word: str, raw: dict[str, str], index: int) -> str:
    """Keep a caller's own capitals ("McSample"), else capitalise each part of the word
    ("Smith-Jones", "O'Examplar"); an initial gets its full stop ("J."); a particle said
    in lower case stays so inside a name ("de la Cruz")."""
    if word in _SUFFIX_VALUES:
        return word
    own = raw.get(word, word)
    if len(word) == 1:
        return word.upper() + "."
    if index and word in _PARTICLES and own == word:
        return word
    if own[0].isupper() and any(c.isupper() for c in own[1:]) and not own.isupper():
        return own
    cased = "-".join(p.capitalize() for p in word.split("-"))
    cased = re.sub(r"^(O'|Mc)([a-z])", lambda m: m.group(1) + m.group(2).upper(), cased)
    return re.sub(r"-(O'|Mc)([a-z])", lambda m: "-" + m.group(1) + m.group(2).upper(), cased)
