/**
 * The rules Zendesk applies to an uploaded app package, as published in Zendesk's own validator
 * (the zendesk_apps_support gem: `Package#validate`, `Validations::Manifest`, `::Translations`,
 * `::Marketplace`, `::Mime`, `::SecureSettings`, `::Requests`, `::Secrets`) and the manifest
 * reference (developer.zendesk.com, "Manifest reference"). `zcli apps:package` itself zips the
 * folder and asks Zendesk's API to run these, which needs credentials and the network; this
 * checks the same rules offline. Errors refuse the upload; warnings are what Zendesk warns about.
 */

const PARAMETER_TYPES = ['text', 'checkbox', 'url', 'number', 'multiline', 'hidden', 'oauth'];
const SECURE_PARAM_SCOPES = ['header', 'body', 'url', 'jwt_secret_key', 'jwt_claim', 'basic_auth_username', 'basic_auth_password'];
/** Zendesk Support's locations (Location::LOCATIONS_AVAILABLE, product support). */
const SUPPORT_LOCATIONS = [
  'top_bar',
  'nav_bar',
  'ticket_sidebar',
  'new_ticket_sidebar',
  'user_sidebar',
  'organization_sidebar',
  'background',
  'modal',
  'ticket_editor',
  'system_top_bar',
];
const SERVED_FRAMEWORK_VERSIONS = ['2.0'];
const VALID_LOCALE = /^[a-z]{2,3}(-\w{2,3})?$/;
const UNSUPPORTED_EXTENSIONS = [
  'rar',
  'zip',
  'gz',
  'gzip',
  'pdf',
  'doc',
  'docx',
  'avi',
  'bin',
  'bz',
  'bz2',
  'csh',
  'sh',
  'jar',
  'mp3',
  'mpeg',
  'odt',
  'pptx',
  'ppt',
  'xls',
  'xlsx',
  '7z',
];
/** A few of Validations::Secrets' patterns (the ones a sidebar's code could plausibly trip). */
const SECRET_PATTERNS: Record<string, RegExp> = {
  'Slack Token': /(xox[p|b|o|a]-*.[a-z0-9])/,
  'RSA Private Key': /-----BEGIN RSA PRIVATE KEY-----/,
  'Generic Secret': /^([sS][eE][cC][rR][eE][tT]( [:"=-]|[:"=-]).*.[0-9a-zA-Z+_.-]{4,156})/m,
  Password: /([pP][aA][sS][sS][wW][oO][rR][dD].*.[0-9a-zA-Z+_.-]{4,156})/,
  Token: /([tT][oO][kK][eE][nN]( [:"=-]|[:"=-]).*.[0-9a-zA-Z+_.-]{4,156})/,
};

export interface PackageFindings {
  readonly errors: string[];
  readonly warnings: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function checkZafPackage(files: ReadonlyMap<string, Buffer>): PackageFindings {
  const errors: string[] = [];
  const warnings: string[] = [];
  const text = (p: string) => files.get(p)?.toString('utf8');

  const raw = text('manifest.json');
  if (raw === undefined) {
    const nested = [...files.keys()].find((f) => /^[^/]+\/manifest\.json$/.test(f));
    return { errors: [nested ? `manifest.json is nested in ${nested}: it must be at the root of the zip` : 'missing manifest.json'], warnings };
  }
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(raw) as Record<string, unknown>;
  } catch (e) {
    return { errors: [`manifest.json is not JSON: ${(e as Error).message}`], warnings };
  }

