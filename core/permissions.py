"""Core's own permission: reading the audit trail (``core.AuditEvent``: the log and every object's History page)."""

# The broker admin's and finance's, not support's: the trail's diffs show partners' payout details in full.
VIEW_AUDIT_LOG = "core.view_auditevent"
