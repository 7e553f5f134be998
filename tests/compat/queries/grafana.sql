-- Grafana PostgreSQL data source: health check, version detection and query-builder metadata.
--
-- Sources (grafana/grafana):
--   * public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts
--     @ 12f912ab8d010f4d95a4043a0efaa20fc4ca0100 (getVersion, getTimescaleDBVersion, showSchemas,
--     showTables(schema?), getSchema(table), buildSchemaConstraint)
--   * .../datasource.ts @ 04282cd93150390a7d83089cc520d96546d576a8 (fetchTables -> showTables(),
--     fetchFields -> getSchema(table)); configuration/useAutoDetectFeatures.ts @ 3af0110a1a2192523521267b47ee6fede2c8ec57
--   * pkg/tsdb/grafana-postgresql-datasource/schema.go @ 043dd88a47944c35205994c4da317e100dc9b12e
--     (backend schema API: querySchemas, queryTables, queryColumns, ColumnValues)
--   * Health check (pgx/handler_checkhealth.go) only calls pgx Ping(), which sends the
--     comment-only simple query "-- ping" (tested separately, psql cannot send it from a file).
-- Table name used: 'orders' (unqualified, resolved against search_path) and 'public.orders'.

-- grafana: version auto-detect (config page)
SELECT current_setting('server_version_num')::int/100 as version;

-- grafana: TimescaleDB auto-detect (config page, version >= 9.6)
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb';

-- grafana: schema list (showSchemas)
SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name;

-- grafana: table list for the query builder (showTables() without schema)
SELECT
    CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          ) THEN 0 ELSE 1 END, 1;

-- grafana: table list for a given schema (showTables('public'))
SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'public'
      ORDER BY 1;

-- grafana: column list for the query builder (getSchema('orders'))
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('orders'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('orders'))[1]
          AND quote_ident(table_name) = (parse_ident('orders'))[2]
        ELSE quote_ident(table_name) = 'orders'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END;

-- grafana: column list for a schema-qualified table (getSchema('public.orders'))
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('public.orders'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('public.orders'))[1]
          AND quote_ident(table_name) = (parse_ident('public.orders'))[2]
        ELSE quote_ident(table_name) = 'public.orders'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END;

-- grafana-backend: schema API - schemas (querySchemas)
SELECT schema_name FROM information_schema.schemata
		 WHERE schema_name NOT LIKE 'pg_%' AND schema_name != 'information_schema'
		 ORDER BY schema_name;

-- grafana-backend: schema API - tables of a schema (queryTables, $1='public')
SELECT table_name FROM information_schema.tables
		 WHERE table_schema = 'public' AND table_type IN ('BASE TABLE', 'VIEW')
		 ORDER BY table_name;

-- grafana-backend: schema API - columns of a table (queryColumns, $1='public', $2='orders')
SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale
		 FROM information_schema.columns
		 WHERE table_schema = 'public' AND table_name = 'orders'
		 ORDER BY ordinal_position;

-- grafana-backend: schema API - distinct column values (ColumnValues, columns status, channel)
SELECT 'status' AS col_name, "status"::text AS val FROM (SELECT DISTINCT "status" FROM "public"."orders" WHERE "status" IS NOT NULL ORDER BY "status" LIMIT 100) sub_0 UNION ALL SELECT 'channel' AS col_name, "channel"::text AS val FROM (SELECT DISTINCT "channel" FROM "public"."orders" WHERE "channel" IS NOT NULL ORDER BY "channel" LIMIT 100) sub_1;
