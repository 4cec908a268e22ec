import {userInfo} from 'node:os'

/**
 * The name of the user this process runs as, for messages that say who may
 * not write where ("cannot write … as user xmpp"); its uid when the user has
 * no name (a container's uid without a passwd entry).
 */
export function processUserName(): string {
  try {
    return userInfo().username
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`
  }
}
