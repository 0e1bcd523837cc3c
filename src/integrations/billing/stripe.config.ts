import { z } from 'zod';
import type { Config } from '../../config';
import { readJsonFile } from '../../config/files';
import { StripeBillingProvider } from './stripe.provider';

/** STRIPE_PRICE_MAP_FILE: `{ "<plan id>": { "<ISO currency>": "price_…" } }`. */
const PriceMapSchema = z.record(z.string(), z.record(z.string().regex(/^[A-Z]{3}$/), z.string().regex(/^price_\w+$/, 'expected a Stripe price id (price_…)')));

export type StripePriceMap = z.infer<typeof PriceMapSchema>;

export function readStripePriceMap(config: Config): StripePriceMap {
  const file = config.billing.stripePriceMapFile;
  return file ? PriceMapSchema.parse(readJsonFile(file, 'Stripe price map', 'STRIPE_PRICE_MAP_FILE')) : {};
}

/** Stripe price id → the catalog plan it bills (null for prices outside the map: add-ons). */
export function planOfPrice(priceIds: StripePriceMap): (priceId: string) => string | null {
  const byPrice = new Map(Object.entries(priceIds).flatMap(([plan, byCurrency]) => Object.values(byCurrency).map((price) => [price, plan] as const)));
  return (priceId) => byPrice.get(priceId) ?? null;
}

export function stripeProviderFromConfig(config: Config): StripeBillingProvider {
  const priceIds = readStripePriceMap(config);
  const url = config.billing.stripeApiUrl ? new URL(config.billing.stripeApiUrl) : null;
  return new StripeBillingProvider({
    apiKey: config.billing.stripeApiKey!,
    priceIds,
    ...(url
      ? {
          host: url.hostname,
          port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
          protocol: url.protocol === 'http:' ? ('http' as const) : ('https' as const),
        }
      : {}),
  });
}
