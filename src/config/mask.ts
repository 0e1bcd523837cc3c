/**
 * Configuration errors and start-up messages are read by whoever runs the service and often end
 * up in CI logs and tickets: credentials inside connection URLs must never appear in them.
 */

const SECRET_PARAM = /([?&;](?:password|pass|pwd|secret|token|api_key|apikey|sslpassword)=)[^&#;]*/gi;

/**
 * Replaces the password of a URL (and any password-like query parameter, as `?password=` in a
 * libpq URL) with `***`, keeping the user name, host and path for diagnosis. Works on strings that
 * are not valid URLs too (an unencoded '@' or '/' in the password), since those are exactly the
 * ones a configuration error echoes: everything up to the last '@' counts as user information.
 */
export function maskCredentials(value: string): string {
  let out = value;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(out);
  if (scheme) {
    const start = scheme[0].length;
    const at = out.lastIndexOf('@');
    if (at > start) {
      const userinfo = out.slice(start, at);
      const colon = userinfo.indexOf(':');
      if (colon >= 0) out = `${out.slice(0, start)}${userinfo.slice(0, colon)}:***${out.slice(at)}`;
    }
  }
  return out.replace(SECRET_PARAM, '$1***');
}
