/**
 * Archive ids are microseconds since the epoch (ordered by time; MAM pages
 * and XEP-0359 stanza ids use them), handed out two ways. A live process
 * returns the id of a message it archives at once (the client gets it as
 * the stanza id) and writes the row a moment later; an import derives the
 * id from the message's own time stamp and takes the first free one from
 * there. An import cannot see ids handed out and not yet written, nor ids a
 * process will hand out when the clock reaches a stamp from the future, and
 * the live row that met an imported id would fail on the primary key, its
 * whole batch with it. So the two never share an id: an imported id is ≡ 0
 * (mod ARCHIVE_ID_CLASSES), and a live id never is.
 */

export const ARCHIVE_ID_CLASSES = 16

function residue(id: number): number {
  return ((id % ARCHIVE_ID_CLASSES) + ARCHIVE_ID_CLASSES) % ARCHIVE_ID_CLASSES
}

/** The first id at or after `from` that an import may give; the next candidate is ARCHIVE_ID_CLASSES later. */
export function importedArchiveId(from: number): number {
  return from + ((ARCHIVE_ID_CLASSES - residue(from)) % ARCHIVE_ID_CLASSES)
}

/** The first id at or after `from` that a live process may give (PostgreSQL's processes each keep to a class of their own, never 0). */
export function liveArchiveId(from: number): number {
  return residue(from) === 0 ? from + 1 : from
}
