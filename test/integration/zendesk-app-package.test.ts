import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { packageApp } from '../../zendesk-app/build/package-app';
import type { PackageResult } from '../../zendesk-app/build/package-app';
import { checkZafPackage } from '../helpers/zaf-package-rules';

/** `npm run app:package` builds the zip Zendesk accepts: checked against Zendesk's published package rules. */

let pkg: PackageResult;
let files: Map<string, Buffer>;
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-zaf-pkg-'));

beforeAll(async () => {
  pkg = await packageApp({ domains: ['lifecycle-desk.acme.example'], outDir });
  files = new Map(Object.entries(unzipSync(fs.readFileSync(pkg.zipPath))).map(([k, v]) => [k, Buffer.from(v)]));
}, 60_000);
afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }));

const manifest = () => JSON.parse(files.get('manifest.json')!.toString('utf8'));

it('zips manifest.json, translations/ and assets/ at the root, nothing else', () => {
  expect([...files.keys()].sort()).toEqual([
    'assets/app.css',
    'assets/app.js',
    'assets/iframe.html',
    'assets/logo-small.png',
    'assets/logo.png',
    'manifest.json',
    'translations/en.json',
  ]);
});

it('passes the published package rules with no errors and no warnings', () => {
  expect(checkZafPackage(files)).toEqual({ errors: [], warnings: [] });
});

it('declares both ticket locations, the service URL and a secure shared secret usable only to sign the JWT', () => {
  const m = manifest();
  expect(Object.keys(m.location.support).sort()).toEqual(['new_ticket_sidebar', 'ticket_sidebar']);
  expect(m.frameworkVersion).toBe('2.0');
  expect(m.domainWhitelist).toEqual(['lifecycle-desk.acme.example']);
  expect(m.parameters).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ name: 'service_url', type: 'url', required: true }),
      { name: 'shared_secret', type: 'text', required: true, secure: true, scopes: ['jwt_secret_key'] },
    ]),
  );
});

it('bundles the ZAF SDK and Zendesk Garden: nothing is loaded from elsewhere', () => {
  const html = files.get('assets/iframe.html')!.toString('utf8');
  expect([...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])).toEqual(['app.css', 'app.js']);
  const js = files.get('assets/app.js')!.toString('utf8');
  expect(js).toContain('iframe.handshake'); // the SDK's own handshake
  expect(js).not.toMatch(/zdassets|cdn|https?:\/\/[a-z]/i);
  const css = files.get('assets/app.css')!.toString('utf8');
  expect(css).toContain('.c-btn');
  expect(css).toContain('.c-callout');
  expect(css).not.toMatch(/@import|url\(https?:/);
  // The secret is never in the app: only the placeholder the proxy fills in.
  expect(js).toContain('{{setting.shared_secret}}');
});

it('refuses a domain that is not a host name', async () => {
  await expect(packageApp({ domains: ['https://desk.acme.example/path'], outDir })).rejects.toThrow(/is not a host name/);
});

// A manifest a case breaks on purpose, any shape at all.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyManifest = Record<string, any>;

describe('the rules catch what Zendesk refuses (so passing them means something)', () => {
  const broken = (change: (m: AnyManifest) => void) => {
    const m = manifest();
    change(m);
    return checkZafPackage(new Map([...files, ['manifest.json', Buffer.from(JSON.stringify(m))]])).errors;
  };
  it.each([
    ['no author', (m: Record<string, unknown>) => delete m.author, /missing author/],
    ['a misspelt location', (m: AnyManifest) => (m.location.support.ticket_sidebr = m.location.support.ticket_sidebar), /ticket_sidebr is an invalid location/],
    ['a location file that is not in the zip', (m: AnyManifest) => (m.location.support.ticket_sidebar.url = 'assets/missing.html'), /invalid location URI/],
    ['an unknown secure scope', (m: AnyManifest) => (m.parameters[1].scopes = ['jwt_secret']), /scopes contains invalid values: jwt_secret/],
    ['a password parameter type', (m: AnyManifest) => (m.parameters[1].type = 'password'), /password is an invalid parameter type/],
    ['secure settings without domainWhitelist', (m: Record<string, unknown>) => delete m.domainWhitelist, /need domainWhitelist/],
    ['framework version 1.0', (m: Record<string, unknown>) => (m.frameworkVersion = '1.0'), /not served/],
  ])('%s', (_what, change, expected) => {
    expect(broken(change as (m: Record<string, unknown>) => void).join('\n')).toMatch(expected);
  });
  it('a nested manifest (the folder zipped instead of its contents)', () => {
    const nested = new Map([...files].map(([k, v]) => [`app/${k}`, v]));
    expect(checkZafPackage(nested).errors).toEqual(['manifest.json is nested in app/manifest.json: it must be at the root of the zip']);
  });
});
