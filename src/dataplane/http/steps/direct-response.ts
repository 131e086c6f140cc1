/** The route's direct response: terminal, its status, body and response headers. */
import { sendLocalReply } from '../local-reply.js'
import type { RequestStep } from '../step.js'

interface DirectResponse {
  readonly status: number
  readonly body: Buffer | undefined
}

export const directResponseStep: RequestStep<DirectResponse> = {
  name: 'direct-response',
  prepare({ route }) {
    const action = route.action
    if (action.kind !== 'direct') return undefined
    const body = action.body
    return {
      status: action.status,
      body:
        body === undefined
          ? undefined
          : 'text' in body
            ? Buffer.from(body.text, 'utf8')
            : Buffer.from(body.base64, 'base64'),
    }
  },
  run(ctx, direct) {
    sendLocalReply(ctx, direct.status, 0, 'direct_response', direct.body)
    return false
  },
}