  // Required keys and types.
  if (!isObj(m.author)) errors.push('manifest: missing author');
  else {
    for (const k of ['name', 'email', 'url'])
      if (m.author[k] !== undefined && typeof m.author[k] !== 'string') errors.push(`manifest: author ${k} must be a string`);
    if (typeof m.author.url === 'string' && !/^https?:\/\/[^/\s]+/.test(m.author.url)) errors.push('manifest: author url must be a valid URL');
  }
  if (typeof m.defaultLocale !== 'string') errors.push('manifest: missing defaultLocale');
  else if (!VALID_LOCALE.test(m.defaultLocale)) errors.push(`manifest: invalid defaultLocale ${m.defaultLocale}`);
  else if (!files.has(`translations/${m.defaultLocale}.json`)) errors.push(`missing translation file translations/${m.defaultLocale}.json`);
  for (const k of ['requirementsOnly', 'marketingOnly', 'singleInstall', 'signedUrls', 'private'])
    if (m[k] !== undefined && typeof m[k] !== 'boolean') errors.push(`manifest: ${k} must be a boolean`);
  for (const k of ['version', 'frameworkVersion', 'defaultLocale'])
    if (m[k] !== undefined && typeof m[k] !== 'string') errors.push(`manifest: ${k} must be a string`);
  if (m.frameworkVersion === undefined) errors.push('manifest: missing frameworkVersion');
  else if (!SERVED_FRAMEWORK_VERSIONS.includes(m.frameworkVersion as string))
    errors.push(`manifest: frameworkVersion ${String(m.frameworkVersion)} is not served (available: ${SERVED_FRAMEWORK_VERSIONS.join(', ')})`);
  if (m.domainWhitelist !== undefined && !(Array.isArray(m.domainWhitelist) && m.domainWhitelist.every((d) => typeof d === 'string')))
    errors.push('manifest: domainWhitelist must be an array of strings');

