import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { missingSettings } from '../../src/main';
import { parseZafRoleMap } from '../../src/integrations/zendesk/zaf-directory';
import { AppError } from '../../src/records/errors';

const SECRET = 'a'.repeat(32);

it('ZAF_SHARED_SECRET: at least 32 characters, two while rotating, never echoed', () => {
  expect(loadConfig({ ZAF_SHARED_SECRET: `${SECRET}, ${'b'.repeat(40)}` }).zaf.sharedSecrets).toEqual([SECRET, 'b'.repeat(40)]);
  expect(loadConfig({}).zaf.sharedSecrets).toEqual([]);
  for (const bad of ['short-secret', `${SECRET},${SECRET},${SECRET}`]) {
    let err: unknown;
    try {
      loadConfig({ ZAF_SHARED_SECRET: bad });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/ZAF_SHARED_SECRET: expected/);
    expect((err as Error).message).not.toContain(bad);
  }
});

it('the sidebar API needs the Zendesk subdomain and API credentials on the web side', () => {
  const base = { ZENDESK_WEBHOOK_SECRET: 'z', SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'x' };
  expect(missingSettings(loadConfig(base), true, false)).toEqual([]);
  expect(missingSettings(loadConfig({ ...base, ZAF_SHARED_SECRET: SECRET }), true, false)).toEqual(['ZENDESK_SUBDOMAIN', 'ZENDESK_EMAIL', 'ZENDESK_API_TOKEN']);
  expect(
    missingSettings(
      loadConfig({ ...base, ZAF_SHARED_SECRET: SECRET, ZENDESK_SUBDOMAIN: 'acme', ZENDESK_EMAIL: 'e@x.example', ZENDESK_API_TOKEN: 't' }),
      true,
      false,
    ),
  ).toEqual([]);
});

it('the example roles file is valid; a wrong role is refused naming the field', () => {
  const file = path.resolve(__dirname, '../../config/zaf-roles.example.json');
  expect(parseZafRoleMap(JSON.parse(fs.readFileSync(file, 'utf8')), file)).toMatchObject({ roles: { agent: 'agent', admin: 'admin' } });
  expect(() => parseZafRoleMap({ roles: { agent: 'root' } }, 'roles.json')).toThrow(AppError);
  expect(() => parseZafRoleMap({ custom_roles: { lead: 'supervisor' } }, 'roles.json')).toThrow(/custom_roles\.lead: expected a numeric custom role id/);
});
