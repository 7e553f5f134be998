// Segmint's driver compatibility checks for node-postgres (`pg`), run by the Rust integration
// test `compat`: node compat.js HOST PORT. Each check prints
// `RESULT<TAB>node-pg<TAB>operation<TAB>ok|fail<TAB>detail`; the exit status is 1 when any failed.
const { Client, types } = require("pg");

const [host, port] = process.argv.slice(2);
const TABLES = ["customers", "orders", "order_items", "products", "events", "reviews", "support_tickets", "nps_responses"];
const VIEWS = ["customer_360", "completed_orders"];
const LITERAL = "SELECT segment, count(*) FROM rfm('orders', DATE '2026-11-01') GROUP BY 1 ORDER BY 1";
let failed = false;

function expect(ok, message) {
  if (!ok) throw new Error(message);
}

async function check(operation, fn) {
  const client = new Client({ host, port: Number(port), user: "analyst", database: "segmint", ssl: false });
  try {
    await client.connect();
    await fn(client);
    console.log(`RESULT\tnode-pg\t${operation}\tok\t`);
  } catch (error) {
    failed = true;
    console.log(`RESULT\tnode-pg\t${operation}\tfail\t${String(error.message || error).replace(/[\t\n]/g, " ").slice(0, 400)}`);
  } finally {
    await client.end().catch(() => {});
  }
}

(async () => {
  await check("connect", async (c) => {
    const { rows } = await c.query("SELECT version()");
    expect(rows[0].version.startsWith("PostgreSQL 15"), rows[0].version);
  });
  await check("list tables", async (c) => {
    const { rows } = await c.query(
      "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = $1", ["public"]);
    const kinds = Object.fromEntries(rows.map((r) => [r.table_name, r.table_type]));
    for (const t of TABLES) expect(kinds[t] === "BASE TABLE", `${t}: ${kinds[t]}`);
    for (const v of VIEWS) expect(kinds[v] === "VIEW", `${v}: ${kinds[v]}`);
  });
  await check("list columns", async (c) => {
    const { rows } = await c.query(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position", ["orders"]);
    const got = rows.map((r) => `${r.column_name}:${r.data_type}`).join(",");
    expect(got.startsWith("order_id:bigint,customer_id:bigint,order_ts:timestamp with time zone,channel:text,gross_amount:numeric"), got);
    const result = await c.query("SELECT * FROM orders LIMIT 1");
    const oids = result.fields.map((f) => f.dataTypeID);
    expect(oids.slice(0, 4).join(",") === [types.builtins.INT8, types.builtins.INT8, types.builtins.TIMESTAMPTZ, types.builtins.TEXT].join(","), oids.join(","));
  });
  await check("parameterised query", async (c) => {
    const literal = (await c.query(LITERAL)).rows;
    expect(literal.length >= 5, JSON.stringify(literal));
    const named = { name: "segments", text: "SELECT segment, count(*) FROM rfm('orders', $1) GROUP BY 1 ORDER BY 1", values: ["2026-11-01"] };
    for (let i = 0; i < 3; i++) {
      const { rows } = await c.query(named);
      expect(JSON.stringify(rows) === JSON.stringify(literal), `run ${i}: ${JSON.stringify(rows)}`);
    }
    const { rows } = await c.query("SELECT count(*) AS n FROM orders WHERE channel = $1 AND order_ts >= $2", ["app", new Date("2025-01-01T00:00:00Z")]);
    expect(Number(rows[0].n) > 0, JSON.stringify(rows));
  });
  await check("types", async (c) => {
    const { rows } = await c.query(
      "SELECT 1::smallint AS a, 2::int AS b, 3::bigint AS c, 1.5::float8 AS d, 12.50::numeric(10,2) AS e, true AS f, DATE '2025-03-01' AS g, ARRAY['vip','sms'] AS h, NULL::int AS i");
    const r = rows[0];
    expect(r.a === 1 && r.b === 2 && r.c === "3" && r.d === 1.5 && r.e === "12.50" && r.f === true, JSON.stringify(r));
    expect(r.g instanceof Date && JSON.stringify(r.h) === '["vip","sms"]' && r.i === null, JSON.stringify(r));
  });
  await check("errors", async (c) => {
    try {
      await c.query("SELECT * FROM no_such_table");
      throw new Error("no error");
    } catch (error) {
      expect(error.code === "42P01", `code ${error.code}`);
    }
    const { rows } = await c.query("SELECT 1 AS one");
    expect(Number(rows[0].one) === 1, "usable after error");
  });
  process.exit(failed ? 1 : 0);
})();
