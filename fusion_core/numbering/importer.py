"""Inventory imports: single and vanity numbers, ranges and CSV files, all-or-nothing.

Two passes. `validate_rows()` checks every row (phonenumbers, the import against itself, the
import against the platform's numbers and ranges) and answers a per-row report; it costs one
pass over the *rows*, never over the numbers a range holds. `execute()` then writes the
numbers in chunks (Core `insert()` executemany; COPY on PostgreSQL, same rows, same
transaction): a 1,000,000-number range is generated 10,000 numbers at a time and never held in
memory at once.

Audit: the numbers an import creates are not audited one by one (a million audit rows would
double the import's cost and say nothing more than "this import created these"). The import
record and each range are ORM objects, audited by the flush listener as usual, and the import
writes ONE extra audit entry (`record()`, action "import") with the count and the ranges.
Later changes to a number go through ORM objects and are audited per number.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from fusion_core.audit.recorder import record
from fusion_core.db import utcnow
from fusion_core.numbering.models import NUMBER_TYPES, NumberImport, NumberRange, PhoneNumber
from fusion_core.numbering.validation import NumberInvalid, check_number, check_range

CHUNK = 10_000
MAX_REPORT = 1_000
MAX_ROWS = 200_000
CSV_COLUMNS = ("number", "first", "last", "type", "vanity_class", "area", "notes")
MAX_VANITY = 50
MAX_NOTES = 2_000


@dataclass
class ImportPlan:
    """Validated rows ready to write, and the report of what is wrong (empty when valid)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    report: list[dict[str, Any]] = field(default_factory=list)
    problems: int = 0

    @property
    def valid(self) -> bool:
        return self.problems == 0

    @property
    def numbers(self) -> int:
        return sum(row["count"] for row in self.rows)

    @property
    def ranges(self) -> int:
        return sum(1 for row in self.rows if row["kind"] == "range")

    def problem(self, row: int, value: Any, field_: str, reason: str) -> None:
        self.problems += 1
        if len(self.report) < MAX_REPORT:
            self.report.append({"row": row, "value": value, "field": field_, "reason": reason})


# --- reading --------------------------------------------------------------------------------


