/**
 * A reader for the Lua table literals Prosody writes (`return { ["k"] = "v"; };`).
 * It parses data and nothing else: no expression, call or name lookup is
 * evaluated, so a hostile .dat file can at worst be refused.
 *
 * Lua strings are byte strings; they are returned as Buffers.
 */

export type LuaValue = Buffer | number | boolean | null | LuaTable
export interface LuaTable {
  /** String and numeric keys; numeric keys as their decimal text. */
  entries: Map<string, LuaValue>
}

export class LuaSyntaxError extends Error {
  constructor(message: string, readonly line: number) {
    super(`line ${line}: ${message}`)
  }
}

const MAX_DEPTH = 32

/** Parses `return <value>` (or a bare value) from the bytes of a .dat file. */
export function parseLuaData(source: Buffer): LuaValue {
  const parser = new Parser(source)
  parser.skipSpace()
  if (parser.word('return')) parser.skipSpace()
  const value = parser.value(0)
  parser.skipSpace()
  parser.eat(';')
  parser.skipSpace()
  if (!parser.done()) parser.fail('unexpected text after the value')
  return value
}

/**
 * The items of a Prosody list file (mod_storage_internal's archive stores,
 * `<store>/<user>.list`): `item(<table>);` once per item. Only that call
 * form is read, as data; nothing is evaluated.
 */
export function parseLuaList(source: Buffer): LuaValue[] {
  const parser = new Parser(source)
  const items: LuaValue[] = []
  for (;;) {
    parser.skipSpace()
    if (parser.done()) return items
    if (!parser.word('item')) parser.fail('expected item(…)')
    parser.skipSpace()
    if (!parser.eat('(')) parser.fail('expected "(" after item')
    parser.skipSpace()
    items.push(parser.value(0))
    parser.skipSpace()
    if (!parser.eat(')')) parser.fail('expected ")"')
    parser.skipSpace()
    parser.eat(';')
  }
}

class Parser {
  private position = 0
  private line = 1

  constructor(private readonly source: Buffer) {}

  done(): boolean {
    return this.position >= this.source.length
  }

  fail(message: string): never {
    throw new LuaSyntaxError(message, this.line)
  }

  private peek(offset = 0): number {
    return this.source[this.position + offset] ?? -1
  }

  private next(): number {
    const byte = this.source[this.position++]
    if (byte === 0x0a) this.line++
    return byte
  }

