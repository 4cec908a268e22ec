/**
 * What `test-auth` returns: the steps it took against the real backend, each
 * with a status, timing, and for a failure a specific cause and fix. Data
 * first: the command renders it, `--json` prints it, tests assert on it.
 */
import {performance} from 'node:perf_hooks'

import type {AuthMethod} from '../../sasl/session.js'

export type StepStatus = 'ok' | 'info' | 'warn' | 'fail' | 'skip'

export interface DiagnosticStep {
  /** Stable identifier for scripts and tests ("socket-permissions", "reply-timeout"). */
  id: string
  title: string
  status: StepStatus
  detail: string
  ms: number
  cause?: string
  fix?: string
}

/**
 * `accepted`/`rejected`/`disabled`: the verdict on the credentials given;
 * `reachable`: the backend answered (no credentials given); `unavailable`: it
 * could not be asked; `misconfigured`: the configuration cannot work.
 */
export type Verdict = 'accepted' | 'rejected' | 'disabled' | 'reachable' | 'unavailable' | 'misconfigured'

export interface BackendDiagnosis {
  backend: AuthMethod
  host: string
  jid?: string
  verdict: Verdict
  /** Steps that failed (security findings included): non-zero means something to fix. */
  problems: number
  steps: DiagnosticStep[]
  ms: number
}

export type StepResult = Omit<DiagnosticStep, 'id' | 'title' | 'ms'>

export class Recorder {
  readonly steps: DiagnosticStep[] = []
  private readonly started = performance.now()

  /** Records a step; `run` returns its result (timed). */
  async step(id: string, title: string, run: () => Promise<StepResult> | StepResult): Promise<DiagnosticStep> {
    const started = performance.now()
    const result = await run()
    const step: DiagnosticStep = {id, title, ...result, ms: round(performance.now() - started)}
    this.steps.push(step)
    return step
  }

  add(id: string, title: string, result: StepResult, ms = 0): DiagnosticStep {
    const step: DiagnosticStep = {id, title, ...result, ms: round(ms)}
    this.steps.push(step)
    return step
  }

  finish(backend: AuthMethod, host: string, verdict: Verdict, jid?: string): BackendDiagnosis {
    return {
      backend,
      host,
      ...(jid === undefined ? {} : {jid}),
      verdict,
      problems: this.steps.filter((step) => step.status === 'fail').length,
      steps: this.steps,
      ms: round(performance.now() - this.started),
    }
  }
}

export function round(ms: number): number {
  return Math.round(ms * 10) / 10
}

export const ok = (detail: string): StepResult => ({status: 'ok', detail})
export const info = (detail: string): StepResult => ({status: 'info', detail})
export const warn = (detail: string, cause?: string, fix?: string): StepResult => ({status: 'warn', detail, ...(cause ? {cause} : {}), ...(fix ? {fix} : {})})
export const fail = (detail: string, cause?: string, fix?: string): StepResult => ({status: 'fail', detail, ...(cause ? {cause} : {}), ...(fix ? {fix} : {})})
export const skip = (detail: string): StepResult => ({status: 'skip', detail})
