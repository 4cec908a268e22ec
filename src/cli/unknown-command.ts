/**
 * What to say about a command line whose first words name no command: the
 * closest command (a typo: `user ad` → `user add`), or that flags come after
 * the command. Our own suggestion rather than @oclif/plugin-not-found: one
 * edit distance per command id, and no plugin to load.
 */
import {UsageError} from '../errors.js'
import {editDistance, typoDistance} from '../suggest.js'

/**
 * `id` is what oclif took for the command: the first words joined by ":"
 * (with arguments too, when the words name no command); `ids` every command
 * id and alias that may be suggested.
 */
export function unknownCommandError(id: string, ids: readonly string[]): UsageError {
  if (id.startsWith('-')) return new UsageError(`"${id}" is not an xmppctl command`, 'give the command, then its flags, e.g. "xmppctl user list --json"; only -c/--config may also come first')
  const typed = id.split(':')
  let best: {id: string; words: number; distance: number} | undefined
  for (const candidate of ids) {
    const words = candidate.split(':')
    // A candidate of n words is compared with the first n words typed: the rest are its arguments.
    const attempt = typed.slice(0, words.length).join(' ')
    const distance = editDistance(attempt, words.join(' '))
    // 0: the words typed start with this command ("plugins instal"), and a longer one is meant.
    if (distance === 0 || distance > typoDistance(attempt)) continue
    if (!best || distance < best.distance || (distance === best.distance && words.length > best.words)) best = {id: words.join(' '), words: words.length, distance}
  }

  if (best) return new UsageError(`"${typed.slice(0, best.words).join(' ')}" is not an xmppctl command`, `did you mean "${best.id}"?`)
  // Without a suggestion, the words up to the first that is no topic ("user frob", not "user frob alice@example.org").
  const topics = new Set(ids.flatMap((candidate) => candidate.split(':').slice(0, -1).map((_, index, words) => words.slice(0, index + 1).join(':'))))
  let length = 1
  while (length < typed.length && topics.has(typed.slice(0, length).join(':'))) length++
  return new UsageError(`"${typed.slice(0, length).join(' ')}" is not an xmppctl command`, 'see "xmppctl --help" for the commands')
}
