"""Client side of the side-by-side benchmark (benches/suite): one process the Rust harness
drives over stdin/stdout, one JSON object per line each way.

Requests:
  {"op": "duckdb_open", "setup": [sql, ...]}            open an in-memory DuckDB, run setup
  {"op": "duckdb", "sql": "..."}                         run a query, fetch it as Arrow
  {"op": "psycopg_select", "dsn": "...", "sql": "..."}  execute + fetchall over the wire
  {"op": "psycopg_copy", "dsn": "...", "sql": "..."}    COPY ... TO STDOUT, read every block
  {"op": "write_foreign", "source": dir, "out": dir, "rows_per_file": n}
                                                         the demo's orders and customers as
                                                         pyarrow writes them by default
  {"op": "lifetimes_open", "path": summary.parquet}    load x, t_x, T, m_x for the fits
  {"op": "lifetimes_fit", "model": "bgnbd"|"pareto_nbd"|"gamma_gamma"}
                                                         fit with lifetimes 0.11.3 on distinct
                                                         rows with weights; params in order
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
    if op == "lifetimes_open":
        return lifetimes_open(request["path"])
    if op == "lifetimes_fit":
        return lifetimes_fit(request["model"])
    if op == "write_foreign":
        return write_foreign(request["source"], request["out"], request["rows_per_file"])
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


summary = None


def lifetimes_open(path):
    """Loads the customer summary and groups it into distinct rows with weights, as
    lifetimes advises for large bases (the fits take `weights`)."""
    global summary
    import lifetimes
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns = [table.column(name).to_numpy().astype(float) for name in ("x", "t_x", "T", "m_x")]
    full = np.column_stack(columns)
    histories, counts = np.unique(full[:, :3], axis=0, return_counts=True)
    repeat = full[(full[:, 0] > 0) & (full[:, 3] > 0)][:, [0, 3]]
    spends, spend_counts = np.unique(repeat, axis=0, return_counts=True)
    summary = {
        "histories": histories,
        "weights": counts.astype(float),
        "spends": spends,
        "spend_weights": spend_counts.astype(float),
    }
    return {"ms": 0.0, "rows": len(full), "distinct": len(histories),
            "version": lifetimes.__version__}


def lifetimes_fit(model):
    import warnings

    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    warnings.simplefilter("ignore")
    h, w = summary["histories"], summary["weights"]
    started = time.perf_counter()
    if model == "bgnbd":
        fitter = BetaGeoFitter().fit(h[:, 0], h[:, 1], h[:, 2], weights=w)
        names = ["r", "alpha", "a", "b"]
    elif model == "pareto_nbd":
        fitter = ParetoNBDFitter().fit(h[:, 0], h[:, 1], h[:, 2], weights=w)
        names = ["r", "alpha", "s", "beta"]
    elif model == "gamma_gamma":
        s, sw = summary["spends"], summary["spend_weights"]
        fitter = GammaGammaFitter().fit(s[:, 0], s[:, 1], weights=sw)
        names = ["p", "q", "v"]
    else:
        return {"error": f"unknown model {model}"}
    ms = (time.perf_counter() - started) * 1e3
    return {"ms": ms, "rows": 0, "params": [float(fitter.params_[n]) for n in names]}


def write_foreign(source, out, rows_per_file):
    """The demo data as another tool leaves it: pyarrow.parquet's defaults (1Mi-row row
    groups, snappy, dictionaries on every column, no page index); orders sorted by time,
    `order_month` (a hive partition in the demo) an ordinary column, `rows_per_file` per file;
    customers in one file."""
    import os

    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    orders = con.sql(
        f"SELECT * FROM read_parquet('{source}/orders/*/*.parquet', hive_partitioning = true) "
        "ORDER BY order_ts, order_id"
    )
    os.makedirs(f"{out}/orders")
    reader = orders.to_arrow_reader(batch_size=1 << 16)
    written = 0
    part = 0
    writer = None
    pending = []
    pending_rows = 0

    def flush():
        nonlocal pending, pending_rows
        if pending:
            writer.write_table(pa.Table.from_batches(pending))
        pending, pending_rows = [], 0

    for batch in reader:
        if writer is None or written >= rows_per_file:
            flush()
            if writer is not None:
                writer.close()
            writer = pq.ParquetWriter(f"{out}/orders/part-{part:03}.parquet", reader.schema)
            part += 1
            written = 0
        pending.append(batch)
        pending_rows += batch.num_rows
        written += batch.num_rows
        if pending_rows >= 1 << 20:
            flush()
    flush()
    if writer is not None:
        writer.close()
    os.makedirs(f"{out}/customers")
    customers = con.sql(f"SELECT * FROM read_parquet('{source}/customers/*.parquet')")
    pq.write_table(customers.to_arrow_table(), f"{out}/customers/part-000.parquet")
    return {"ms": (time.perf_counter() - started) * 1e3, "rows": part}


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
