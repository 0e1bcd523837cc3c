import { loadConfig } from './src/config';
import { migrationSource } from './migrations';

/** For the knex CLI (`npx knex migrate:status`), as the owner; the service itself migrates through `lifecycle-desk migrate`. */
const config = loadConfig();
export default {
  client: 'pg',
  connection: config.migrateDatabaseUrl,
  migrations: { migrationSource },
};
