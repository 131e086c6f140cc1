export { createIpcLimitServer, type IpcLimitServer, type IpcLimitServerOptions } from './server.js'
export { createIpcLimitStore, type IpcLimitStore, type IpcLimitStoreOptions } from './store.js'
export { isLimitRequest, type IpcEndpoint, type LimitRequest } from './protocol.js'
