/**
 * The messages a worker's limit store and the primary's limit server exchange over the cluster
 * IPC channel. A message carries every operation a worker asked for in one event-loop turn, and
 * the answer every result for it (one serialisation and one channel write each way, however many
 * requests arrived together). Every operation carries an id its answer repeats; releases are not
 * answered. The `t` tag keeps these apart from the other messages on the same channel.
 */
import type { RateDecision, RateRule } from '../ports.js'

export const LIMIT_REQUEST = 'portcullis:limit'
export const LIMIT_ANSWER = 'portcullis:limit-answer'

/** One worker turn's operations. */
export interface LimitRequest {
  readonly t: typeof LIMIT_REQUEST
  readonly ops: readonly LimitOp[]
}

/** The answers to one LimitRequest (releases have none). */
export interface LimitAnswers {
  readonly t: typeof LIMIT_ANSWER
  readonly answers: readonly LimitAnswer[]
}

export type LimitOp =
  | {
      readonly id: number
      readonly op: 'consume'
      readonly key: string
      readonly rule: { readonly limit: number; readonly periodMs: number }
      readonly cost: number
    }
  | {
      readonly id: number
      readonly op: 'acquire'
      readonly key: string
      readonly max: number
      readonly leaseTtlMs: number
    }
  | {
      readonly id: number
      readonly op: 'acquirePair'
      readonly first: { readonly key: string; readonly max: number }
      readonly second: { readonly key: string; readonly max: number }
      readonly leaseTtlMs: number
    }
  | {
      readonly id: number
      readonly op: 'release'
      readonly lease: number
    }
  | {
      readonly id: number
      readonly op: 'count'
      readonly key: string
    }

export interface LimitAnswer {
  readonly id: number
  readonly decision?: RateDecision
  /** acquire: the lease id, absent when the limit is full. */
  readonly lease?: number
  /** acquirePair: the second lease id, absent when the first or the second limit is full. */
  readonly secondLease?: number
  readonly count?: number
  /** The request could not be decided (malformed); the worker treats it as a store failure. */
  readonly error?: string
}

/** One end of an IPC channel: `process` in a worker, a `cluster.Worker` in the primary. */
export interface IpcEndpoint {
  /** Node's `send(message, callback)`: the callback gets an error when the channel is closed. */
  send(message: unknown, callback?: (error: Error | null) => void): boolean
}

export function isLimitRequest(m: unknown): m is LimitRequest {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === LIMIT_REQUEST
}

export function isLimitAnswers(m: unknown): m is LimitAnswers {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === LIMIT_ANSWER
}

export type { RateRule }