  // Locations: v2 apps give URLs; relative ones must be files under assets/.
  const location = m.location;
  if (!isObj(location) || Object.keys(location).length === 0) errors.push('manifest: missing location');
  else {
    for (const [product, locs] of Object.entries(location)) {
      if (product !== 'support') {
        errors.push(`manifest: this check knows the support product only, not ${product}`);
        continue;
      }
      if (!isObj(locs)) {
        errors.push('manifest: location.support must be an object of locations');
        continue;
      }
      for (const [name, opts] of Object.entries(locs)) {
        if (!SUPPORT_LOCATIONS.includes(name)) errors.push(`manifest: ${name} is an invalid location in Support`);
        const url = typeof opts === 'string' ? opts : isObj(opts) ? opts.url : undefined;
        if (typeof url !== 'string' || url === '') {
          if (!isObj(opts) || opts.autoLoad !== false) errors.push(`manifest: location ${name} has no URL (v2 locations must be URLs)`);
        } else if (!url.includes('{{setting.')) {
          const absolute = /^[a-z]+:\/\//i.test(url);
          if (
            absolute ? !(url.startsWith('https://') || new URL(url).hostname === 'localhost') : !(url.startsWith('assets/') && files.has(url.split(/[?#]/)[0]!))
          ) {
            errors.push(`manifest: invalid location URI ${url}`);
          }
        }
        if (isObj(opts) && opts.flexible !== undefined && typeof opts.flexible !== 'boolean')
          errors.push(`manifest: location ${name} flexible must be a boolean`);
      }
    }
  }

  // Parameters.
  const params = m.parameters;
  if (params !== undefined && !Array.isArray(params)) errors.push('manifest: parameters must be an array');
  const list = (Array.isArray(params) ? params : []) as Record<string, unknown>[];
  const names = list.map((p) => p.name);
  const dup = names.filter((n, i) => names.indexOf(n) !== i);
  if (dup.length) errors.push(`manifest: duplicate parameters ${dup.join(', ')}`);
  for (const p of list) {
    const type = (p.type as string | undefined) ?? 'text';
    if (!PARAMETER_TYPES.includes(type)) errors.push(`manifest: ${type} is an invalid parameter type`);
    if (p.name === 'name') errors.push('manifest: a parameter may not be called "name"');
    for (const k of ['required', 'secure'])
      if (p[k] !== undefined && typeof p[k] !== 'boolean') errors.push(`manifest: parameters[name="${String(p.name)}"].${k} must be a boolean`);
    if (type === 'hidden' && p.required) errors.push(`manifest: hidden parameter ${String(p.name)} cannot be required`);
    if (type === 'oauth' && p.secure) errors.push('manifest: oauth parameter cannot be set to be secure');
    if (p.scopes !== undefined) {
      if (!p.secure) errors.push(`manifest: parameters[name="${String(p.name)}"].scopes cannot be defined in a non-secure parameter`);
      if (!Array.isArray(p.scopes) || p.scopes.length === 0) errors.push(`manifest: parameters[name="${String(p.name)}"].scopes must be a non-empty array`);
      else {
        const bad = (p.scopes as unknown[]).filter((s) => !SECURE_PARAM_SCOPES.includes(s as string));
        if (bad.length) errors.push(`manifest: parameters[name="${String(p.name)}"].scopes contains invalid values: ${bad.join(', ')}`);
      }
    }
    // Warnings Zendesk gives (SecureSettings).
    if (typeof p.name === 'string' && /token|key|pwd|password/i.test(p.name) && type === 'text' && !p.secure)
      warnings.push(`parameter ${p.name} looks like a secret but is not secure`);
    if ('default' in p && (p.secure || type === 'hidden'))
      warnings.push(`parameter ${String(p.name)}: defaults of secure or hidden parameters are not stored securely`);
    if (p.secure && !(Array.isArray(p.scopes) && p.scopes.length)) warnings.push(`secure parameter ${String(p.name)} has no scopes`);
  }
  if (list.some((p) => p.secure) && !(Array.isArray(m.domainWhitelist) && m.domainWhitelist.length))
    errors.push('manifest: secure settings need domainWhitelist (the domains they may be sent to)');

  // Translations.
  for (const [f, buf] of files) {
    const t = /^translations\/(.*)\.json$/.exec(f);
    if (!t) continue;
    if (!VALID_LOCALE.test(t[1]!)) errors.push(`${f}: invalid locale`);
    let json: unknown;
    try {
      json = JSON.parse(buf.toString('utf8'));
    } catch (e) {
      errors.push(`${f} is not valid JSON: ${(e as Error).message}`);
      continue;
    }
    if (!isObj(json)) {
      errors.push(`${f} is not a JSON object`);
      continue;
    }
    const app = isObj(json.app) ? json.app : {};
    if (isObj(app.parameters))
      for (const [k, v] of Object.entries(app.parameters)) if (!isObj(v) || !('label' in v)) errors.push(`${f}: missing required key label on leaf ${k}`);
    if (f === 'translations/en.json') {
      const required = m.private === false ? ['name', 'short_description', 'installation_instructions', 'long_description'] : ['name'];
      const keys = Object.keys(app).map((k) => (k === 'description' ? 'short_description' : k));
      const missing = required.filter((k) => !keys.includes(k));
      if (missing.length) errors.push(`${f}: missing required key ${missing.join(', ')}`);
    }
    for (const p of list)
      if (typeof p.name === 'string' && !(isObj(app.parameters) && isObj(app.parameters[p.name]))) warnings.push(`${f}: no label for parameter ${p.name}`);
  }

  // Files: no archives or other blocked types inside; the logos the app header and the admin list show.
  for (const f of files.keys()) {
    const ext = f.split('.').pop()!.toLowerCase();
    if (UNSUPPORTED_EXTENSIONS.includes(ext)) errors.push(`unsupported file type in the package: ${f}`);
  }
  for (const logo of ['assets/logo.png', 'assets/logo-small.png']) if (!files.has(logo)) errors.push(`missing ${logo} (the app's logo in Zendesk)`);

  // Warnings from Requests and Secrets.
  for (const [f, buf] of files) {
    if (!/\.(html?|js|json|xml)$/.test(f)) continue;
    const content = buf.toString('utf8');
    if (/\.(html?|js)$/.test(f) && /http:\/\/[^\s"'<>]+/.test(content)) warnings.push(`possible insecure HTTP request in ${f}`);
    for (const [what, re] of Object.entries(SECRET_PATTERNS)) if (re.test(content)) warnings.push(`possible ${what} in ${f}`);
  }
  return { errors, warnings };
}
