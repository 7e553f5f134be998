"""Segmint's driver compatibility checks for the Python clients.

Run by the Rust integration test `compat` against a real Segmint demo server:

    python compat.py CLIENT --host 127.0.0.1 --port 5433 [--odbc-driver PATH]

CLIENT is one of psycopg, asyncpg, sqlalchemy, pyodbc, pgcli. Every check is one named
operation; each prints one line `RESULT<TAB>client<TAB>operation<TAB>ok|fail<TAB>detail`, and
the process exits 1 when any failed. The checks assert real values: the demo tables and
their column types, a parameterised RFM query equal to the same query with a literal, and
the SQLSTATE of errors.
"""

import argparse
import asyncio
import csv
import datetime
import decimal
import io
import sys
import traceback
import uuid

AS_OF = datetime.date(2026, 11, 1)
TABLES = {"customers", "orders", "order_items", "products", "events", "reviews",
          "support_tickets", "nps_responses"}
VIEWS = {"customer_360", "completed_orders"}
# orders' columns and their PostgreSQL types, in order.
ORDERS_COLUMNS = [
    ("order_id", "bigint"), ("customer_id", "bigint"),
    ("order_ts", "timestamp with time zone"), ("channel", "text"),
    ("gross_amount", "numeric"), ("discount_amount", "numeric"), ("net_amount", "numeric"),
    ("status", "text"), ("item_count", "integer"), ("order_month", "text"),
]
SEGMENT_SQL = "SELECT segment, count(*) FROM rfm('orders', {}) GROUP BY 1 ORDER BY 1"
LITERAL_SEGMENTS = SEGMENT_SQL.format("DATE '2026-11-01'")

checks = []


