/** cli/: argument parsing, help, and the commands that need no running gateway. */
export {
  DEFAULT_CONFIG_PATH,
  parseCommand,
  type Command,
  type LogFormat,
  type LogOptions,
} from './args.js'
export { MAIN_USAGE, RUN_USAGE, VALIDATE_USAGE, VERSION_USAGE } from './usage.js'
export { runValidate, summary, type ValidateOptions } from './validate.js'
export { packageVersion, versionText } from './version.js'
export { CERTS_USAGE, runCerts } from './certs.js'
export { runSuggest, SUGGEST_USAGE } from './suggest.js'
export { DESCRIBE_USAGE, runDescribe } from './describe.js'
