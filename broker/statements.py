"""ORM statements compiled once and run again with new values: the endpoint's hot path.

Django compiles a queryset to SQL each time it runs it, and for a one-row lookup by an
index that costs ten times the statement itself (measured on SQLite: 340 µs for
`Queue.objects.filter(...).first()`, 33 µs for the same SQL and `Model.from_db`); a
one-row `bulk_create` costs 370 µs. The few statements every SDK call makes are built
here instead: a `Select` is an ordinary queryset, compiled on first use in each thread
(a compiler's converters belong to its thread's connection) and then run with new
values bound into the same SQL; `insert` writes unsaved instances as `bulk_create`
does (`pre_save`, `get_db_prep_save`, the new ids read back with RETURNING). Both make
the same rows and model instances as the ORM: only the compilation is skipped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Model

# Above this many bound values an insert goes through bulk_create, which splits it.
MAX_INSERT_PARAMS = 900


@dataclass(frozen=True)
class _Slot:
    name: str  # the keyword whose value is bound here


@dataclass
class _Compiled:
    sql: str
    params: list  # a _Slot for each value given per run, else the constant compiled in
    model: type[Model]
    attnames: list[str]
    converters: list[tuple[int, list, object]]


class Select:
    """A queryset of whole model rows, compiled once per thread.

    `build(**values)` makes the queryset; `samples` gives each keyword a value of its
    type, distinct from the others and from every constant in the query, so that its
    place among the compiled parameters can be found. Values are bound as given: pass
    what the field stores (ids and strings here), not model instances.
    """

    def __init__(self, build, **samples):
        self.build, self.samples = build, samples
        self._local = threading.local()

    def _compile(self) -> _Compiled:
        compiled = getattr(self._local, "compiled", None)
        if compiled is not None and compiled[0] is connection.connection:
            return compiled[1]
        queryset = self.build(**self.samples)
        compiler = queryset.query.get_compiler(using=DEFAULT_DB_ALIAS)
        sql, params = compiler.as_sql()
        slots, found = [], set()
        for value in params:
            names = [n for n, s in self.samples.items() if type(s) is type(value) and s == value]
            if len(names) > 1 or (names and names[0] in found):
                raise ValueError(f"sample value {value!r} is not unique in {sql}")
            if names:
                found.add(names[0])
                slots.append(_Slot(names[0]))
            else:
                slots.append(value)
        if found != set(self.samples):
            raise ValueError(f"samples {set(self.samples) - found} are not bound in {sql}")
        if compiler.klass_info is None or compiler.annotation_col_map:
            raise ValueError("a Select reads whole rows of one model")
        columns = [expression for expression, _sql, _alias in compiler.select]
        result = _Compiled(
            sql=sql,
            params=slots,
            model=compiler.klass_info["model"],
            attnames=[column.target.attname for column in columns],
            converters=[
                (i, convs, expression)
                for i, (convs, expression) in compiler.get_converters(columns).items()
            ],
        )
        # Compiled against this thread's connection: recompiled if it is replaced.
        self._local.compiled = (connection.connection, result)
        return result

    def all(self, **values) -> list:
        """The model instances the queryset would give for these values."""
        connection.ensure_connection()
        compiled = self._compile()
        params = [values[p.name] if isinstance(p, _Slot) else p for p in compiled.params]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        from_db, attnames = compiled.model.from_db, compiled.attnames
        out = []
        for row in rows:
            if compiled.converters:
                row = list(row)
                for i, convs, expression in compiled.converters:
                    value = row[i]
                    for convert in convs:
                        value = convert(value, expression, connection)
                    row[i] = value
            out.append(from_db(DEFAULT_DB_ALIAS, attnames, row))
        return out

    def first(self, **values):
        """The first instance, or None (the queryset should order and slice to one)."""
        rows = self.all(**values)
        return rows[0] if rows else None


_insert_sql: dict[tuple, str] = {}


def insert(objs: list[Model]) -> list[Model]:
    """INSERT unsaved instances of one model in one statement and set their ids, as
    `Model.objects.bulk_create(objs)` does; returns them."""
    if not objs:
        return objs
    model = type(objs[0])
    opts = model._meta
    fields = [f for f in opts.concrete_fields if f is not opts.pk]
    if len(objs) * len(fields) > MAX_INSERT_PARAMS:
        return model.objects.bulk_create(objs)
    key = (model, len(objs), connection.vendor)
    sql = _insert_sql.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = _insert_sql[key] = (
            f"INSERT INTO {quote(opts.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES {', '.join([row] * len(objs))} RETURNING {quote(opts.pk.column)}"
        )
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = cursor.fetchall()
    for obj, (pk,) in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = DEFAULT_DB_ALIAS
    return objs
