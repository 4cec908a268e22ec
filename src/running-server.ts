/**
 * Changes made offline (accounts, certificates) reach the server running on
 * the same data directory through its control socket. The files already hold
 * each change, so a server that cannot be told is a warning, never a failure.
 */
import type {Configuration} from './config/index.js'

export type AccountEvent = {type: 'user-deleted' | 'user-disabled' | 'password-changed'; jid: string}

/** What a running server did about an account change; absent when no server runs. */
export interface ServerNotice {
  /** Sessions of the account the server closed. */
  closed: number
}

/** Tells the running server that an account changed: it drops cached answers and closes the account's sessions. */
export async function tellRunningServer(config: Configuration, event: AccountEvent): Promise<{notice?: ServerNotice; warning?: string}> {
  const {notifyServer} = await import('./server/control.js')
  try {
    const result = await notifyServer(config, event)
    return result.notified ? {notice: {closed: result.closed ?? 0}} : {}
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    return {warning: `the change is stored, but the running server could not be told (${reason}); run "xmppctl reload" so it takes effect`}
  }
}

/**
 * Tells the running server that a roster item changed in the store, so that
 * the account's online sessions get a roster push; nothing when none runs.
 */
export async function pushRosterChange(config: Configuration, jid: string, contact: string): Promise<{pushed?: number; warning?: string}> {
  const {ServerNotRunningError, controlRequest} = await import('./server/control.js')
  try {
    const result = (await controlRequest(config, {command: 'roster-changed', jid, contact}, 5000)) as {pushed: number}
    return {pushed: result.pushed}
  } catch (error) {
    if (error instanceof ServerNotRunningError) return {}
    const reason = error instanceof Error ? error.message : String(error)
    return {warning: `the change is stored, but the running server could not be told (${reason}); online clients see it when they next fetch the roster`}
  }
}

/** Makes the running server re-read its configuration and certificates; nothing when none runs. */
export async function reloadRunningServer(config: Configuration): Promise<{reloaded: boolean; warning?: string}> {
  const {ServerNotRunningError, controlRequest} = await import('./server/control.js')
  try {
    await controlRequest(config, {command: 'reload'})
    return {reloaded: true}
  } catch (error) {
    if (error instanceof ServerNotRunningError) return {reloaded: false}
    const reason = error instanceof Error ? error.message : String(error)
    return {reloaded: false, warning: `the running server could not be reloaded (${reason}); run "xmppctl reload"`}
  }
}

/** Whether a server answers on this configuration's control socket. */
export async function serverRunning(config: Configuration): Promise<boolean> {
  const {ServerNotRunningError, controlRequest} = await import('./server/control.js')
  try {
    await controlRequest(config, {command: 'status'}, 5000)
    return true
  } catch (error) {
    if (error instanceof ServerNotRunningError) return false
    // A socket that does not answer in time still belongs to a server that holds the store.
    return true
  }
}
