import { crashSuite } from '../helpers/crash-run';
import { PrivateRedis } from '../helpers/redis';

/**
 * Crash tests: the worker process (relay + job workers) is killed with SIGKILL at random moments
 * while billing and email jobs run and while new records are being committed, and Redis is
 * restarted (losing every queued job) mid-run. Nothing may be lost or done twice: every approved
 * record ends confirmed, the billing system applied exactly one adjustment per record under one
 * key, and the SMTP server received exactly one email per record and outcome. The same run on a
 * Redis Cluster: crash-cluster.test.ts.
 */
crashSuite({ redis: () => PrivateRedis.start() });
