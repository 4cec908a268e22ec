/** What each engine provides to `xmppctl db copy` (copy.ts): a source read in one snapshot, and a target written batch by batch. */

/** A table's columns, and the columns of its primary key, as the source has them. */
export interface TableShape {
  columns: string[]
  key: string[]
}

/** The source's side: everything read inside one snapshot. */
export interface CopyReader {
  readonly location: string
  /** Refuses a store that is not there, not ours, or not at this xmppctl's schema version. */
  checkSchema(): Promise<void>
  /** Runs `work` with every read inside one snapshot of the store. */
  snapshot<T>(work: () => Promise<T>): Promise<T>
  shape(table: string): Promise<TableShape>
  count(table: string): Promise<number>
  /** Up to `limit` rows (values in `columns` order) after `after` in key order, from the start when undefined. */
  page(table: string, shape: TableShape, after: unknown[] | undefined, limit: number): Promise<unknown[][]>
  close(): Promise<void>
}

/** Where a table stands in the target: the last key copied, and rows so far. */
export interface TableProgress {
  after: unknown[] | undefined
  rows: number
}

export interface CopyWriter {
  readonly location: string
  /** Creates the target's schema where there is none, or brings it up to date; the progress of an unfinished copy (with its source), if any. */
  prepare(): Promise<{unfinished?: {source: string; tables: Map<string, TableProgress>}}>
  shape(table: string): Promise<TableShape>
  count(table: string): Promise<number>
  /** Marks the target as being copied into, from `source`. */
  begin(source: string): Promise<void>
  /** Writes `rows` and the table's new progress in one transaction. */
  write(table: string, shape: TableShape, rows: unknown[][], progress: TableProgress): Promise<void>
  /** After a complete copy: sequences past the copied ids, the marker gone. */
  finish(): Promise<void>
  close(): Promise<void>
}
