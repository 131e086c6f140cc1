export { createListenerManager } from './manager.js'
export { ListenerBindError } from './bind-error.js'
export { assertStrictHttpParser } from './server-options.js'
export type {
  ListenerManager,
  ListenerManagerDeps,
  ListenerStats,
  PreparedListeners,
  RequestHandler,
} from './types.js'