def read_csv(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each data row; the header names the columns (CSV_COLUMNS)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if not header or unknown or not ({"number", "first"} & set(header)):
        raise NumberInvalid(
            "csv",
            f"the first line must name the columns, from: {', '.join(CSV_COLUMNS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            + "; with 'number', or 'first' and 'last'",
        )
    reader.fieldnames = header
    for row in reader:
        if None in row:
            yield reader.line_num, {"_extra": row.pop(None)}
            continue
        cleaned = {k: v.strip() for k, v in row.items() if v is not None and v.strip()}
        if cleaned:
            yield reader.line_num, cleaned


def numbered(rows: Iterable[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    return ((index, row) for index, row in enumerate(rows, start=1))


# --- validating -----------------------------------------------------------------------------


def _optional_text(plan, line, row, key, limit) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        plan.problem(line, value, key, f"must be text of at most {limit} characters")
        return None
    return value or None


def _check_row(plan: ImportPlan, line: int, row: dict[str, Any]) -> dict[str, Any] | None:
    if "_extra" in row:
        plan.problem(line, row["_extra"], "csv", "more values than the header has columns")
        return None
    unknown = sorted(set(row) - set(CSV_COLUMNS))
    if unknown:
        plan.problem(line, unknown, unknown[0], f"unknown field; use: {', '.join(CSV_COLUMNS)}")
        return None
    declared = row.get("type") or None
    if declared is not None and declared not in NUMBER_TYPES:
        plan.problem(line, declared, "type", f"unknown type; use one of: {', '.join(NUMBER_TYPES)}")
        return None
    problems = plan.problems
    vanity = _optional_text(plan, line, row, "vanity_class", MAX_VANITY)
    notes = _optional_text(plan, line, row, "notes", MAX_NOTES)
    area = _optional_text(plan, line, row, "area", 10)
    has_single, has_range = "number" in row, "first" in row or "last" in row
    if has_single == has_range:
        plan.problem(line, None, "number", "give either 'number', or 'first' and 'last'")
        return None
    try:
        if has_single:
            valid = check_number(row["number"], declared_type=declared)
            spec = {"kind": "number", "first": valid.e164, "last": valid.e164, "count": 1}
        else:
            if not row.get("first") or not row.get("last"):
                missing = "last" if row.get("first") else "first"
                plan.problem(line, None, missing, "a range needs both 'first' and 'last'")
                return None
            valid_range = check_range(row["first"], row["last"], declared_type=declared)
            valid = valid_range.first
            spec = {
                "kind": "range",
                "first": valid.e164,
                "last": valid_range.last.e164,
                "count": valid_range.count,
            }
    except NumberInvalid as exc:
        at_fault = exc.field in ("number", "first", "last")
        value = row.get(exc.field) if at_fault else row.get("number") or row.get("first")
        plan.problem(line, value, exc.field, exc.reason)
        return None
    if area is not None and valid.area is not None and area != valid.area:
        plan.problem(line, area, "area", f"the number's area code is {valid.area}")
        return None
    if plan.problems != problems:
        return None
    spec.update(
        row=line,
        country=valid.country,
        number_type=valid.number_type,
        area=area or valid.area,
        vanity_class=vanity,
        notes=notes,
    )
    return spec


def _overlaps_in_import(plan: ImportPlan, rows: list[dict[str, Any]]) -> None:
    """Rows of one import must not overlap each other (sorted sweep, per number length)."""
    ordered = sorted(rows, key=lambda r: (len(r["first"]), r["first"]))
    previous = None
    for row in ordered:
        if (
            previous is not None
            and len(previous["first"]) == len(row["first"])
            and row["first"] <= previous["last"]
        ):
            plan.problem(
                row["row"],
                row["first"],
                "number" if row["kind"] == "number" else "first",
                f"overlaps row {previous['row']} of this import ({_label(previous)})",
            )
        if (
            previous is None
            or len(previous["first"]) != len(row["first"])
            or (row["last"] > previous["last"])
        ):
            previous = row


def _label(row: dict[str, Any]) -> str:
    return row["first"] if row["kind"] == "number" else f"{row['first']}..{row['last']}"


def _overlaps_in_platform(session: Session, plan: ImportPlan, rows: list[dict[str, Any]]) -> None:
    singles = [row for row in rows if row["kind"] == "number"]
    for start in range(0, len(singles), 1000):
        chunk = {row["first"]: row for row in singles[start : start + 1000]}
        for e164 in session.scalars(select(PhoneNumber.e164).where(PhoneNumber.e164.in_(chunk))):
            plan.problem(chunk[e164]["row"], e164, "number", "already in the platform's inventory")
    for row in rows:
        if row["kind"] != "range":
            continue
        same_length = func.length(PhoneNumber.e164) == len(row["first"])
        taken = session.scalars(
            select(PhoneNumber.e164)
            .where(PhoneNumber.e164.between(row["first"], row["last"]), same_length)
            .order_by(PhoneNumber.e164)
            .limit(3)
        ).all()
        clash = session.scalars(
            select(NumberRange).where(
                NumberRange.first <= row["last"],
                NumberRange.last >= row["first"],
                func.length(NumberRange.first) == len(row["first"]),
            )
        ).first()
        if clash is not None:
            plan.problem(
                row["row"],
                _label(row),
                "first",
                f"overlaps the range {clash.first}..{clash.last} already in the platform",
            )
        elif taken:
            plan.problem(
                row["row"],
                _label(row),
                "first",
                f"overlaps numbers already in the platform: {', '.join(taken)}",
            )


def validate_rows(session: Session, rows: Iterable[tuple[int, dict[str, Any]]]) -> ImportPlan:
    plan = ImportPlan()
    checked = []
    for count, (line, row) in enumerate(rows, start=1):
        if count > MAX_ROWS:
            plan.problem(line, None, "rows", f"an import holds at most {MAX_ROWS} rows")
            break
        spec = _check_row(plan, line, row)
        if spec is not None:
            checked.append(spec)
    if not checked and not plan.problems:
        plan.problem(0, None, "rows", "nothing to import")
    _overlaps_in_import(plan, checked)
    if plan.valid:
        _overlaps_in_platform(session, plan, checked)
    plan.report.sort(key=lambda p: p["row"])
    if plan.valid:
        plan.rows = checked
    return plan


def preview(plan: ImportPlan, limit: int = 20) -> list[dict[str, Any]]:
    return [
        {k: row[k] for k in ("row", "kind", "first", "last", "count", "country", "number_type")}
        for row in plan.rows[:limit]
    ]


# --- writing --------------------------------------------------------------------------------


def _number_rows(
    row: dict[str, Any], owner: str, state: str, import_id, range_id, now
) -> Iterator[dict[str, Any]]:
    width = len(row["first"]) - 1
    base = int(row["first"][1:])
    for offset in range(row["count"]):
        yield {
            "id": uuid.uuid4(),
            "e164": f"+{base + offset:0{width}d}",
            "country": row["country"],
            "number_type": row["number_type"],
            "vanity_class": row["vanity_class"],
            "area": row["area"],
            "state": state,
            "notes": row["notes"] if row["kind"] == "number" else None,
            "org_path": owner,
            "range_id": range_id,
            "import_id": import_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }


def _chunks(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


COPY_COLUMNS = (
    "id",
    "e164",
    "country",
    "number_type",
    "vanity_class",
    "area",
    "state",
    "notes",
    "org_path",
    "range_id",
    "import_id",
    "version",
    "created_at",
    "updated_at",
)


def _copy_writer(session: Session) -> Callable[[list[dict[str, Any]]], None]:
    """PostgreSQL: write chunks with COPY on the session's own connection (same transaction),
    several times faster than INSERT for a million rows; rows are the same dicts."""
    driver = session.connection().connection.driver_connection
    statement = f"COPY numbers ({', '.join(COPY_COLUMNS)}) FROM STDIN"

    def write(chunk: list[dict[str, Any]]) -> None:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in chunk:
                copy.write_row([row[column] for column in COPY_COLUMNS])

    return write


def execute(
    session: Session, imp: NumberImport, progress: Callable[[int], None] | None = None
) -> None:
    """Write the import's validated rows in the caller's transaction (all or nothing)."""
    state = "available" if imp.publish else "imported"
    now = utcnow()
    table = PhoneNumber.__table__
    ranges = []

    def rows() -> Iterator[dict[str, Any]]:
        for row in imp.rows:
            range_id = None
            if row["kind"] == "range":
                block = NumberRange(
                    first=row["first"],
                    last=row["last"],
                    country=row["country"],
                    number_type=row["number_type"],
                    count=row["count"],
                    vanity_class=row["vanity_class"],
                    area=row["area"],
                    notes=row["notes"],
                    import_id=imp.id,
                    org_path=imp.org_path,
                )
                session.add(block)
                session.flush()  # the numbers refer to it
                ranges.append(f"{block.first}..{block.last}")
                range_id = block.id
            yield from _number_rows(row, imp.org_path, state, imp.id, range_id, now)

    session.flush()  # the import record, which the numbers refer to (COPY does not autoflush)
    write = _copy_writer(session) if session.get_bind().dialect.name == "postgresql" else None
    done = 0
    for chunk in _chunks(rows(), CHUNK):
        if write is not None:
            write(chunk)
        else:
            # audited once for the whole import by the record() below
            session.execute(insert(table).execution_options(fusion_audit="recorded"), chunk)
        done += len(chunk)
        if progress is not None:
            progress(done)
    imp.processed = done
    imp.created_numbers = done
    imp.created_ranges = len(ranges)
    imp.status = "completed"
    imp.finished_at = utcnow()
    imp.rows = []  # done with: the numbers and ranges now say it all
    session.flush()
    record(
        session,
        imp,
        "import",
        {"numbers": (None, done), "state": (None, state), "ranges": (None, ranges[:100])},
    )