def check(operation):
    def register(fn):
        checks.append((operation, fn))
        return fn
    return register


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_eq(actual, expected, what):
    expect(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def as_pairs(rows):
    return [(str(r[0]), int(r[1])) for r in rows]


# ---------------------------------------------------------------- psycopg 3
class Psycopg:
    name = "psycopg"

    def __init__(self, args):
        import psycopg
        self.psycopg = psycopg
        self.dsn = f"host={args.host} port={args.port} dbname=segmint user=analyst sslmode=disable"

    def connect(self, **kw):
        return self.psycopg.connect(self.dsn, **kw)

    @check("connect")
    def connect_check(self):
        with self.connect() as conn:
            expect(conn.info.server_version >= 150000, f"server_version {conn.info.server_version}")
            version = conn.execute("SELECT version()").fetchone()[0]
            expect(version.startswith("PostgreSQL 15"), version)

    @check("list tables")
    def tables(self):
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_schema = 'public'").fetchall()
            kinds = dict(rows)
            expect(TABLES <= set(kinds), f"tables {sorted(kinds)}")
            for v in VIEWS:
                expect_eq(kinds.get(v), "VIEW", f"{v} table_type")
            expect_eq(kinds["orders"], "BASE TABLE", "orders table_type")

    @check("list columns")
    def columns(self):
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT column_name, data_type, ordinal_position FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                ("orders",)).fetchall()
            expect_eq([(r[0], r[1]) for r in rows], ORDERS_COLUMNS, "orders columns")
            expect_eq([r[2] for r in rows], list(range(1, len(ORDERS_COLUMNS) + 1)), "positions")

    @check("parameterised query")
    def parameterised(self):
        with self.connect() as conn:
            literal = as_pairs(conn.execute(LITERAL_SEGMENTS).fetchall())
            expect(len(literal) >= 5, f"segments {literal}")
            rows = conn.execute(SEGMENT_SQL.format("%s"), (AS_OF,)).fetchall()
            expect_eq(as_pairs(rows), literal, "segments with a date parameter")
            cur = conn.execute(
                "SELECT count(*), sum(net_amount) FROM orders WHERE order_ts >= %s AND channel = %s",
                (datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc), "app"))
            count, total = cur.fetchone()
            expect(count > 0 and isinstance(total, decimal.Decimal), f"{count} {total!r}")

    @check("binary results")
    def binary(self):
        with self.connect() as conn:
            cur = conn.cursor(binary=True)
            cur.execute(
                "SELECT order_id, order_ts, net_amount, item_count, channel FROM orders "
                "WHERE customer_id = %s ORDER BY order_id LIMIT 3", (1,))
            rows = cur.fetchall()
            text = conn.execute(
                "SELECT order_id, order_ts, net_amount, item_count, channel FROM orders "
                "WHERE customer_id = 1 ORDER BY order_id LIMIT 3").fetchall()
            expect(rows, "no orders for customer 1")
            expect_eq(rows, text, "binary rows equal text rows")
            expect(isinstance(rows[0][2], decimal.Decimal) and rows[0][2].as_tuple().exponent == -2,
                   f"numeric(12,2) keeps its scale: {rows[0][2]!r}")

    @check("types")
    def types(self):
        with self.connect() as conn:
            sql = ("SELECT %s::smallint, %s::int, %s::bigint, %s::real, %s::double precision, "
                   "%s::numeric, %s::text, %s::varchar, %s::bool, %s::date, %s::time, "
                   "%s::timestamp, %s::timestamptz, %s::interval, %s::bytea, %s::uuid, "
                   "%s::text[], %s::int[], NULL::int, '{\"a\": [1, 2]}'::jsonb")
            values = (1, 2, 3, 1.5, 2.25, decimal.Decimal("12.50"), "a'b", "v", True,
                      datetime.date(2025, 3, 1), datetime.time(12, 30, 15),
                      datetime.datetime(2025, 3, 1, 10, 0),
                      datetime.datetime(2025, 3, 1, 10, 0, tzinfo=datetime.timezone.utc),
                      datetime.timedelta(days=2, hours=3), b"\x00\x01", str(uuid.UUID(int=7)),
                      ["vip", "sms"], [1, 2])
            for binary in (False, True):
                cur = conn.cursor(binary=binary)
                row = cur.execute(sql, values).fetchone()
                # uuid and jsonb values travel as their text form (wire type text).
                expected = list(values) + [None, '{"a": [1, 2]}']
                expect_eq(list(row), expected, f"types (binary={binary})")

    @check("errors")
    def errors(self):
        with self.connect(autocommit=True) as conn:
            try:
                conn.execute("SELECT * FROM no_such_table")
                raise AssertionError("no error")
            except self.psycopg.errors.UndefinedTable:
                pass
            expect_eq(conn.execute("SELECT 1").fetchone()[0], 1, "usable after error")

    @check("transactions")
    def transactions(self):
        with self.connect() as conn:
            with conn.transaction():
                with conn.transaction():  # a SAVEPOINT
                    conn.execute("SELECT 1")
            conn.execute("SET TRANSACTION READ ONLY")
            conn.rollback()
        # With autocommit off an error fails the transaction, as on PostgreSQL: the next
        # statement is refused (25P02) until rollback; a savepoint block recovers it.
        TS = self.psycopg.pq.TransactionStatus
        with self.connect() as conn:
            try:
                conn.execute("SELECT * FROM no_such_table")
                raise AssertionError("no error")
            except self.psycopg.errors.UndefinedTable:
                pass
            expect_eq(conn.info.transaction_status, TS.INERROR, "status after an error")
            try:
                conn.execute("SELECT 1")
                raise AssertionError("a statement ran in a failed transaction")
            except self.psycopg.errors.InFailedSqlTransaction:
                pass
            conn.rollback()
            expect_eq(conn.execute("SELECT 1").fetchone()[0], 1, "usable after rollback")
            with conn.transaction():
                try:
                    with conn.transaction():  # SAVEPOINT ... ROLLBACK TO SAVEPOINT
                        conn.execute("SELECT * FROM no_such_table")
                except self.psycopg.errors.UndefinedTable:
                    pass
                expect_eq(conn.info.transaction_status, TS.INTRANS, "status after ROLLBACK TO")
                expect_eq(conn.execute("SELECT 2").fetchone()[0], 2, "recovered by the savepoint")
            conn.rollback()
            cur = conn.execute("SELECT 1")
            try:
                conn.execute("SELECT * FROM no_such_table")
            except self.psycopg.errors.UndefinedTable:
                pass
            cur.execute("COMMIT")
            expect_eq(cur.statusmessage, "ROLLBACK", "COMMIT of a failed transaction")
            expect_eq(conn.info.transaction_status, TS.IDLE, "status after COMMIT")

    @check("server-side cursor")
    def named_cursor(self):
        with self.connect() as conn:
            with conn.cursor(name="segment_cursor") as cur:
                cur.itersize = 500
                cur.execute("SELECT customer_id FROM customers WHERE city_tier = %s ORDER BY 1",
                            (1,))
                first = cur.fetchmany(10)
                rest = cur.fetchall()
            total = conn.execute("SELECT count(*) FROM customers WHERE city_tier = 1").fetchone()[0]
            expect_eq(len(first) + len(rest), total, "rows through the cursor")
            expect(first == sorted(first), "ordered")

    @check("copy export")
    def copy(self):
        with self.connect() as conn:
            out = io.StringIO()
            with conn.cursor().copy(
                    "COPY (SELECT segment, count(*) AS customers FROM rfm('orders', DATE '2026-11-01') "
                    "GROUP BY 1 ORDER BY 1) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                for data in copy:
                    out.write(bytes(data).decode())
            rows = list(csv.reader(io.StringIO(out.getvalue())))
            expect_eq(rows[0], ["segment", "customers"], "header")
            literal = as_pairs(conn.execute(LITERAL_SEGMENTS).fetchall())
            expect_eq([(r[0], int(r[1])) for r in rows[1:]], literal, "exported rows")


# ---------------------------------------------------------------- asyncpg
class Asyncpg:
    name = "asyncpg"

    def __init__(self, args):
        import asyncpg
        self.asyncpg = asyncpg
        self.args = args

    def run(self, fn):
        async def go():
            conn = await self.asyncpg.connect(host=self.args.host, port=self.args.port,
                                              user="analyst", database="segmint", ssl=False)
            try:
                return await fn(conn)
            finally:
                await conn.close()
        return asyncio.run(go())

    @check("connect")
    def connect_check(self):
        async def fn(conn):
            expect(conn.get_server_version().major == 15, str(conn.get_server_version()))
        self.run(fn)

    @check("list tables")
    def tables(self):
        async def fn(conn):
            rows = await conn.fetch(
                "SELECT c.relname, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = $1", "public")
            kinds = {r["relname"]: r["relkind"] for r in rows}
            expect(TABLES <= set(kinds), f"tables {sorted(kinds)}")
            for v in VIEWS:
                expect_eq(kinds.get(v), "v", f"{v} relkind")
        self.run(fn)

    @check("list columns")
    def columns(self):
        async def fn(conn):
            stmt = await conn.prepare("SELECT * FROM orders LIMIT 0")
            got = [(a.name, a.type.name) for a in stmt.get_attributes()]
            expect_eq(got, [("order_id", "int8"), ("customer_id", "int8"),
                            ("order_ts", "timestamptz"), ("channel", "text"),
                            ("gross_amount", "numeric"), ("discount_amount", "numeric"),
                            ("net_amount", "numeric"), ("status", "text"),
                            ("item_count", "int4"), ("order_month", "text")], "orders attributes")
        self.run(fn)

    @check("parameterised query")
    def parameterised(self):
        async def fn(conn):
            literal = as_pairs(await conn.fetch(LITERAL_SEGMENTS))
            stmt = await conn.prepare(SEGMENT_SQL.format("$1"))
            expect_eq([t.name for t in stmt.get_parameters()], ["date"], "parameter types")
            expect_eq(as_pairs(await stmt.fetch(AS_OF)), literal, "segments with a date parameter")
            expect_eq(as_pairs(await stmt.fetch(AS_OF)), literal, "second execution")
            n = await conn.fetchval("SELECT count(*) FROM orders WHERE item_count >= $1", 2)
            expect(n > 0, "count")
        self.run(fn)

    @check("types")
    def types(self):
        async def fn(conn):
            row = await conn.fetchrow(
                "SELECT $1::smallint, $2::int, $3::bigint, $4::double precision, $5::numeric, "
                "$6::text, $7::bool, $8::date, $9::timestamp, $10::timestamptz, $11::text[], "
                "$12::interval, $13::uuid, $14::bytea, NULL::text",
                1, 2, 3, 2.5, decimal.Decimal("3.25"), "x", False, AS_OF,
                datetime.datetime(2025, 3, 1, 10, 0),
                datetime.datetime(2025, 3, 1, 10, 0, tzinfo=datetime.timezone.utc),
                ["a", "b"], datetime.timedelta(days=1), str(uuid.UUID(int=5)), b"\x01")
            expect_eq(list(row), [1, 2, 3, 2.5, decimal.Decimal("3.25"), "x", False, AS_OF,
                                  datetime.datetime(2025, 3, 1, 10, 0),
                                  datetime.datetime(2025, 3, 1, 10, 0, tzinfo=datetime.timezone.utc),
                                  ["a", "b"], datetime.timedelta(days=1), str(uuid.UUID(int=5)), b"\x01",
                                  None], "binary round trip")
        self.run(fn)

    @check("cursor")
    def cursor(self):
        async def fn(conn):
            total = await conn.fetchval("SELECT count(*) FROM customers")
            seen = 0
            async with conn.transaction():
                async for _ in conn.cursor("SELECT customer_id FROM customers", prefetch=700):
                    seen += 1
            expect_eq(seen, total, "rows through the cursor")
        self.run(fn)

    @check("copy export")
    def copy(self):
        async def fn(conn):
            out = io.BytesIO()
            await conn.copy_from_query(
                "SELECT segment, count(*) AS customers FROM rfm('orders', DATE '2026-11-01') "
                "GROUP BY 1 ORDER BY 1", output=out, format="csv", header=True)
            rows = list(csv.reader(io.StringIO(out.getvalue().decode())))
            expect_eq(rows[0], ["segment", "customers"], "header")
            expect(len(rows) > 5, f"{rows}")
        self.run(fn)

    @check("errors")
    def errors(self):
        async def fn(conn):
            try:
                await conn.fetch("SELECT * FROM no_such_table")
                raise AssertionError("no error")
            except self.asyncpg.exceptions.UndefinedTableError:
                pass
            expect_eq(await conn.fetchval("SELECT 1"), 1, "usable after error")
        self.run(fn)


# ---------------------------------------------------------------- SQLAlchemy 2 + pandas
class Sqlalchemy:
    name = "sqlalchemy"

    def __init__(self, args):
        import sqlalchemy
        self.sa = sqlalchemy
        self.url = f"postgresql+psycopg://analyst@{args.host}:{args.port}/segmint"

    def engine(self, url=None):
        return self.sa.create_engine(url or self.url)

    @check("connect")
    def connect_check(self):
        with self.engine().connect() as conn:
            expect_eq(conn.execute(self.sa.text("SELECT 1")).scalar(), 1, "select 1")
            expect(conn.dialect.server_version_info[0] == 15, str(conn.dialect.server_version_info))

    @check("inspector tables and views")
    def tables(self):
        inspector = self.sa.inspect(self.engine())
        expect("public" in inspector.get_schema_names(), "public schema")
        tables = set(inspector.get_table_names())
        expect(TABLES <= tables, f"tables {sorted(tables)}")
        expect(not (VIEWS & tables), f"views listed as tables: {sorted(VIEWS & tables)}")
        views = set(inspector.get_view_names())
        expect(VIEWS <= views, f"views {sorted(views)}")

    @check("inspector columns")
    def columns(self):
        inspector = self.sa.inspect(self.engine())
        cols = inspector.get_columns("orders", schema="public")
        got = [(c["name"], type(c["type"]).__name__) for c in cols]
        expect_eq(got, [("order_id", "BIGINT"), ("customer_id", "BIGINT"),
                        ("order_ts", "TIMESTAMP"), ("channel", "TEXT"), ("gross_amount", "NUMERIC"),
                        ("discount_amount", "NUMERIC"), ("net_amount", "NUMERIC"),
                        ("status", "TEXT"), ("item_count", "INTEGER"), ("order_month", "TEXT")],
                  "orders columns")
        expect(cols[2]["type"].timezone, "order_ts is WITH TIME ZONE")
        expect(not cols[0]["nullable"], "order_id NOT NULL")
        inspector.get_pk_constraint("orders")
        inspector.get_foreign_keys("orders")
        inspector.get_indexes("orders")
        view_cols = [c["name"] for c in inspector.get_columns("customer_360", schema="public")]
        expect("rfm_segment" in view_cols, f"customer_360 columns {view_cols}")

    @check("pandas.read_sql parameterised")
    def pandas_read_sql(self):
        import pandas
        engine = self.engine()
        literal = pandas.read_sql(LITERAL_SEGMENTS, engine)
        frame = pandas.read_sql(self.sa.text(SEGMENT_SQL.format(":as_of")), engine,
                                params={"as_of": AS_OF})
        expect_eq(list(frame.columns), ["segment", "count"], "columns")
        expect_eq(frame.values.tolist(), literal.values.tolist(), "segments with a date parameter")

    @check("pandas.read_sql_table")
    def pandas_read_sql_table(self):
        import pandas
        engine = self.engine()
        orders = pandas.read_sql_table("orders", engine)
        expect(len(orders) > 1000 and str(orders["order_ts"].dtype).startswith("datetime64"),
               f"read_sql_table orders: {len(orders)} {orders['order_ts'].dtype}")

    @check("psycopg2 dialect")
    def psycopg2(self):
        url = self.url.replace("+psycopg", "+psycopg2")
        with self.engine(url).connect() as conn:
            rows = conn.execute(self.sa.text(SEGMENT_SQL.format(":d")), {"d": AS_OF}).fetchall()
            literal = as_pairs(conn.execute(self.sa.text(LITERAL_SEGMENTS)).fetchall())
            expect_eq(as_pairs(rows), literal, "psycopg2 segments")
        expect(VIEWS <= set(self.sa.inspect(self.engine(url)).get_view_names()), "psycopg2 views")


# ---------------------------------------------------------------- psqlODBC through pyodbc
class Pyodbc:
    name = "psqlodbc"

    def __init__(self, args):
        import pyodbc
        self.pyodbc = pyodbc
        self.conn_str = (f"DRIVER={{{args.odbc_driver}}};SERVER={args.host};PORT={args.port};"
                         "DATABASE=segmint;UID=analyst;PWD=x;SSLmode=disable")

    def connect(self):
        return self.pyodbc.connect(self.conn_str, autocommit=False)

    @check("connect")
    def connect_check(self):
        with self.connect() as conn:
            expect(conn.getinfo(self.pyodbc.SQL_DBMS_NAME) == "PostgreSQL",
                   conn.getinfo(self.pyodbc.SQL_DBMS_NAME))
            expect(conn.getinfo(self.pyodbc.SQL_DBMS_VER).startswith("15"),
                   conn.getinfo(self.pyodbc.SQL_DBMS_VER))

    @check("SQLTables")
    def tables(self):
        with self.connect() as conn:
            rows = conn.cursor().tables(schema="public").fetchall()
            kinds = {r.table_name: r.table_type for r in rows}
            expect(TABLES <= set(kinds), f"tables {sorted(kinds)}")
            expect_eq(kinds.get("orders"), "TABLE", "orders type")
            for v in VIEWS:
                expect_eq(kinds.get(v), "VIEW", f"{v} type")

    @check("SQLColumns")
    def columns(self):
        with self.connect() as conn:
            rows = conn.cursor().columns(table="orders", schema="public").fetchall()
            got = [(r.column_name, r.type_name) for r in rows]
            expect_eq(got, [("order_id", "int8"), ("customer_id", "int8"),
                            ("order_ts", "timestamptz"), ("channel", "text"),
                            ("gross_amount", "numeric"), ("discount_amount", "numeric"),
                            ("net_amount", "numeric"), ("status", "text"), ("item_count", "int4"),
                            ("order_month", "text")], "orders columns")

    @check("SQLGetTypeInfo")
    def type_info(self):
        with self.connect() as conn:
            names = {r.type_name for r in conn.cursor().getTypeInfo().fetchall()}
            expect({"int4", "int8", "numeric", "text", "date", "timestamptz", "bool"} <= names,
                   f"types {sorted(names)}")

    @check("parameterised query")
    def parameterised(self):
        with self.connect() as conn:
            cur = conn.cursor()
            literal = as_pairs(cur.execute(LITERAL_SEGMENTS).fetchall())
            rows = cur.execute(SEGMENT_SQL.format("?"), AS_OF).fetchall()
            expect_eq(as_pairs(rows), literal, "segments with a date parameter")
            n = cur.execute("SELECT count(*) FROM orders WHERE channel = ? AND item_count >= ?",
                            "app", 2).fetchone()[0]
            expect(n > 0, "count")
            total = cur.execute("SELECT sum(net_amount) FROM orders WHERE customer_id = ?",
                                1).fetchone()[0]
            expect(isinstance(total, decimal.Decimal), f"numeric as Decimal: {total!r}")


# ---------------------------------------------------------------- pgcli
class Pgcli:
    name = "pgcli"

    def __init__(self, args):
        from pgcli.pgexecute import PGExecute
        self.executor = PGExecute(database="segmint", user="analyst", password=None,
                                  host=args.host, port=args.port, dsn=None, sslmode="disable")

    @check("connect")
    def connect_check(self):
        expect(self.executor.server_version.startswith("15"), self.executor.server_version)
        expect_eq(self.executor.dbname, "segmint", "dbname")

    @check("start-up completion queries")
    def metadata(self):
        ex = self.executor
        expect("public" in ex.search_path(), f"search_path {ex.search_path()}")
        expect("public" in list(ex.schemata()), "schemata")
        tables = {t for _, t in ex.tables()}
        expect(TABLES <= tables, f"tables {sorted(tables)}")
        views = {v for _, v in ex.views()}
        expect(VIEWS <= views, f"views {sorted(views)}")
        cols = [(c[2], c[3]) for c in ex.table_columns() if c[1] == "orders"]
        expect_eq([c[0] for c in cols], [c[0] for c in ORDERS_COLUMNS], "orders columns")
        expect_eq([c[1] for c in cols][:3], ["bigint", "bigint", "timestamp with time zone"],
                  "orders types")
        functions = {f.func_name for f in ex.functions()}
        expect({"rfm_segment", "lifecycle_stage"} <= functions, "CRM functions listed")
        list(ex.datatypes())
        list(ex.foreignkeys())
        list(ex.view_columns())

    @check("query and special commands")
    def query(self):
        ex = self.executor
        results = list(ex.run(LITERAL_SEGMENTS))
        title, rows, headers, status = results[0][:4]
        expect_eq(list(headers), ["segment", "count"], "headers")
        expect(len(list(rows)) > 5, "rows")
        from pgspecial.main import PGSpecial
        results = list(ex.run("\\dt", pgspecial=PGSpecial()))
        listed = {r[1] for r in results[0][1]}
        expect(TABLES <= listed, f"\\dt lists {sorted(listed)}")


CLIENTS = {c.name: c for c in (Psycopg, Asyncpg, Sqlalchemy, Pyodbc, Pgcli)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--odbc-driver", default="PostgreSQL Unicode")
    args = parser.parse_args()
    cls = CLIENTS[args.client]
    failed = False
    try:
        client = cls(args)
    except Exception as error:  # the driver itself is missing or broken
        print(f"RESULT\t{cls.name}\tconnect\tfail\t{type(error).__name__}: {error}", flush=True)
        return 1
    for operation, fn in checks:
        if fn.__qualname__.split(".")[0] != cls.__name__:
            continue
        try:
            fn(client)
            print(f"RESULT\t{cls.name}\t{operation}\tok\t", flush=True)
        except Exception as error:
            failed = True
            detail = f"{type(error).__name__}: {error}".replace("\n", " ").replace("\t", " ")
            print(f"RESULT\t{cls.name}\t{operation}\tfail\t{detail[:400]}", flush=True)
            traceback.print_exc(file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
