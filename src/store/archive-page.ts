/**
 * One page of an archive (XEP-0313 with XEP-0059 paging), whatever table
 * and engine hold it: the accounts' archive and the rooms' both keep
 * messages under ids that are microseconds since the epoch, and page them
 * the same way in SQLite and PostgreSQL. The SQL uses `?` placeholders; an
 * engine with others rewrites them in `run`.
 */
import type {ArchiveFilter, ArchivePage, ArchiveResult} from './archive-store.js'

/** Runs a query with `?` placeholders and returns its rows. */
export type RunQuery = (sql: string, parameters: unknown[]) => Promise<unknown[]> | unknown[]

/** Archive ids are decimal microseconds: anything else cannot name a message. */
export function parseArchiveId(id: string): number | undefined {
  return /^\d{1,16}$/.test(id) ? Number(id) : undefined
}

export interface ArchiveSource {
  /** FROM and JOINs, e.g. "archive_entries e JOIN archive_stanzas s ON s.id = e.id". */
  from: string
  /** The message id column, e.g. "e.id". */
  id: string
  /** The serialised stanza column. */
  stanza: string
  /** Conditions that select this archive (an owner), with their parameters. */
  where: string[]
  parameters: unknown[]
  /** Conditions of the filter's `with`, as this archive keeps correspondents. */
  withConditions(filter: ArchiveFilter): Array<[condition: string, value: unknown]>
  /** Whether the archive holds `id` (an id a page or filter names must exist, §4.1.4). */
  exists(id: number): Promise<boolean> | boolean
  /** The condition, after the id column, that the id is one of a list, with its one parameter, in the engine's dialect. */
  idIn(ids: number[]): [condition: string, value: unknown]
}

/** The page, or undefined when the query names an id the archive does not hold. */
export async function archivePage(run: RunQuery, source: ArchiveSource, filter: ArchiveFilter, page: ArchivePage): Promise<ArchiveResult | undefined> {
  const known = async (id: string | undefined): Promise<number | undefined | false> => {
    if (id === undefined) return undefined
    const parsed = parseArchiveId(id)
    return parsed !== undefined && (await source.exists(parsed)) ? parsed : false
  }

  const afterId = await known(filter.afterId)
  const beforeId = await known(filter.beforeId)
  const after = await known(page.after)
  const before = page.before === '' ? undefined : await known(page.before)
  if (afterId === false || beforeId === false || after === false || before === false) return undefined

  const where = [...source.where]
  const parameters = [...source.parameters]
  const add = (condition: string, value: unknown) => {
    where.push(condition)
    parameters.push(value)
  }

  for (const [condition, value] of source.withConditions(filter)) add(condition, value)
  // Ids are microseconds since the epoch; the form's times have milliseconds at most.
  if (filter.start) add(`${source.id} >= ?`, filter.start.getTime() * 1000)
  if (filter.end) add(`${source.id} <= ?`, filter.end.getTime() * 1000 + 999)
  if (afterId !== undefined) add(`${source.id} > ?`, afterId)
  if (beforeId !== undefined) add(`${source.id} < ?`, beforeId)
  if (filter.ids) {
    const [condition, value] = source.idIn(filter.ids.map((id) => parseArchiveId(id) ?? -1))
    add(`${source.id} ${condition}`, value)
  }
  const matching = where.join(' AND ')
  const count = ((await run(`SELECT count(*) AS n FROM ${source.from} WHERE ${matching}`, parameters))[0] as {n: number}).n

  // One row more than the page shows whether the results go on past it.
  const backwards = page.before !== undefined
  const bound = backwards ? before : after
  const order = `${bound === undefined ? '' : backwards ? ` AND ${source.id} < ?` : ` AND ${source.id} > ?`} ORDER BY ${source.id} ${backwards ? 'DESC' : 'ASC'} LIMIT ?`
  const rows = (await run(`SELECT ${source.id} AS id, ${source.stanza} AS stanza FROM ${source.from} WHERE ${matching}${order}`, [...parameters, ...(bound === undefined ? [] : [bound]), page.max + 1])) as Array<{
    id: number
    stanza: string
  }>
  const complete = rows.length <= page.max
  const shown = rows.slice(0, page.max)
  if (backwards) shown.reverse()
  const firstIndex = shown.length === 0 ? 0 : ((await run(`SELECT count(*) AS n FROM ${source.from} WHERE ${matching} AND ${source.id} < ?`, [...parameters, shown[0].id]))[0] as {n: number}).n
  return {messages: shown.map((row) => ({id: String(row.id), at: new Date(Math.floor(row.id / 1000)), stanza: row.stanza})), complete, count, firstIndex}
}
