/** Checks passwords through the real CLI (`user check`), a few at a time. */
import assert from 'node:assert/strict'

import {runCli} from '../../helpers.js'

export async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += size) await Promise.all(items.slice(start, start + size).map(fn))
}

/** Every account accepts its password and refuses a wrong one. */
export async function assertPasswords(dir: string, accounts: ReadonlyArray<{jid: string; password: string}>): Promise<void> {
  await inBatches(accounts, 4, async ({jid, password}) => {
    const right = await runCli(['user', 'check', jid, '--password-stdin'], {cwd: dir, stdin: `${password}\n`})
    assert.equal(right.status, 0, `${jid} refuses its password: ${right.stdout}${right.stderr}`)
    const wrong = await runCli(['user', 'check', jid, '--password-stdin'], {cwd: dir, stdin: `${password}x\n`})
    assert.equal(wrong.status, 1, `${jid} accepts a wrong password: ${wrong.stdout}${wrong.stderr}`)
  })
}