  skipSpace(): void {
    for (;;) {
      const byte = this.peek()
      if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c) this.next()
      else if (byte === 0x2d && this.peek(1) === 0x2d) {
        this.position += 2
        const level = this.longBracketLevel()
        if (level >= 0) this.longString(level)
        else while (!this.done() && this.peek() !== 0x0a) this.next()
      } else return
    }
  }

  eat(character: string): boolean {
    if (this.peek() === character.charCodeAt(0)) {
      this.next()
      return true
    }

    return false
  }

  word(word: string): boolean {
    const end = this.position + word.length
    if (this.source.toString('latin1', this.position, end) !== word) return false
    const after = this.source[end] ?? 0
    if (/[A-Za-z0-9_]/.test(String.fromCharCode(after))) return false
    this.position = end
    return true
  }

  value(depth: number): LuaValue {
    this.skipSpace()
    const byte = this.peek()
    if (byte === 0x7b) return this.table(depth + 1)
    if (byte === 0x22 || byte === 0x27) return this.quotedString()
    if (byte === 0x5b) {
      const level = this.longBracketLevel()
      if (level < 0) this.fail('unexpected "["')
      return this.longString(level)
    }

    if (this.word('true')) return true
    if (this.word('false')) return false
    if (this.word('nil')) return null
    if (byte === 0x2d || byte === 0x2e || (byte >= 0x30 && byte <= 0x39)) return this.number()
    return this.fail(`unexpected ${byte < 0 ? 'end of file' : JSON.stringify(String.fromCharCode(byte))}; only data (tables, strings, numbers, booleans) is read`)
  }

  private table(depth: number): LuaTable {
    if (depth > MAX_DEPTH) this.fail(`tables nested deeper than ${MAX_DEPTH}`)
    this.next() // {
    const entries = new Map<string, LuaValue>()
    let index = 1
    for (;;) {
      this.skipSpace()
      if (this.eat('}')) return {entries}
      let key: string
      if (this.peek() === 0x5b && this.longBracketLevel() < 0) {
        this.next()
        const keyValue = this.value(depth)
        this.skipSpace()
        if (!this.eat(']')) this.fail('expected "]"')
        this.skipSpace()
        if (!this.eat('=')) this.fail('expected "="')
        key = keyText(keyValue, this)
        entries.set(key, this.value(depth))
      } else {
        const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.source.toString('latin1', this.position, this.position + 256))?.[0]
        const save = this.position
        if (name && !['true', 'false', 'nil'].includes(name)) {
          this.position += name.length
          this.skipSpace()
          if (this.eat('=')) {
            entries.set(name, this.value(depth))
          } else {
            this.position = save
            this.fail(`unexpected name ${name}; only data is read`)
          }
        } else {
          entries.set(String(index++), this.value(depth))
        }
      }

      this.skipSpace()
      if (this.eat(',') || this.eat(';')) continue
      if (this.eat('}')) return {entries}
      this.fail('expected ",", ";" or "}"')
    }
  }

  /** The level of a long bracket `[==[` at the position (not consumed), or -1. */
  private longBracketLevel(): number {
    if (this.peek() !== 0x5b) return -1
    let level = 0
    while (this.peek(1 + level) === 0x3d) level++
    return this.peek(1 + level) === 0x5b ? level : -1
  }

  private longString(level: number): Buffer {
    this.position += level + 2
    if (this.peek() === 0x0d) this.next()
    if (this.peek() === 0x0a) this.next()
    const close = Buffer.from(`]${'='.repeat(level)}]`, 'latin1')
    const end = this.source.indexOf(close, this.position)
    if (end < 0) this.fail('unfinished long string')
    const text = this.source.subarray(this.position, end)
    while (this.position < end) this.next()
    this.position = end + close.length
    return Buffer.from(text)
  }

  private quotedString(): Buffer {
    const quote = this.next()
    const bytes: number[] = []
    for (;;) {
      if (this.done()) this.fail('unfinished string')
      const byte = this.next()
      if (byte === quote) return Buffer.from(bytes)
      if (byte === 0x0a) this.fail('unfinished string (newline)')
      if (byte !== 0x5c) {
        bytes.push(byte)
        continue
      }

      const escape = this.next()
      const simple: Record<number, number> = {0x6e: 10, 0x74: 9, 0x72: 13, 0x61: 7, 0x62: 8, 0x66: 12, 0x76: 11, 0x5c: 0x5c, 0x22: 0x22, 0x27: 0x27, 0x0a: 0x0a}
      if (escape in simple) bytes.push(simple[escape])
      else if (escape >= 0x30 && escape <= 0x39) {
        let digits = String.fromCharCode(escape)
        while (digits.length < 3 && this.peek() >= 0x30 && this.peek() <= 0x39) digits += String.fromCharCode(this.next())
        const value = Number(digits)
        if (value > 255) this.fail(`decimal escape \\${digits} is larger than 255`)
        bytes.push(value)
      } else if (escape === 0x78) {
        const hex = String.fromCharCode(this.next(), this.next())
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) this.fail('bad \\x escape')
        bytes.push(Number.parseInt(hex, 16))
      } else if (escape === 0x7a) {
        while (/\s/.test(String.fromCharCode(this.peek()))) this.next()
      } else if (escape === 0x75) {
        if (!this.eat('{')) this.fail('bad \\u escape')
        let hex = ''
        while (this.peek() !== 0x7d && hex.length < 8) hex += String.fromCharCode(this.next())
        if (!this.eat('}') || !/^[0-9A-Fa-f]+$/.test(hex)) this.fail('bad \\u escape')
        bytes.push(...Buffer.from(String.fromCodePoint(Number.parseInt(hex, 16)), 'utf8'))
      } else this.fail(`unknown escape \\${String.fromCharCode(escape)}`)
    }
  }

  private number(): number {
    const text = /^-?(?:0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/.exec(this.source.toString('latin1', this.position, this.position + 64))?.[0]
    if (!text) this.fail('bad number')
    this.position += text.length
    return Number(text)
  }
}

function keyText(value: LuaValue, parser: Parser): string {
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  if (typeof value === 'number') return String(value)
  if (typeof value === 'boolean') return String(value)
  return parser.fail('a table key must be a string, number or boolean')
}
