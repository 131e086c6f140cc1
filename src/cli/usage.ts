/** Help texts. Each command's --help prints its own; `portcullis --help` prints the overview. */

export const MAIN_USAGE = `Usage: portcullis <command> [options]

Runs Istio networking YAML (Gateway, VirtualService, DestinationRule, ServiceEntry) as a
standalone edge gateway.

Commands:
  run        serve traffic from a config
  validate   check config files and report problems with file:line
  describe   explain which server, route and destination a request would reach, and why
  version    print the version
  suggest    print ServiceEntries for egress destinations a gateway saw (suggest serviceentries)
  certs      make a development CA and certificates for credentialName (certs ca | certs issue)

Global options:
  --log-level <level>    debug | info | warn | error (env PORTCULLIS_LOG_LEVEL; default info)
  --log-format <format>  text | json (env PORTCULLIS_LOG_FORMAT; default text)
  -h, --help             show help

Run 'portcullis <command> --help' for a command's options.
`

export const RUN_USAGE = `Usage: portcullis run [-c PATH]... [options]

Serves traffic from the config. PATH is a YAML file or a directory of .yaml/.yml files
(default: gateway.yaml); -c may be given more than once.

Reloads the config on SIGHUP, on POST /reload to the admin API, and when a config file
changes. An invalid config is rejected and the running one keeps serving.
SIGTERM or SIGINT drains (readiness turns 503 first) and exits; a second one exits at once.
SIGUSR1 reopens the access-log file.

Options:
  -c, --config <path>    config file or directory (repeatable)
  --no-watch             do not watch the config files; reload on SIGHUP or POST /reload only
  --log-level <level>    debug | info | warn | error
  --log-format <format>  text | json
  -h, --help             show this help
`

export const VALIDATE_USAGE = `Usage: portcullis validate PATH... [--format text|json]

Loads and compiles the config exactly as 'run' would and prints every diagnostic.
PATH is a YAML file or a directory of .yaml/.yml files.

Exit status: 0 no errors (warnings may be printed), 1 errors found, 2 usage error.

Options:
  --format <format>      text (default) or json
  -h, --help             show this help
`

export const VERSION_USAGE = `Usage: portcullis version

Prints the version of portcullis and of Node.js.
`
