import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { zipSync } from 'fflate';

/**
 * `npm run app:package [-- --domain lifecycle-desk.acme.com]`: builds the Zendesk app and zips it
 * in the layout Zendesk accepts (what `zcli apps:package` makes: manifest.json, translations/ and
 * assets/ at the root of the zip). zcli itself is not used because it uploads the zip to Zendesk's
 * validation API (POST /api/v2/apps/validate) and so needs credentials and the network; the test
 * checks the zip against the published manifest rules instead.
 *
 * The app's script (with the ZAF SDK) and styles (Zendesk Garden) are bundled into assets/: the
 * app loads nothing from a CDN. `--domain` sets the manifest's domainWhitelist: Zendesk's proxy
 * only sends the secure setting (the shared secret) to the domains listed there.
 */

const compiled = __dirname.split(path.sep).includes('dist');
/** zendesk-app/, from the source file or from its compiled copy under dist/. */
export const APP_DIR = path.resolve(__dirname, compiled ? '../../../zendesk-app' : '..');
const REPO = path.dirname(APP_DIR);

export interface PackageOptions {
  /** Host name(s) of the Lifecycle Desk service, for domainWhitelist (default: the manifest's). */
  readonly domains?: readonly string[];
  /** Where the staged app and the zip go (default zendesk-app/dist). */
  readonly outDir?: string;
}

export interface PackageResult {
  readonly zipPath: string;
  readonly stageDir: string;
  /** Paths inside the zip. */
  readonly files: readonly string[];
}

const HOST = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export async function packageApp(opts: PackageOptions = {}): Promise<PackageResult> {
  const outDir = path.resolve(opts.outDir ?? path.join(APP_DIR, 'dist'));
  const stageDir = path.join(outDir, 'app');
  fs.rmSync(stageDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(stageDir, 'assets'), { recursive: true });
  fs.mkdirSync(path.join(stageDir, 'translations'), { recursive: true });

  const manifest = JSON.parse(fs.readFileSync(path.join(APP_DIR, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  if (opts.domains?.length) {
    const bad = opts.domains.filter((d) => !HOST.test(d));
    if (bad.length) throw new Error(`--domain: ${bad.join(', ')} is not a host name (give lifecycle-desk.acme.com, without https:// or a path)`);
    manifest.domainWhitelist = [...opts.domains];
  }
  fs.writeFileSync(path.join(stageDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const f of fs.readdirSync(path.join(APP_DIR, 'translations')))
    fs.copyFileSync(path.join(APP_DIR, 'translations', f), path.join(stageDir, 'translations', f));
  for (const f of ['logo.png', 'logo-small.png']) fs.copyFileSync(path.join(APP_DIR, 'assets', f), path.join(stageDir, 'assets', f));
  fs.copyFileSync(path.join(APP_DIR, 'src', 'iframe.html'), path.join(stageDir, 'assets', 'iframe.html'));

  await build({
    entryPoints: { app: path.join(APP_DIR, 'src', 'main.ts') },
    outdir: path.join(stageDir, 'assets'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    absWorkingDir: REPO,
    nodePaths: [path.join(REPO, 'node_modules')],
  });
  await build({
    entryPoints: { app: path.join(APP_DIR, 'src', 'styles.css') },
    outdir: path.join(stageDir, 'assets'),
    bundle: true,
    minify: true,
    logLevel: 'silent',
    absWorkingDir: REPO,
    nodePaths: [path.join(REPO, 'node_modules')],
  });

  const files = listFiles(stageDir);
  // A fixed timestamp: the same sources give the same zip.
  const mtime = new Date('2026-01-01T00:00:00Z');
  const zipped = zipSync(Object.fromEntries(files.map((f) => [f, [fs.readFileSync(path.join(stageDir, f)), { mtime }]])), { level: 9 });
  const zipPath = path.join(outDir, 'lifecycle-desk-zendesk-app.zip');
  fs.writeFileSync(zipPath, zipped);
  return { zipPath, stageDir, files };
}

function listFiles(dir: string, prefix = ''): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

function parseArgs(argv: readonly string[]): PackageOptions {
  const domains: string[] = [];
  let outDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--domain')
      domains.push(
        ...(argv[++i] ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    else if (a === '--out') outDir = argv[++i];
    else throw new Error(`unknown argument ${a}; usage: npm run app:package [-- --domain host[,host]] [--out dir]`);
  }
  return { ...(domains.length ? { domains } : {}), ...(outDir ? { outDir } : {}) };
}

if (require.main === module) {
  packageApp(parseArgs(process.argv.slice(2))).then(
    (r) => console.log(`Zendesk app packaged: ${path.relative(process.cwd(), r.zipPath)} (${r.files.length} files)`),
    (err: Error) => {
      console.error(`app:package failed: ${err.message}`);
      process.exit(1);
    },
  );
}
