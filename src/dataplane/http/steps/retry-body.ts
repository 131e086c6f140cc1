/**
 * Routes that retry keep a small request body whole (up to RETRY_BODY_CAP_BYTES, as Envoy
 * buffers similarly) so that every attempt, and a mirror, can send it; a larger or unsized body
 * streams once and the request is then not replayed.
 */
import type { RequestContext } from '../context.js'
import type { Next, RequestStep } from '../step.js'

/** Bodies up to this size are kept so a retry can send them again. */
export const RETRY_BODY_CAP_BYTES = 64 * 1024

export const retryBodyStep: RequestStep<true> = {
  name: 'retry-body',
  prepare: ({ retry }) => (retry.attempts > 0 ? true : undefined),
  run(ctx, _state, next) {
    if (!ctx.hasBody || ctx.tunnelHead !== undefined || !isSmallBody(ctx)) return true
    readBody(ctx, next)
    return false
  },
}

function isSmallBody(ctx: RequestContext): boolean {
  const length = ctx.req.headers['content-length']
  return length !== undefined && Number(length) <= RETRY_BODY_CAP_BYTES
}

function readBody(ctx: RequestContext, next: Next): void {
  const chunks: Buffer[] = []
  const req = ctx.req
  req.on('data', (c: Buffer) => {
    chunks.push(c)
    // Progress for the stream idle timeout and the body rate (stream-timeouts.ts).
    ctx.bytesReceived += c.length
  })
  req.once('end', () => {
    const body = Buffer.concat(chunks)
    ctx.bodyBuffer = body
    ctx.bytesReceived = body.length
    next(ctx)
  })
}
