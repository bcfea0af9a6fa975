"""Names shared by every app: the one rule a trade server's name meets, wherever it is written or read.

A server name is what the trade feed accepts (``commissions.ingest.formats``, whose file rules are built from the
same pieces): 1–64 characters, no comma, double quote, backslash, line break or other control character, no blank at
either end. Accounts, trades, rebates' account keys, MAM and the ``server`` filters all check it with
``server_name_error``, so an account the API accepts is one the feed can post trades for. A ``/`` is allowed (the
feed always took it): the routes that address an account or a trade by server take it as ``<path:server>``, so the
name must survive as a path — no ``/`` at either end, no ``//``, no ``.`` or ``..`` segment.
"""

from __future__ import annotations

import re
import unicodedata

# A text value: no separators, quotes, backslashes or control characters, and no blank at either end.
TEXT_INNER = r'[^,"\\\x00-\x1f\x7f]'
TEXT_EDGE = r'[^\s,"\\\x00-\x1f\x7f]'


def text_rule(max_length: int) -> str:
    """A regular expression fully matching such a text of 1 to ``max_length`` characters."""
    return rf"{TEXT_EDGE}(?:{TEXT_INNER}{{0,{max_length - 2}}}{TEXT_EDGE})?"


SERVER_MAX_LENGTH = 64

# A login or a ticket (a trade's, a MAM master's) is a whole number of at most 18 digits, the trade feed's rule
# (``commissions.ingest.formats``): every door that takes one (the trade push, accounts, MAM, rebates, filters)
# refuses a larger one and the schema documents this maximum, so an account the API accepts is one whose trades
# can be pushed (a bigint would take 19 digits).
KEY_DIGITS = 18
MAX_LOGIN = MAX_TICKET = 10**KEY_DIGITS - 1
# A path segment of the routes that address an account or a trade: no "/" at either end, no "//", and no "." or
# ".." between slashes (a client, a proxy or the URL standard itself removes those dot segments, so such an account
# could not be addressed).
# The lookahead stays inside the value (no comma or line break: the trade feed embeds the rule in its whole-line
# pattern, where the value ends at a comma or the line's end).
_PATH_SEGMENTS = r"(?!/|[^,\n]*/(?:,|$)|[^,\n]*//|(?:[^,\n]*/)?\.\.?(?:/|,|$))"
SERVER_RULE = _PATH_SEGMENTS + text_rule(SERVER_MAX_LENGTH)
_SERVER = re.compile(SERVER_RULE)
SERVER_MESSAGE = (
    f"A server name is 1 to {SERVER_MAX_LENGTH} characters, without commas, quotes, backslashes, control "
    'characters or blanks at either end, and, as a path, without "/" at either end, "//", or "." or ".." between '
    "slashes."
)


def server_name_error(value: object) -> str | None:
    """Why ``value`` is no server name; None when it is one."""
    if not isinstance(value, str) or not _SERVER.fullmatch(value):
        return SERVER_MESSAGE
    return None


LINE_TEXT_MESSAGE = (
    "One line of text: no line breaks, tabs, other control characters or invisible format characters (zero-width "
    "spaces, direction overrides), and no blanks at either end."
)
# Control characters (line breaks, CR, tabs, NUL, DEL, C1), line and paragraph separators, and format characters
# (Cf: U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE, U+FEFF): the last make a bank file or an export show
# another account than the one stored.
_NOT_IN_A_LINE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def line_text_error(value: object) -> str | None:
    """Why ``value`` is not one line of free text (a payout account or method, which end up in exports and on bank
    files); None when it is one. Commas and quotes are allowed (an export writes them quoted); blank is allowed
    (whether the field may be blank is the field's business)."""
    if not isinstance(value, str):
        return LINE_TEXT_MESSAGE
    if value and (
        value[0].isspace() or value[-1].isspace() or any(unicodedata.category(c) in _NOT_IN_A_LINE for c in value)
    ):
        return LINE_TEXT_MESSAGE
    return None
