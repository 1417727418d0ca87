"""Common English words that are not taken for names unless the patient is known by them.

Sentence case and ASR capitalisation make "Stop calling me" look like "<Name> calling me",
so capitalisation is no evidence of a name. A word in this list is a name only when the
patient's own known names contain it (checked without regard to case by the caller), or
after a strong lead ("my name is ..."). Words that are also common given names (Will, Mark,
Grace, Hope, June ...) are deliberately left out, so they keep being redacted. So are the
months that are given names (April, May, June, July, August); the weekdays and the other
months are here: the agent's "on Tuesday, December 8" was stored as "on [NAME], [DATE]" for
the demo patient Testa, whose name "Tuesday" sounds like (``agent.redaction.sound_alike``).
"""

from __future__ import annotations

_WORDS = """
a about above across after again against ahead all almost alone along already also always am
an and another any anybody anymore anyone anything anyway anywhere are around as ask asked
asking at away back bad be because been before behind being below besides best better between
both bring but by call called caller calling calls came can cancel cancelled cannot cant care
careful certainly change check clear come comes coming confirm confirmed could couldn course
day days definitely did didn different do does doesn doing don done down during each early
easy either else enough even ever every everybody everyone everything exactly excuse far few
fine finally first for forget forgot found from further get gets getting give go goes going
gone good goodbye got great had happen happy hard has hasn have haven having hear heard hello
help her here hers herself hey hi him himself his hold home honestly how however i if in
indeed instead into is isn it its itself just keep kind know known last later leave left less
let lets list listen little long look looking lot maybe me mean meant mine more morning most
much must my myself need needs never new next nice no nobody none nope not nothing now number
of off often oh ok okay on once one only onto or other others otherwise our ours out over
own perhaps phone please plenty pretty probably put quick quickly quit quite rather
really remind remove removed report right said same say saying says see seem sent should
since so some somebody someone something sometimes soon sorry speak start still stop stopped
stopping such sure take talk tell than thank thanks that the their them then there these
they thing things think this those though through thus till to today together told tomorrow
too try trying twice under unless unsubscribe until up upon us very wait want wanted wants
was wasn way we well went were what whatever when where whether which while who whoever
whole why with within without won wonder would wouldn wrong yeah yep yes yesterday yet you
your yours yourself
mom mum dad mother father son daughter husband wife brother sister grandma grandpa aunt uncle
friend neighbor neighbour caregiver
doctor nurse clinic office front desk appointment appointments pharmacy insurance
honest sir madam ma'am hmm uh um
monday tuesday wednesday thursday friday saturday sunday weekday weekend
january february march september october november december
"""

COMMON_WORDS: frozenset[str] = frozenset(_WORDS.split())


def is_common_word(word: str) -> bool:
    """True when ``word`` (any case) is a common English word rather than a name."""
    return word.lower().strip("'") in COMMON_WORDS
