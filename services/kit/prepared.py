"""Statements run on every request, compiled once per dialect. On SQLite they go to the
driver's cursor itself: SQLAlchemy's execution path costs several times the statement
(about 70 against 15 us of CPU per one-row insert, measured on the run store). On
PostgreSQL they run through SQLAlchemy as any other statement, so one definition still
serves both backends.

Only for statements whose result columns need no conversion from what the driver returns
(Text, Integer, Float on SQLite): compiling one that does raises at once. Parameter values
are converted as SQLAlchemy would (e.g. Float's), and literals written in the statement
(`status == 'queued'`, `LIMIT 1`) keep their values. An INSERT names the columns it
fills (`columns`); every call passes all of them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

Statement = sa.Select[Any] | sa.UpdateBase  # UpdateBase: INSERT, UPDATE and DELETE
Params = dict[str, Any]
Row = Sequence[Any]
__all__ = ["Prepared"]


class Prepared:
    def __init__(self, statement: Statement, columns: Sequence[str] = ()) -> None:
        self.statement = statement
        self.columns = list(columns)
        self._sqlite: _SqliteForm | None = None

    def execute(self, connection: sa.Connection, params: Params | list[Params]) -> None:
        """Run it for one set of parameters, or once per set of a list (executemany)."""
        driver = _sqlite_driver(connection)
        if driver is None:
            connection.execute(self.statement, params)
        elif isinstance(params, list):
            form = self._sqlite_form(connection.dialect)
            driver.executemany(form.sql, [form.values(one) for one in params])
        else:
            self._run_on(driver, connection.dialect, params)

    def rows(self, connection: sa.Connection, params: Params | None = None) -> list[Row]:
        driver = _sqlite_driver(connection)
        if driver is None:
            return list(connection.execute(self.statement, params).all())
        return self._run_on(driver, connection.dialect, params).fetchall()

    def scalar(self, connection: sa.Connection, params: Params | None = None) -> Any:
        """The first column of the first row, None without a row."""
        driver = _sqlite_driver(connection)
        if driver is None:
            return connection.execute(self.statement, params).scalar()
        row = self._run_on(driver, connection.dialect, params).fetchone()
        return None if row is None else row[0]

    def _run_on(
        self, driver: sqlite3.Connection, dialect: sa.Dialect, params: Params | None
    ) -> sqlite3.Cursor:
        form = self._sqlite_form(dialect)
        return driver.execute(form.sql, form.values(params or {}))

    def _sqlite_form(self, dialect: sa.Dialect) -> _SqliteForm:
        if self._sqlite is None:
            self._sqlite = _SqliteForm(self.statement, self.columns, dialect)
        return self._sqlite


class _SqliteForm:
    """The statement's SQL for sqlite3 (qmark parameters) and how to fill them."""

    def __init__(self, statement: Statement, columns: list[str], dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=columns or None)
        _check_results(statement, dialect)
        self.sql = compiled.string
        names = compiled.positiontup or []
        literals = compiled.params  # rendered name -> value given in the statement, or None
        converters: dict[str, Callable[[Any], Any]] = {}
        given = set()  # parameters the caller passes (the others are literals)
        for bind, name in compiled.bind_names.items():
            if bind.required:
                given.add(name)
            if bind.expanding or bind.literal_execute:
                raise ValueError(f"{name}: a list or literal parameter cannot be prepared")
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                converters[name] = convert
        self._fill = [
            (name, name in given, literals.get(name), converters.get(name)) for name in names
        ]

    def values(self, params: Params) -> list[Any]:
        values = []
        for name, required, literal, convert in self._fill:
            value = params[name] if required else literal
            values.append(value if convert is None or value is None else convert(value))
        return values


def _check_results(statement: Statement, dialect: sa.Dialect) -> None:
    if isinstance(statement, sa.Select):
        described = statement.column_descriptions
    else:
        described = statement.returning_column_descriptions
    for column in described:
        kind = column["type"]
        if kind.dialect_impl(dialect).result_processor(dialect, None) is not None:
            raise ValueError(f"{column['name']}: its values need conversion; not preparable")


def _sqlite_driver(connection: sa.Connection) -> sqlite3.Connection | None:
    driver = connection.connection.driver_connection
    return driver if isinstance(driver, sqlite3.Connection) else None
