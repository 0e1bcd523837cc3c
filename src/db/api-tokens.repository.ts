import type { Knex } from 'knex';
import type { ApiTokenInfo, ApiTokenStore } from '../app/api-tokens';
import type { Role } from '../records/access';
import type { AuditEventDraft } from '../records/audit';
import { AppError } from '../records/errors';
import { KnexAuditAppender } from './audit.repository';

interface TokenRow {
  id: string;
  name: string;
  role: string;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

const COLUMNS = ['id', 'name', 'role', 'created_by', 'created_at', 'expires_at', 'revoked_at', 'revoked_by'];
const iso = (d: Date | null) => (d === null ? null : d.toISOString());
const fromRow = (r: TokenRow): ApiTokenInfo => ({
  id: r.id,
  name: r.name,
  role: r.role as Role,
  created_by: r.created_by,
  created_at: r.created_at.toISOString(),
  expires_at: iso(r.expires_at),
  revoked_at: iso(r.revoked_at),
  revoked_by: r.revoked_by,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** api_tokens (migrations/…_create_api_tokens): hashes only; revoked rows stay. */
export class KnexApiTokenStore implements ApiTokenStore {
  constructor(private readonly db: Knex) {}

  async insert(token: ApiTokenInfo & { readonly token_hash: string }, event: AuditEventDraft): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('api_tokens')
        .insert(token)
        .catch((err: { code?: string; constraint?: string }) => {
          if (err.code === '23505' && err.constraint === 'api_tokens_live_name') {
            throw new AppError('conflict', `A live token is already named "${token.name}"; revoke it first or choose another name`);
          }
          throw err;
        });
      await new KnexAuditAppender(trx).append([event]);
    });
  }

  async findByHash(hash: string): Promise<ApiTokenInfo | null> {
    const row = (await this.db('api_tokens').select(COLUMNS).where({ token_hash: hash }).first()) as TokenRow | undefined;
    return row ? fromRow(row) : null;
  }

  async revoke(idOrName: string, by: string, at: string, event: (t: ApiTokenInfo) => AuditEventDraft): Promise<ApiTokenInfo | null> {
    return this.db.transaction(async (trx) => {
      const q = trx('api_tokens').whereNull('revoked_at');
      const row = (await (UUID.test(idOrName) ? q.where({ id: idOrName }) : q.where({ name: idOrName })).forUpdate().first(COLUMNS)) as TokenRow | undefined;
      if (!row) return null;
      const updated = (await trx('api_tokens')
        .where({ id: row.id })
        .update({ revoked_at: new Date(at), revoked_by: by })
        .returning(COLUMNS)) as TokenRow[];
      const info = fromRow(updated[0]!);
      await new KnexAuditAppender(trx).append([event(info)]);
      return info;
    });
  }

  async list(): Promise<ApiTokenInfo[]> {
    return (
      (await this.db('api_tokens')
        .select(COLUMNS)
        .orderBy([{ column: 'created_at' }, { column: 'name' }])) as TokenRow[]
    ).map(fromRow);
  }
}
