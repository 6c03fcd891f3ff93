// Runs one SQL query with DuckDB (an independent Parquet reader) and prints the
// rows as JSON. Used by the tests to check that shards read outside pretext.
//   node scripts/duckdb-query.mjs "select count(*) from 'out/denoise/*.parquet'"
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '.cache', 'duckdb', 'package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');

const sql = process.argv[2];
if (!sql) {
  console.error('usage: node scripts/duckdb-query.mjs "SQL"');
  process.exit(2);
}
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
const reader = await conn.runAndReadAll(sql);
const rows = reader.getRowObjectsJson();
process.stdout.write(JSON.stringify(rows) + '\n');
