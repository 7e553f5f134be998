// Segmint's driver compatibility checks for pgjdbc (Debian's libpostgresql-jdbc-java), the
// driver DBeaver, Metabase and DataGrip use. Run by the Rust integration test `compat`:
//
//   java -cp /usr/share/java/postgresql.jar Compat.java HOST PORT
//
// Every check is one named operation printing `RESULT<TAB>pgjdbc<TAB>operation<TAB>ok|fail<TAB>detail`;
// the exit status is 1 when any failed.
import java.io.StringWriter;
import java.math.BigDecimal;
import java.sql.*;
import java.time.LocalDate;
import java.util.*;

public class Compat {
    static final Set<String> TABLES = Set.of("customers", "orders", "order_items", "products",
            "events", "reviews", "support_tickets", "nps_responses");
    static final Set<String> VIEWS = Set.of("customer_360", "completed_orders");
    static final String LITERAL = "SELECT segment, count(*) FROM rfm('orders', DATE '2026-11-01') GROUP BY 1 ORDER BY 1";
    static final String PARAMETERISED = "SELECT segment, count(*) FROM rfm('orders', ?) GROUP BY 1 ORDER BY 1";

    interface Check { void run(Connection c) throws Exception; }

    static String url;
    static boolean failed = false;

    static void expect(boolean ok, String message) {
        if (!ok) throw new AssertionError(message);
    }

    static void check(String operation, Check check) {
        try (Connection c = DriverManager.getConnection(url, "analyst", "")) {
            check.run(c);
            System.out.println("RESULT\tpgjdbc\t" + operation + "\tok\t");
        } catch (Throwable t) {
            failed = true;
            String detail = (t.getClass().getSimpleName() + ": " + t.getMessage()).replace('\n', ' ').replace('\t', ' ');
            if (detail.length() > 400) detail = detail.substring(0, 400);
            System.out.println("RESULT\tpgjdbc\t" + operation + "\tfail\t" + detail);
            t.printStackTrace();
        }
        System.out.flush();
    }

