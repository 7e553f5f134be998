"""Client side of the side-by-side benchmark (benches/suite): one process the Rust harness
drives over stdin/stdout, one JSON object per line each way.

Requests:
  {"op": "duckdb_open", "setup": [sql, ...]}            open an in-memory DuckDB, run setup
  {"op": "duckdb", "sql": "..."}                         run a query, fetch it as Arrow
  {"op": "psycopg_select", "dsn": "...", "sql": "..."}  execute + fetchall over the wire
  {"op": "psycopg_copy", "dsn": "...", "sql": "..."}    COPY ... TO STDOUT, read every block
Answers: {"ms": elapsed, "rows": n} (rows: bytes for COPY) or {"error": "..."}.
Timing covers only the work (not this protocol), so the harness compares like with like.
"""

import json
import sys
import time

duck = None


def run(request):
    global duck
    op = request["op"]
    if op == "duckdb_open":
        import duckdb

        duck = duckdb.connect()
        for sql in request.get("setup", []):
            duck.execute(sql)
        return {"ms": 0.0, "rows": 0, "version": duckdb.__version__}
    if op == "duckdb":
        # Queries: a relation fetched straight to Arrow (no extra copy through the DB-API
        # cursor). COPY runs once through execute.
        sql = request["sql"]
        started = time.perf_counter()
        if sql.lstrip().upper().startswith("COPY"):
            duck.execute(sql)
            rows = 0
        else:
            rows = duck.sql(sql).to_arrow_table().num_rows
        return {"ms": (time.perf_counter() - started) * 1e3, "rows": rows}
    if op in ("psycopg_select", "psycopg_copy"):
        import psycopg

        with psycopg.connect(request["dsn"], autocommit=True) as conn:
            with conn.cursor() as cur:
                started = time.perf_counter()
                if op == "psycopg_select":
                    cur.execute(request["sql"])
                    rows = len(cur.fetchall())
                else:
                    rows = 0
                    with cur.copy(request["sql"]) as copy:
                        for block in copy:
                            rows += len(block)
                return {"ms": (time.perf_counter() - started) * 1e3, "rows": rows}
    return {"error": f"unknown op {op}"}


def main():
    for line in sys.stdin:
        try:
            answer = run(json.loads(line))
        except Exception as error:  # the harness reports it and stops
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
