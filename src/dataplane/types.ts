/** Contracts between the listener layer (listeners/) and the HTTP request path (http/). */
import type * as ir from '../ir/index.js'

/** What a request needs to know about the listener it arrived on. Built once per listener. */
export interface ListenerContext {
  readonly id: ir.ListenerId
  readonly address: string
  readonly port: number
  readonly scheme: 'http' | 'https'
}
