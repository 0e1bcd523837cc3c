import { zendeskBaseUrl, zendeskTicketUrl } from '../../src/integrations/zendesk/zendesk.client';

it('links agents to the ticket in their Zendesk, whatever API URL the service itself uses', () => {
  expect(zendeskTicketUrl('acme')('4242')).toBe('https://acme.zendesk.com/agent/tickets/4242');
  expect(zendeskTicketUrl('Acme.zendesk.com')('7')).toBe('https://acme.zendesk.com/agent/tickets/7');
  // The API may go through a proxy or a local stand-in; the link never does.
  expect(zendeskBaseUrl('acme', 'http://127.0.0.1:4010')).toBe('http://127.0.0.1:4010/api/v2');
  expect(zendeskTicketUrl('acme')('1')).not.toContain('127.0.0.1');
});

it('gives no link without a usable subdomain', () => {
  expect(zendeskTicketUrl(undefined)('1')).toBeNull();
  expect(zendeskTicketUrl('evil.example/x?')('1')).toBeNull();
  expect(zendeskTicketUrl('')('1')).toBeNull();
});
