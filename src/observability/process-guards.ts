import type { Logger } from './logger';

/**
 * Keeps one failing request from taking the whole process (web and workers) down. Node ends the
 * process on an uncaught exception or an unhandled rejection; a bug reachable from one request
 * (inside a library's callback, where no request handler can catch it) would then drop every
 * other request and every running job. Instead it is logged and the process keeps serving; the
 * request it belonged to gets its error answer from its own handler or timeout.
 * Returns a function that removes the guards (for `stop`).
 */
export function guardProcess(logger: Logger): () => void {
  const describe = (e: unknown) => (e instanceof Error ? { message: e.message, name: e.name, stack: e.stack } : { message: String(e) });
  const onRejection = (reason: unknown) => logger.error({ err: describe(reason) }, 'unhandled promise rejection; the process keeps serving');
  const onException = (err: unknown) => logger.error({ err: describe(err) }, 'uncaught exception; the process keeps serving');
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