    static List<String> pairs(ResultSet rs) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) out.add(rs.getString(1) + "=" + rs.getLong(2));
        return out;
    }

    public static void main(String[] args) throws Exception {
        url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/segmint?sslmode=disable";

        check("connect", c -> {
            DatabaseMetaData md = c.getMetaData();
            expect(md.getDatabaseProductName().equals("PostgreSQL"), md.getDatabaseProductName());
            expect(md.getDatabaseMajorVersion() == 15, md.getDatabaseProductVersion());
        });

        check("getSchemas", c -> {
            Set<String> schemas = new HashSet<>();
            try (ResultSet rs = c.getMetaData().getSchemas()) {
                while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
            }
            expect(schemas.contains("public") && schemas.contains("pg_catalog"), schemas.toString());
        });

        check("getTables", c -> {
            Map<String, String> kinds = new HashMap<>();
            try (ResultSet rs = c.getMetaData().getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) kinds.put(rs.getString("TABLE_NAME"), rs.getString("TABLE_TYPE"));
            }
            expect(kinds.keySet().containsAll(TABLES), kinds.toString());
            expect("TABLE".equals(kinds.get("orders")), "orders: " + kinds.get("orders"));
            for (String v : VIEWS) expect("VIEW".equals(kinds.get(v)), v + ": " + kinds.get(v));
        });

        check("getColumns", c -> {
            List<String> got = new ArrayList<>();
            try (ResultSet rs = c.getMetaData().getColumns(null, "public", "orders", "%")) {
                while (rs.next()) got.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":"
                        + rs.getInt("DATA_TYPE") + ":" + rs.getInt("ORDINAL_POSITION"));
            }
            List<String> expected = List.of("order_id:int8:" + Types.BIGINT + ":1", "customer_id:int8:" + Types.BIGINT + ":2",
                    "order_ts:timestamptz:" + Types.TIMESTAMP + ":3", "channel:text:" + Types.VARCHAR + ":4",
                    "gross_amount:numeric:" + Types.NUMERIC + ":5", "discount_amount:numeric:" + Types.NUMERIC + ":6",
                    "net_amount:numeric:" + Types.NUMERIC + ":7", "status:text:" + Types.VARCHAR + ":8",
                    "item_count:int4:" + Types.INTEGER + ":9", "order_month:text:" + Types.VARCHAR + ":10");
            expect(got.equals(expected), got.toString());
        });

        check("getPrimaryKeys", c -> {
            try (ResultSet rs = c.getMetaData().getPrimaryKeys(null, "public", "orders")) {
                // Parquet datasets declare no keys: the query must run and return no rows.
                expect(!rs.next(), "unexpected primary key");
            }
        });

        check("getTypeInfo", c -> {
            Set<String> names = new HashSet<>();
            try (ResultSet rs = c.getMetaData().getTypeInfo()) {
                while (rs.next()) names.add(rs.getString("TYPE_NAME"));
            }
            expect(names.containsAll(Set.of("int4", "int8", "numeric", "text", "date", "timestamptz", "bool")), names.toString());
        });

        check("getFunctions", c -> {
            Set<String> names = new HashSet<>();
            try (ResultSet rs = c.getMetaData().getFunctions(null, null, "rfm%")) {
                while (rs.next()) names.add(rs.getString("FUNCTION_NAME"));
            }
            expect(names.contains("rfm_segment"), names.toString());
        });

        check("PreparedStatement parameterised query", c -> {
            List<String> literal;
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(LITERAL)) {
                literal = pairs(rs);
            }
            expect(literal.size() >= 5, literal.toString());
            try (PreparedStatement ps = c.prepareStatement(PARAMETERISED)) {
                // Run it past the prepare threshold (5) so the named server-side statement is reused.
                for (int i = 0; i < 7; i++) {
                    ps.setObject(1, LocalDate.of(2026, 11, 1));
                    try (ResultSet rs = ps.executeQuery()) {
                        List<String> got = pairs(rs);
                        expect(got.equals(literal), "run " + i + ": " + got);
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT count(*), sum(net_amount) FROM orders WHERE channel = ? AND item_count >= ?")) {
                ps.setString(1, "app");
                ps.setInt(2, 2);
                try (ResultSet rs = ps.executeQuery()) {
                    expect(rs.next() && rs.getLong(1) > 0, "count");
                    BigDecimal sum = rs.getBigDecimal(2);
                    expect(sum.scale() == 2, "numeric scale " + sum);
                    expect(rs.getMetaData().getColumnLabel(1).equals("count"), rs.getMetaData().getColumnLabel(1));
                }
            }
        });

        check("fetch size (portal row limit)", c -> {
            c.setAutoCommit(false);
            long total;
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM orders")) {
                rs.next();
                total = rs.getLong(1);
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT order_id FROM orders WHERE net_amount >= ?")) {
                ps.setFetchSize(1000);
                ps.setBigDecimal(1, BigDecimal.ZERO);
                long n = 0;
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) n++;
                }
                expect(n == total, n + " of " + total);
            }
            c.commit();
        });

        check("copy export", c -> {
            org.postgresql.copy.CopyManager copy = c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
            StringWriter out = new StringWriter();
            long rows = copy.copyOut("COPY (SELECT segment, count(*) AS customers FROM rfm('orders', DATE '2026-11-01') GROUP BY 1 ORDER BY 1) TO STDOUT WITH (FORMAT csv, HEADER)", out);
            String[] lines = out.toString().split("\n");
            expect(lines[0].equals("segment,customers"), lines[0]);
            expect(rows == lines.length - 1 && rows >= 5, rows + " rows");
        });

        check("errors", c -> {
            try (Statement s = c.createStatement()) {
                try {
                    s.executeQuery("SELECT * FROM no_such_table");
                    throw new AssertionError("no error");
                } catch (SQLException e) {
                    expect("42P01".equals(e.getSQLState()), e.getSQLState());
                }
                try (ResultSet rs = s.executeQuery("SELECT current_user, session_user")) {
                    expect(rs.next() && rs.getString(1).equals("analyst"), "current_user");
                }
            }
        });

        check("failed transaction (autocommit off, savepoints)", c -> {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                try {
                    s.executeQuery("SELECT * FROM no_such_table");
                    throw new AssertionError("no error");
                } catch (SQLException e) {
                    expect("42P01".equals(e.getSQLState()), e.getSQLState());
                }
                try {
                    s.executeQuery("SELECT 1");
                    throw new AssertionError("a statement ran in a failed transaction");
                } catch (SQLException e) {
                    expect("25P02".equals(e.getSQLState()), e.getSQLState());
                }
                c.rollback();
                java.sql.Savepoint before = c.setSavepoint("before");
                try {
                    s.executeQuery("SELECT * FROM no_such_table");
                    throw new AssertionError("no error");
                } catch (SQLException e) {
                    expect("42P01".equals(e.getSQLState()), e.getSQLState());
                }
                c.rollback(before);
                try (ResultSet rs = s.executeQuery("SELECT 2")) {
                    expect(rs.next() && rs.getInt(1) == 2, "recovered by the savepoint");
                }
                c.commit();
            }
        });

        System.exit(failed ? 1 : 0);
    }
}
