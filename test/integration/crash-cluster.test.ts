import { crashSuite } from '../helpers/crash-run';
import { RedisCluster } from '../helpers/redis-cluster';

/**
 * The crash test (crash.test.ts, 20 SIGKILLs here) on a local three-master Redis Cluster, with REDIS_CLUSTER=true
 * and a hash-tagged queue prefix: two worker processes (one killed again and again, one left
 * alone), and every node of the cluster restarted half-way (all keys lost, the slots kept).
 */
crashSuite({
  cluster: true,
  // Fewer kills than on one Redis (CRASH_KILLS overrides both): what is new here is the cluster.
  kills: 20,
  redis: async () => {
    const c = await RedisCluster.start();
    return { url: c.url, restart: () => c.restart(), stop: () => c.destroy() };
  },
});
