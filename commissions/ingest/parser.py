"""Streaming, vectorised validation of trade files (generic CSV, MT4 trades table, MT5 deals).

The file is read as bytes in blocks of whole lines (``block_bytes``, 256 KiB by default), never as a whole; memory
stays at a few blocks whatever the file size. Per block:

1. **Decoding.** The block is decoded as strict UTF-8. If that fails, lines are decoded one by one and each line
   with invalid bytes is rejected with the offending byte and column; the decoder resynchronises at every line
   break (a newline byte never occurs inside a UTF-8 sequence), so the good lines around it are kept. ``CRLF`` line
   ends are accepted. A UTF-8 byte-order mark before the header is ignored.
2. **Fast path.** One regular expression, built from the header by joining the format's field rules with commas
   (:mod:`commissions.ingest.formats`), is run over the whole block with ``re.findall`` — a C loop — and both
   accepts the well-formed unquoted lines and captures their time fields.
3. **Slow path.** Only lines the fast path refused are parsed properly (the ``csv`` module, one line each) and
   checked column by column with pandas (``Series.str.fullmatch`` per field, vectorised over those lines) to name
   every reason. A quoted but valid line is accepted here. Skip rules (MT4 ``cmd``, MT5 ``action``, MT4 open
   positions) are decided here, before validation, because such rows legitimately lack trade fields.
4. **Times.** The captured time fields of all accepted lines are parsed with ``pandas.to_datetime`` (vectorised):
   impossible dates (2024-02-30), local times that do not exist or are ambiguous in the import's time zone, and
   ``close < open`` are rejected.
5. **Payload.** The accepted lines, in file order, become the block's ``COPY … (FORMAT csv)`` payload: fast-path
   lines unchanged (when every line of a block is accepted, the block's original bytes are used as they are),
   slow-path lines re-written from their parsed fields with minimal quoting.

A record is one physical line: a newline inside quotes is not supported (no trade field can contain one) and such a
record is rejected line by line, with line numbers still exact. Blank lines are ignored and not counted. Line
numbers are 1-based with the header as line 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pandas as pd

from .formats import IGNORED, FormatSpec

# Small blocks keep PostgreSQL busy: while it parses one block (held in the socket buffer) the next is validated.
DEFAULT_BLOCK_BYTES = 256 << 10
_BOM = codecs.BOM_UTF8


class ImportFatalError(Exception):
    """The file cannot be imported at all (missing columns, no header): nothing is written."""


@dataclass(slots=True)
class Rejection:
    """A refused row: its 1-based line number and ``{field: reason}`` (``row`` for reasons about the whole line)."""

    line: int
    errors: dict[str, str]


@dataclass(slots=True)
class ParsedBlock:
    """The outcome of one block: the COPY payload of its accepted lines, and what happened to the others."""

    first_line: int
    rows: int = 0
    accepted: int = 0
    payload: bytes = b""
    rejections: list[Rejection] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def normalise_header_name(name: str) -> str:
    return name.strip().lower()


class TradeFileParser:
    """Validate a trade file of one format block by block; see the module docstring for the method.

    ``tz`` is the time zone of naive server times (MT4/MT5); generic files carry their own offsets (UTC if none).
    Call :meth:`read_header` first (it raises :class:`ImportFatalError`), then iterate :meth:`blocks`.
    """

    def __init__(
        self, spec: FormatSpec, stream: BinaryIO, *, tz: str = "UTC", block_bytes: int = DEFAULT_BLOCK_BYTES
    ) -> None:
        self.spec = spec
        self.stream = stream
        self.tz = tz
        self.block_bytes = block_bytes
        self.columns: list[str] = []
        self.copy_columns: list[str] = []
        self._carry = b""
        self._next_line = 2
        self._fast: re.Pattern[str] | None = None
        self._capture_index: dict[str, int] = {}

    # Header.

    def read_header(self) -> list[str]:
        """Read and check the header line; return the staging column names in file order (unused columns become
        ``_x<position>`` text columns so a line can be handed to COPY as it is)."""
        line = self._read_first_line()
        if line.startswith(_BOM):
            line = line[len(_BOM) :]
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            message = f"The header (line 1) is not valid UTF-8 ({exc.reason} at byte {exc.start})."
            raise ImportFatalError(message) from exc
        if not text.strip():
            raise ImportFatalError("The file is empty or its first line (the header) is blank.")
        try:
            names = next(csv.reader([text], strict=True))
        except csv.Error as exc:
            raise ImportFatalError(f"The header (line 1) is not valid CSV: {exc}.") from exc
        self.columns = [normalise_header_name(n) for n in names]
        known = {f.name for f in self.spec.fields}
        present = [c for c in self.columns if c in known]
        duplicated = sorted({c for c in present if present.count(c) > 1})
        if duplicated:
            raise ImportFatalError(f"The header names these columns more than once: {', '.join(duplicated)}.")
        missing = [name for name in self.spec.required if name not in self.columns]
        if missing:
            raise ImportFatalError(
                f"The header lacks required {self.spec.name} columns: {', '.join(missing)} "
                f"(found: {', '.join(names) or 'nothing'})."
            )
        self.copy_columns = [c if c in known else f"_x{i}" for i, c in enumerate(self.columns)]
        self._fast = self._build_fast_pattern()
        return self.copy_columns

    def _read_first_line(self) -> bytes:
        buffer = b""
        while b"\n" not in buffer:
            data = self.stream.read(64 * 1024)
            if not data:
                break
            buffer += data
        line, sep, rest = buffer.partition(b"\n")
        self._carry = rest if sep else b""
        return line

    def _build_fast_pattern(self) -> re.Pattern[str]:
        parts = []
        captured = [self.spec.times.open] + ([self.spec.times.close] if self.spec.times.close else [])
        for column in self.columns:
            spec_field = self.spec.field(column)
            if spec_field is None:
                parts.append(IGNORED)
                continue
            rule = spec_field.fast_rule or spec_field.rule
            if column in captured:
                self._capture_index[column] = len(self._capture_index)
                parts.append(f"({rule})")
            elif spec_field.blank_ok:
                parts.append(f"(?:{rule})?")
            else:
                parts.append(f"(?:{rule})")
        # Each line matches exactly one branch: the whole-line rule (captures non-empty: times are required), or the
        # catch-all that captures a refused line. ``$`` never matches inside a line, so findall yields one tuple per
        # line, blank lines included.
        return re.compile(r"^(?:" + ",".join(parts) + r")$|^(.*)$", re.MULTILINE)

    # Blocks.

    def blocks(self) -> Iterator[ParsedBlock]:
        if self._fast is None:
            raise RuntimeError("read_header() must be called first")
        while True:
            data = self.stream.read(self.block_bytes)
            if data:
                data = self._carry + data
                cut = data.rfind(b"\n")
                if cut < 0:
                    self._carry = data
                    continue
                chunk, self._carry = data[:cut], data[cut + 1 :]
            else:
                chunk, self._carry = self._carry, b""
                if not chunk:
                    return
            yield self._parse_chunk(chunk)
            if not data:
                return

    def _parse_chunk(self, chunk: bytes) -> ParsedBlock:
        block = ParsedBlock(first_line=self._next_line)
        pre_rejected: dict[int, Rejection] = {}
        try:
            text = chunk.decode("utf-8")
            raw_ok = True
        except UnicodeDecodeError:
            text, pre_rejected = self._decode_lines(chunk, block.first_line)
            raw_ok = False
        if "\r" in text:
            text = text.replace("\r\n", "\n")
            raw_ok = False
        lines_total = text.count("\n") + 1
        self._next_line += lines_total
        matches = self._fast.findall(text)
        if len(matches) != lines_total:  # cannot happen with this pattern; never let lines and numbers drift apart
            raise RuntimeError("line split mismatch in the fast path")
        columns = list(zip(*matches, strict=True))
        del matches
        fast_ok = np.fromiter(map(bool, columns[0]), dtype=bool, count=lines_total)
        refused = np.fromiter(map(bool, columns[-1]), dtype=bool, count=lines_total)
        if pre_rejected:
            refused[list(pre_rejected)] = False
        block.rejections.extend(pre_rejected.values())
        accepted_idx = np.flatnonzero(fast_ok)
        slow_idx = np.flatnonzero(refused)
        block.rows = len(accepted_idx) + len(slow_idx) + len(pre_rejected)

        all_fast = len(accepted_idx) == lines_total
        times: dict[str, np.ndarray] = {}
        for name, k in self._capture_index.items():
            values = np.asarray(columns[k], dtype=object)
            times[name] = values if all_fast else values[accepted_idx]
        del columns

        replaced: dict[int, str] = {}
        lines: list[str] | None = None
        if len(slow_idx):
            lines = text.split("\n")
            slow_ok = self._slow_path(block, [(int(i), lines[i]) for i in slow_idx])
            if slow_ok:
                extra_idx = np.array([i for i, _, _ in slow_ok], dtype=np.int64)
                for name in times:
                    position = self.columns.index(name)
                    extra = np.array([row[position] for _, row, _ in slow_ok], dtype=object)
                    times[name] = np.concatenate([times[name], extra])
                replaced = {i: line for i, _, line in slow_ok}
                accepted_idx = np.concatenate([accepted_idx, extra_idx])

        bad_time = self._check_times(block, accepted_idx, times)
        block.accepted = int(len(accepted_idx) - bad_time.sum())
        block.rejections.sort(key=lambda r: r.line)
        if raw_ok and block.accepted == lines_total:
            block.payload = chunk + b"\n"
        elif block.accepted:
            if lines is None:
                lines = text.split("\n")
            good = np.sort(accepted_idx[~bad_time])
            block.payload = ("\n".join([replaced.get(i, lines[i]) for i in good.tolist()]) + "\n").encode("utf-8")
        return block

    def _decode_lines(self, chunk: bytes, first_line: int) -> tuple[str, dict[int, Rejection]]:
        lines = chunk.split(b"\n")
        decoded: list[str] = []
        rejected: dict[int, Rejection] = {}
        for i, raw in enumerate(lines):
            try:
                decoded.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                decoded.append("")
                rejected[i] = Rejection(
                    first_line + i,
                    {"row": f"not valid UTF-8: byte 0x{raw[exc.start]:02X} at column {exc.start + 1} ({exc.reason})"},
                )
        return "\n".join(decoded), rejected

    # Slow path.

    def _slow_path(self, block: ParsedBlock, items: list[tuple[int, str]]) -> list[tuple[int, list[str], str]]:
        """Parse refused lines properly, decide skips, and name every reason; return the lines that are valid after
        all (quoted values) as ``(index, fields, line text for COPY)``."""
        width = len(self.columns)
        parsed: list[tuple[int, list[str]]] = []
        for i, line in items:
            line_no = block.first_line + i
            try:
                row = next(csv.reader([line], strict=True))
            except csv.Error as exc:
                block.rejections.append(Rejection(line_no, {"row": f"malformed CSV: {exc}"}))
                continue
            if len(row) != width:
                block.rejections.append(Rejection(line_no, {"row": f"expected {width} fields, found {len(row)}"}))
                continue
            parsed.append((i, row))
        if not parsed:
            return []
        frame = pd.DataFrame([row for _, row in parsed], columns=range(width), dtype=object)
        index = np.array([i for i, _ in parsed])
        keep = np.ones(len(parsed), dtype=bool)

        skip_reason = self._skip_reasons(frame)
        if skip_reason is not None:
            skipped = skip_reason.notna().to_numpy()
            block.skipped.update(skip_reason[skipped].tolist())
            keep &= ~skipped

        errors: dict[int, dict[str, str]] = {}
        for position, column in enumerate(self.columns):
            spec_field = self.spec.field(column)
            values = frame[position].astype(str)
            if spec_field is None:
                bad = values.str.contains("\x00", regex=False).to_numpy()
                message = "contains a NUL character"
            else:
                valid = values.str.fullmatch(spec_field.rule).to_numpy(dtype=bool)
                if spec_field.blank_ok:
                    valid = valid | (values == "").to_numpy(dtype=bool)
                bad = ~valid
                message = spec_field.message
            for k in np.flatnonzero(bad & keep):
                errors.setdefault(int(k), {})[column] = message
        for k, errs in errors.items():
            block.rejections.append(Rejection(block.first_line + int(index[k]), errs))
            keep[k] = False

        ok: list[tuple[int, list[str], str]] = []
        for k in np.flatnonzero(keep):
            i, row = parsed[k]
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow(row)
            ok.append((i, row, out.getvalue()))
        return ok

    def _skip_reasons(self, frame: pd.DataFrame) -> pd.Series | None:
        """Why each refused line is not a trade at all (``None`` where it is one), decided before validation."""
        spec = self.spec
        if spec.skip_code_field is None:
            return None
        codes = frame[self.columns.index(spec.skip_code_field)].astype(str)
        numeric = codes.str.fullmatch("[0-9]{1,9}").to_numpy(dtype=bool)
        code_values = pd.to_numeric(codes.where(numeric, None), errors="coerce")
        reason = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        is_trade = numeric & code_values.isin(list(spec.trade_codes)).to_numpy()
        not_trade = numeric & ~is_trade
        for code in pd.unique(code_values[not_trade]):
            name = spec.code_names.get(int(code), "unknown")
            reason[not_trade & (code_values == code).to_numpy()] = (
                f"{spec.skip_code_field} {int(code)} ({name}) is not a trade"
            )
        if spec.open_marker_field is not None:
            marker = frame[self.columns.index(spec.open_marker_field)].astype(str)
            still_open = marker.str.startswith("1970-01-01").to_numpy() & is_trade
            reason[still_open] = "open position (close time 1970-01-01)"
        return reason

    # Times.

    def _check_times(self, block: ParsedBlock, accepted_idx: np.ndarray, times: dict[str, np.ndarray]) -> np.ndarray:
        """Reject impossible or (in the import's zone) non-existent/ambiguous times, and close < open; return a mask
        of rejected positions in ``accepted_idx``. All time columns are parsed in one vectorised call."""
        count = len(accepted_idx)
        bad = np.zeros(count, dtype=bool)
        if not count:
            return bad
        spec = self.spec.times
        names = list(times)
        values = np.concatenate([times[name] for name in names]) if len(names) > 1 else times[names[0]]
        if spec.mode == "iso":
            when = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
            shifted = np.zeros(len(values), dtype=bool)
        else:
            when = pd.to_datetime(values, format="ISO8601", errors="coerce")
            invalid = np.asarray(when.isna())
            when = when.tz_localize(self.tz, ambiguous="NaT", nonexistent="NaT")
            shifted = np.asarray(when.isna()) & ~invalid
        instants = when.asi8  # NaT is the smallest int64
        missing = np.asarray(when.isna())
        errors: dict[int, dict[str, str]] = {}
        for position, name in enumerate(names):
            part = slice(position * count, (position + 1) * count)
            message = f"not a valid date/time ({self.spec.field(name).message})"
            for k in np.flatnonzero(missing[part]):
                errors.setdefault(int(k), {})[name] = (
                    f"this local time is ambiguous or does not exist in time zone {self.tz}"
                    if shifted[part][k]
                    else message
                )
        if spec.close is not None:
            opened = instants[names.index(spec.open) * count : (names.index(spec.open) + 1) * count]
            closed = instants[names.index(spec.close) * count : (names.index(spec.close) + 1) * count]
            for k in np.flatnonzero((closed < opened) & ~missing[:count] & ~missing[count:]):
                errors.setdefault(int(k), {})[spec.close] = f"before {spec.open}"
        for k, errs in errors.items():
            bad[k] = True
            block.rejections.append(Rejection(block.first_line + int(accepted_idx[k]), errs))
        return bad
