/**
 * mod_stream_mgmt: stream management (XEP-0198), with ejabberd's module
 * name and options. The counting, acknowledgements and resumption belong to
 * the session (c2s.ts, stream-management.ts), since they follow every byte
 * of one connection; this module turns them on: it announces <sm/> after
 * authentication (§3: the feature is offered once the client may bind), and
 * its options become the sessions' limits (`streamManagementLimits`).
 * Without it, <enable/> and <resume/> get <failed/> with
 * feature-not-implemented (§3, §5).
 */
import {optionDefaults} from '../../config/modules.js'
import {SM_NS} from '../stream-management.js'
import {x} from '../../xml/element.js'
import type {ServerModule} from './types.js'

/** The session limits mod_stream_mgmt's options set (see SessionLimits in c2s.ts). */
export interface StreamManagementLimits {
  resumeTimeoutMs: number
  maxResumeTimeoutMs: number | undefined
  maxUnacknowledged: number
}

/** The limits of mod_stream_mgmt's `configured` options (the defaults filled in, for settings built in code). */
export function streamManagementLimits(configured: Record<string, unknown>): StreamManagementLimits {
  const options = {...optionDefaults('mod_stream_mgmt'), ...configured}
  const maxResume = options.max_resume_timeout as number | undefined
  return {
    resumeTimeoutMs: (options.resume_timeout as number) * 1000,
    maxResumeTimeoutMs: maxResume === undefined ? undefined : maxResume * 1000,
    maxUnacknowledged: options.max_ack_queue as number,
  }
}

export function createStreamMgmtModule(): ServerModule {
  return {
    name: 'mod_stream_mgmt',
    streamManagement: true,
    streamFeatures: () => [x('sm', SM_NS)],
  }
}
