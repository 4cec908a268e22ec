/**
 * PBKDF2 on every core: a pool of worker threads, one per core, each running
 * pbkdf2Sync on its share of a batch. The caller (and so every database
 * write) stays on the main thread.
 */
import {availableParallelism} from 'node:os'
import {Worker} from 'node:worker_threads'

import {compiledFile} from '../paths.js'
import type {ScramCredentials, ScramHash} from '../sasl/scram.js'

export interface DeriveTask {
  /** Already SASLprep'd (RFC 4013). */
  password: string
  hashes: readonly ScramHash[]
  iterations: number
}

export interface DeriveRequest {
  id: number
  tasks: DeriveTask[]
}

export interface DeriveResponse {
  id: number
  results: ScramCredentials[][]
}

/** Tasks sent to a worker at a time: small, so the slowest worker finishes last by little. */
const SLICE = 8

export class DerivePool {
  private readonly workers: Worker[] = []
  private readonly idle: Worker[] = []
  private readonly queue: Array<{request: DeriveRequest; resolve: (results: ScramCredentials[][]) => void; reject: (error: Error) => void}> = []
  private readonly pending = new Map<Worker, {resolve: (results: ScramCredentials[][]) => void; reject: (error: Error) => void}>()
  private nextId = 0
  private failure: Error | undefined

  /** Workers start on the first derive(), so an import of SCRAM data never pays for them. */
  constructor(readonly size = availableParallelism()) {}

  private start(): void {
    for (let index = 0; index < Math.max(1, this.size); index++) {
      const worker = new Worker(compiledFile('migrate/derive-worker.js'))
      worker.on('message', (response: DeriveResponse) => this.settle(worker, response))
      worker.on('error', (error) => this.fail(error))
      this.workers.push(worker)
      this.idle.push(worker)
    }
  }

  /** Credentials for every task, in order, derived across the pool. */
  async derive(tasks: readonly DeriveTask[]): Promise<ScramCredentials[][]> {
    const slices: Array<Promise<ScramCredentials[][]>> = []
    for (let start = 0; start < tasks.length; start += SLICE) {
      slices.push(
        new Promise((resolve, reject) => {
          this.queue.push({request: {id: this.nextId++, tasks: tasks.slice(start, start + SLICE)}, resolve, reject})
        }),
      )
    }

    if (this.workers.length === 0 && tasks.length > 0) this.start()
    this.pump()
    return (await Promise.all(slices)).flat()
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()))
  }

  private pump(): void {
    if (this.failure) {
      for (const job of this.queue.splice(0)) job.reject(this.failure)
      return
    }

    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!
      const job = this.queue.shift()!
      this.pending.set(worker, job)
      worker.postMessage(job.request)
    }
  }

  private settle(worker: Worker, response: DeriveResponse): void {
    const job = this.pending.get(worker)
    this.pending.delete(worker)
    this.idle.push(worker)
    // Structured clone turns Buffers into Uint8Arrays; make them Buffers again without copying.
    job?.resolve(
      response.results.map((credentials) =>
        credentials.map((credential) => ({
          ...credential,
          salt: Buffer.from(credential.salt.buffer, credential.salt.byteOffset, credential.salt.byteLength),
          storedKey: Buffer.from(credential.storedKey.buffer, credential.storedKey.byteOffset, credential.storedKey.byteLength),
          serverKey: Buffer.from(credential.serverKey.buffer, credential.serverKey.byteOffset, credential.serverKey.byteLength),
        })),
      ),
    )
    this.pump()
  }

  private fail(error: Error): void {
    this.failure = error
    for (const job of this.pending.values()) job.reject(error)
    this.pending.clear()
    this.pump()
  }
}
