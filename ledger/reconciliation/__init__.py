"""Reconciliation of a period (issue 11): a registry of read-only checks (``registry``), the lines-vs-postings
comparison run kinds share (``payables``), the ledger's own checks (``ledger_checks``) and the CSV form of a result
(``export``)."""
