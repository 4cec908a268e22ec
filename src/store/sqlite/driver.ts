/**
 * better-sqlite3, in the major version this Node.js can run. Version 12 is
 * built against Node's C++ API: on Node 24 it aborts the process when a
 * statement is garbage-collected (its ObjectWrap removes an environment
 * cleanup hook that Node 24 checks; WiseLibs/better-sqlite3#1515, closed
 * without a fix in 12). Version 13 uses Node-API, with prebuilt binaries in
 * its npm package, but needs Node 22 and crashes on Node 20. So Node 20 gets
 * 12 (bundled into the CLI, scripts/bundle.js, compiled at install), Node 22
 * and later get 13 (the `better-sqlite3-napi` alias in package.json), which
 * needs no compiler. Both have the same API.
 * Everything that opens a SQLite file imports Database from here; types
 * still come from better-sqlite3's own declarations.
 */
import LegacyDatabase from 'better-sqlite3'
import {createRequire} from 'node:module'

const NODE_API_FROM = 22

const Database: typeof LegacyDatabase =
  Number(process.versions.node.split('.')[0]) >= NODE_API_FROM ? (createRequire(import.meta.url)('better-sqlite3-napi') as typeof LegacyDatabase) : LegacyDatabase

// The types under the same name, so that `Database.Database` reads as it does with better-sqlite3 itself.
// eslint-disable-next-line @typescript-eslint/no-namespace -- merges with the value `Database`, as better-sqlite3's own typings do
declare namespace Database {
  export type Database = LegacyDatabase.Database
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- the same constraint as better-sqlite3's Statement
  export type Statement<BindParameters extends unknown[] | {} = unknown[], Result = unknown> = LegacyDatabase.Statement<BindParameters, Result>
  export type Options = LegacyDatabase.Options
  export type RunResult = LegacyDatabase.RunResult
}

export default Database
