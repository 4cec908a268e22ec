/**
 * The command line before oclif reads it. oclif takes the first words for the
 * command id, so `xmppctl -c FILE user add …` (the order of many tools with
 * global options) was "command -c not found". The global `--config` given
 * before the command is moved after it, where every command parses it.
 */

/**
 * `argv` with leading `-c FILE`, `--config FILE`, `--config=FILE` (and
 * `-c=FILE`) moved behind the command and its arguments, before any `--`
 * (after which words are arguments, never flags). Left as it is when nothing
 * but such flags is given.
 */
export function commandFirst(argv: readonly string[]): string[] {
  const moved: string[] = []
  let index = 0
  for (; index < argv.length; index++) {
    const arg = argv[index]
    const joined = /^(?:--config|-c)=(.*)$/s.exec(arg)
    if (joined) moved.push(`--config=${joined[1]}`)
    else if ((arg === '-c' || arg === '--config') && index + 1 < argv.length) moved.push(`--config=${argv[++index]}`)
    else break
  }

  if (moved.length === 0 || index === argv.length) return [...argv]
  const rest = argv.slice(index)
  const end = rest.includes('--') ? rest.indexOf('--') : rest.length
  // One --config=VALUE word each: a file name starting with "-" stays a value.
  return [...rest.slice(0, end), ...moved, ...rest.slice(end)]
}
