import { z } from 'zod';

/** A missing body (Fastify hands the schema null) reads as an empty one, so each required field is named. */
export const orEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => v ?? {}, schema);

/** `:id` of a record route. */
export const RecordParams = z.object({ id: z.string() });
