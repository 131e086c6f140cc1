export { createListenerManager } from './manager.js'
export { ListenerBindError } from './bind-error.js'
export { assertStrictHttpParser } from './server-options.js'
export { createLogBudget, type LogBudget } from './log-budget.js'
export type {
  ListenerManager,
  ListenerManagerDeps,
  ListenerStats,
  PreparedListeners,
  RequestHandler,
} from './types.js'
export type { AcceptedConnection, ConnectionAcceptor } from './http-listener.js'
export type { L4Side, L4Support, PreparedL4 } from './l4-listener.js'
