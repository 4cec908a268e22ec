/**
 * The server process's memory allocator (`memory_allocator`). glibc's malloc
 * keeps what closed sessions freed: with 2,000 idle TLS sessions opened and
 * closed, RSS ended higher than with them open (issue 19). jemalloc, with a
 * background thread and a short decay, gives freed pages back within seconds.
 * An allocator can only be chosen when a process starts (LD_PRELOAD), so the
 * choice is made by whoever spawns the server: `xmppctl start` in the
 * background, and the cluster supervisor for its workers.
 */
import {existsSync, readFileSync} from 'node:fs'

import {UnsupportedError} from '../errors.js'

export type AllocatorSetting = 'auto' | 'jemalloc' | 'system'
export type Allocator = 'jemalloc' | 'system'

/** Where Debian's libjemalloc2 (and other distributions' packages) put the library. */
const JEMALLOC_PATHS = [
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/arm-linux-gnueabihf/libjemalloc.so.2',
  '/usr/lib/i386-linux-gnu/libjemalloc.so.2',
  '/usr/lib/riscv64-linux-gnu/libjemalloc.so.2',
  '/usr/lib64/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
  '/usr/local/lib/libjemalloc.so.2',
]

/**
 * Decay freed pages within a second and purge them from a background thread,
 * so an idle server returns memory without waiting for its next allocation
 * (jemalloc's defaults wait 10 s, and only purge while allocating).
 */
export const JEMALLOC_CONF = 'background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0'

export function findJemalloc(candidates: readonly string[] = JEMALLOC_PATHS): string | undefined {
  if (process.platform !== 'linux') return undefined
  return candidates.find((candidate) => existsSync(candidate))
}

export interface AllocatorChoice {
  allocator: Allocator
  /** The environment to start the server process with. */
  env: NodeJS.ProcessEnv
}

/**
 * The environment a server process starts with for `setting`: with jemalloc,
 * LD_PRELOAD names it (ahead of what the operator preloads) and MALLOC_CONF
 * gets JEMALLOC_CONF unless the operator set one. `auto` takes jemalloc when
 * it is installed (`library`, from findJemalloc) and the system allocator
 * otherwise; `jemalloc` asked for and not installed is refused rather than
 * silently not used.
 */
export function allocatorEnvironment(setting: AllocatorSetting, env: NodeJS.ProcessEnv, library: string | undefined): AllocatorChoice {
  if (setting === 'system') return {allocator: 'system', env}
  if (library === undefined) {
    if (setting === 'jemalloc') throw new UnsupportedError('memory_allocator is jemalloc, but libjemalloc.so.2 is not installed', 'install it (Debian: apt-get install libjemalloc2), or set memory_allocator: auto')
    return {allocator: 'system', env}
  }

  const preload = env.LD_PRELOAD?.split(/[\s:]+/).filter(Boolean) ?? []
  return {
    allocator: 'jemalloc',
    env: {...env, LD_PRELOAD: [library, ...preload.filter((entry) => entry !== library)].join(':'), MALLOC_CONF: env.MALLOC_CONF ?? JEMALLOC_CONF},
  }
}

/** The allocator this process runs on: jemalloc when its library is mapped. */
export function activeAllocator(maps = '/proc/self/maps'): Allocator {
  try {
    return /\/libjemalloc\.so/.test(readFileSync(maps, 'utf8')) ? 'jemalloc' : 'system'
  } catch {
    return 'system'
  }
}
