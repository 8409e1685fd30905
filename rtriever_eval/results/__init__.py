"""The results a job leaves on disk, and what everyone who reads them relies on: contract (where each file lives,
what it is called, the typed summary, the atomic writers and the checked readers) and fingerprint (what determined
a result's numbers, and how two differ). Stages read their inputs, reports and the gate read runs, through here.
"""
