import { address, bool, count, duration, oneOf, settingsGroup } from "../core/settings.ts";
import { LOG_FORMATS } from "./log.ts";

/** What an operator watches and acts through: metrics, the log's format, the web console. */
export const opsSettings = settingsGroup({
  title: "Metrics, logs and the console",
  settings: {
    logFormat: {
      flag: "log-format",
      env: "CATBUS_LOG_FORMAT",
      yaml: "log_format",
      kind: oneOf(LOG_FORMATS),
      default: "text",
      help: "text (time level message key=value…) or json (one JSON object per line)",
    },
    metrics: {
      flag: "metrics",
      env: "CATBUS_METRICS",
      yaml: "metrics.enabled",
      kind: bool,
      default: true,
      help: "GET /metrics (Prometheus text format) on the --bind port; --no-metrics removes it " +
        "there (--metrics-bind still serves it)",
    },
    metricsBind: {
      flag: "metrics-bind",
      env: "CATBUS_METRICS_BIND",
      yaml: "metrics.bind",
      kind: address,
      help: "also serve /metrics on its own HTTP address (e.g. 127.0.0.1:9464); off unless set",
    },
    metricsMaxNamespaces: {
      flag: "metrics-max-namespaces",
      env: "CATBUS_METRICS_MAX_NAMESPACES",
      yaml: "metrics.max_namespaces",
      kind: count,
      default: 100,
      help: 'namespaces reported by name in metrics; the rest are summed as namespace="_other"',
    },
    console: {
      flag: "console",
      env: "CATBUS_CONSOLE",
      yaml: "console.enabled",
      kind: bool,
      help: "the web console at /console and the admin API at /admin/api (default: on when an " +
        "admin key is set; they need one)",
    },
    consoleSessionMs: {
      flag: "console-session",
      env: "CATBUS_CONSOLE_SESSION",
      yaml: "console.session",
      kind: duration,
      default: 30 * 60_000,
      help: "how long a console login lasts (its session cookie)",
    },
  },
});
