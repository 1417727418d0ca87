"""A minimal application for the two-node Kamailio test, hosted by real `carrier serve`.

Two gateway processes loading the voice agent would each start speech workers; what the
test checks (where calls land, who dials what) needs none of that, so each node hosts this
handler instead: it writes one line per call (node, direction, Call-ID, patient id; no PHI,
the patients are synthetic) to the file named by ``DEPLOY_NODE_LOG`` and ends the call.
"""
